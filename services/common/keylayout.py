"""Renames the keys of a data dir written before the Redis Cluster hash tags (layout 1) to their tagged names.

Layout 2 put each multi-key domain under one hash tag (services.common.keys): `<prefix>article:x` became
`<prefix>{store}:article:x`, and so on (`keys.LEGACY_TAGS`). `open_redis` calls `upgrade` before a
process uses the client, so `wirewatch up` on an old data dir finds its feeds, articles and stories where
it now looks. A data dir is in layout 1 while one of a few keys that any used system has (its feeds, its
stories, ...) exists under its old name; they are renamed last, so an upgrade cut short is taken up again
by the next process. Concurrent starts are serialised by a lock key; the others wait for it to go.
Only a single-node Redis can hold layout 1 (its scripts fail on a cluster), so a cluster client skips this.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from redis import exceptions as redis_errors

from services.common.keys import LEGACY_TAGS, Keys
from services.common.logging import get_logger

if TYPE_CHECKING:  # services.common.redis calls upgrade() from open_redis
    from services.common.redis import Redis

log = get_logger(__name__)

#: Old names that any system that ran has (feeds registered, something stored): their presence = layout 1.
SENTINELS = ("feeds", "feeds:due", "articles:recent", "clusters:recent", "stats:df-documents", "entity:names")
LOCK_TTL_S = 600
SCAN_COUNT = 1000


def tagged_name(key: str, prefix: str) -> str | None:
    """The layout-2 name of the layout-1 key `key`, or None if it is not one (already tagged, or not ours)."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix):]
    if rest.startswith("{"):
        return None
    for old, tag in LEGACY_TAGS.items():
        if rest == old or (old.endswith(":") and rest.startswith(old)):
            return f"{prefix}{{{tag}}}:{rest}"
    return None


async def upgrade(redis: Redis, keys: Keys) -> int:
    """Rename layout-1 keys under `keys.prefix` to their tagged names; returns how many were renamed."""
    sentinels = [keys.prefix + s for s in SENTINELS]
    lock = f"{keys.prefix}keylayout:upgrading"
    if not await redis.exists(*sentinels, lock):
        return 0
    while not await redis.set(lock, str(time.time()), nx=True, ex=LOCK_TTL_S):
        await asyncio.sleep(0.2)  # another process upgrades: wait until it is done
        if not await redis.exists(lock):
            return 0
    try:
        started = time.monotonic()
        renamed = 0
        last: list[tuple[str, str]] = []
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", keys.prefix) + "*"
        batch: list[tuple[str, str]] = []
        async for key in redis.scan_iter(match=pattern, count=SCAN_COUNT):
            new = tagged_name(str(key), keys.prefix)
            if new is None:
                continue
            (last if str(key) in sentinels else batch).append((str(key), new))
            if len(batch) >= SCAN_COUNT:
                renamed += await _rename(redis, batch)
                batch = []
        renamed += await _rename(redis, batch) + await _rename(redis, last)
        log.warning("keylayout.upgraded", renamed=renamed, prefix=keys.prefix,
                    seconds=round(time.monotonic() - started, 2))
        return renamed
    finally:
        await redis.delete(lock)


async def _rename(redis: Redis, pairs: list[tuple[str, str]]) -> int:
    """RENAMENX each pair (a key already under its new name is kept); returns how many moved."""
    if not pairs:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for old, new in pairs:
            pipe.renamenx(old, new)
        results = await pipe.execute(raise_on_error=False)
    moved = 0
    for (old, new), result in zip(pairs, results, strict=True):
        if isinstance(result, redis_errors.ResponseError):
            continue  # gone meanwhile (another upgrader moved it)
        if result:
            moved += 1
        else:
            log.warning("keylayout.kept_new", old=old, new=new)
    return moved
