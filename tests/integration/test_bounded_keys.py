"""Redis stays bounded: every key the store, the notifier and the alias table write either expires or belongs
to a family something else keeps small (a cap, a trim to the retention, the alias table's sweep)."""

from __future__ import annotations

import re

import pytest

from benchmarks.footprint import run, stream
from services.common.redis import open_redis
from services.common.settings import Settings

pytestmark = pytest.mark.integration

#: Key families (after the prefix) written without a TTL, and what bounds each.
BOUNDED = {
    r"\{entities\}:entity:.*": "the alias table: the extractor forgets entities unnamed for the retention",
    r"\{store\}:(articles|clusters):recent": "latest-first indexes: the store trims them to the retention",
    r"\{store\}:stats:.*": "the IDF block: a fixed number of buckets",
    r"\{store\}:zdict(-current)?": "the compression dictionaries: one per kind and training",
    r"stream:story-events": "the live stream: capped to its last entries",
    r"\{wh\}:log:.*": "a subscription's delivery log: a capped list",
    r"alerted:.*": "a subscription's feed: capped by count",
    r"\{subs\}:.*": "the subscriptions themselves: what users create",
}


async def test_every_key_written_expires_or_belongs_to_a_bounded_family(settings: Settings) -> None:
    articles, _ = stream(150, 60.0, None)
    await run(settings, articles, notifier=True)

    unbounded: dict[str, int] = {}
    bounded: set[str] = set()
    async with open_redis(settings) as redis:
        async for raw in redis.scan_iter(match=f"{settings.key_prefix}*", count=1000):
            key = str(raw)
            if await redis.ttl(key) != -1:
                continue
            family = key.removeprefix(settings.key_prefix)
            pattern = next((p for p in BOUNDED if re.fullmatch(p, family)), None)
            if pattern is None:
                unbounded[family] = unbounded.get(family, 0) + 1
            else:
                bounded.add(pattern)
    assert not unbounded, f"keys without a TTL in no bounded family: {sorted(unbounded)[:20]}"
    # the run wrote what the families are about: the check looked at real keys
    assert {r"\{entities\}:entity:.*", r"\{store\}:(articles|clusters):recent", r"stream:story-events"} <= bounded
