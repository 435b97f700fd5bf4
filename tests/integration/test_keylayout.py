"""A data dir written before the hash tags (layout 1) is renamed on first connect, and then read as usual."""

from __future__ import annotations

import asyncio

import pytest

from services.common.keylayout import upgrade
from services.common.keys import Keys
from services.common.redis import connect, is_cluster, open_redis
from services.common.settings import Settings

pytestmark = pytest.mark.integration


async def test_an_old_data_dir_is_renamed_to_the_tagged_layout_once(settings: Settings) -> None:
    raw = connect(settings.required_redis_url)
    if is_cluster(raw):
        await raw.aclose()
        pytest.skip("layout 1 only ever existed on a single node")
    p = settings.key_prefix
    keys = Keys(p)
    try:
        # What a wirewatch before the tags wrote: a registered feed, a stored article and its index entry.
        await raw.hset(f"{p}feeds", "f1", '{"id": "f1"}')
        await raw.zadd(f"{p}feeds:due", {"f1": 1.0})
        await raw.set(f"{p}article:a1", "{}")
        await raw.zadd(f"{p}articles:recent", {"a1": 2.0})
        await raw.set(f"{p}seen:0123", "1")
        await raw.set(f"{p}websub:f1", "{}")  # never tagged: left alone
        await raw.set(f"{p}{{lsh}}:sig:a1", "x")  # tagged already: left alone

        async with open_redis(settings) as redis:
            assert await redis.hget(keys.feeds, "f1") == '{"id": "f1"}'
            assert await redis.zscore(keys.feeds_due, "f1") == 1.0
            assert await redis.get(keys.article("a1")) == "{}"
            assert await redis.zscore(keys.articles_recent, "a1") == 2.0
            assert await redis.get(f"{p}{{ledger}}:seen:0123") == "1"
            assert await redis.get(f"{p}websub:f1") == "{}"
            assert await redis.get(f"{p}{{lsh}}:sig:a1") == "x"
            assert not await redis.exists(f"{p}feeds", f"{p}article:a1", f"{p}articles:recent")
            assert await upgrade(redis, keys) == 0  # done once
    finally:
        await raw.aclose()


async def test_concurrent_first_connects_rename_each_key_once(settings: Settings) -> None:
    raw = connect(settings.required_redis_url)
    if is_cluster(raw):
        await raw.aclose()
        pytest.skip("layout 1 only ever existed on a single node")
    p = settings.key_prefix
    try:
        for i in range(300):
            await raw.set(f"{p}article:a{i}", str(i))
        await raw.zadd(f"{p}clusters:recent", {"c1": 1.0})
        keys = Keys(p)
        clients = [connect(settings.required_redis_url) for _ in range(3)]
        counts = await asyncio.gather(*(upgrade(c, keys) for c in clients))
        for c in clients:
            await c.aclose()
        assert sum(counts) == 301
        assert [await raw.get(keys.article(f"a{i}")) for i in range(300)] == [str(i) for i in range(300)]
    finally:
        await raw.aclose()
