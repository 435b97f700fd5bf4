"""The LSH index against the session's real Redis: finds copies, ignores the unrelated, atomic and idempotent."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.client import NEVER_DECODE

from services.common.fingerprint import sketch
from services.common.keys import Keys
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.store.dedup import CopyRules, estimated_jaccard, judge_copy
from services.store.lsh import LshIndex, unpack_id, verify_copies

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def thresholds(settings: Settings) -> CopyRules:
    """The copy thresholds the store runs with."""
    return CopyRules.of(settings)


def text(seed: int, words: int = 400) -> str:
    """A random text over a large vocabulary: unrelated texts share almost no 5-word shingle."""
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(50_000)}" for _ in range(words))


def edited(base: str, seed: int, rate: float = 0.02) -> str:
    """`base` with about `rate` of its words replaced: a lightly edited re-post."""
    rng = random.Random(seed)
    return " ".join(f"x{rng.randrange(10**6)}" if rng.random() < rate else w for w in base.split())


async def test_near_duplicate_found_unrelated_not(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        index = LshIndex(redis, Keys(settings.key_prefix), window_hours=settings.copy_window_hours)
        original = text(1)
        assert await index.insert_and_query("orig", sketch(original), at=T0) == []
        assert await index.insert_and_query("other", sketch(text(2)), at=T0 + 60) == []
        found = await index.insert_and_query("copy", sketch(edited(original, 3)), at=T0 + 120)
        assert found == ["orig"]
        stored = await index.sketches(["orig", "copy", "missing"])
        assert set(stored) == {"orig", "copy"}
        assert stored["orig"] == sketch(original)
        assert judge_copy(stored["copy"], stored["orig"], thresholds(settings)) is not None
        second = sketch(edited(original, 4))
        candidates = await index.insert_and_query("copy2", second, at=T0 + 180)
        copies = verify_copies(second, candidates, await index.sketches(candidates), thresholds(settings))
        assert {cid for cid, _ in copies} == {"orig", "copy"}


async def test_trimmed_repost_found_through_its_lead(settings: Settings) -> None:
    """Re-posts keeping the first 35 % of a story plus furniture: their body Jaccard (~0.3) makes them a body-band
    candidate only ~30 % of the time; the lead's bands find every one, and the verdict is the lead rule."""
    original = text(40, words=1000)
    rules = thresholds(settings)
    async with open_redis(settings) as redis:
        index = LshIndex(redis, Keys(settings.key_prefix), window_hours=settings.copy_window_hours)
        await index.insert_and_query("orig", sketch(original), at=T0)
        for n in range(10):
            furniture = text(1000 + n, words=120)  # the re-posting outlet's own lines
            repost = sketch(" ".join(original.split()[:350]) + " " + furniture)
            assert estimated_jaccard(repost, sketch(original)) < rules.min_jaccard
            found = await index.insert_and_query(f"trim{n}", repost, at=T0 + 60 * (n + 1))
            assert "orig" in found
            verdicts = dict(verify_copies(repost, ["orig"], await index.sketches(["orig"]), rules))
            assert verdicts["orig"].rule == "lead"
        # An unrelated article sharing nothing still finds nothing.
        assert await index.insert_and_query("other", sketch(text(41)), at=T0 + 3600) == []


async def test_reinsert_is_idempotent(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        index = LshIndex(redis, keys, window_hours=settings.copy_window_hours)
        base = text(10)
        await index.insert_and_query("a", sketch(base), at=T0)
        first = await index.insert_and_query("b", sketch(edited(base, 11)), at=T0 + 1)
        await index.insert_and_query("c", sketch(edited(base, 12)), at=T0 + 2)
        buckets = f"{keys.lsh_packed_bucket_prefix}*"
        before = {k: await raw_hash(redis, k) async for k in redis.scan_iter(match=buckets)}
        again = await index.insert_and_query("b", sketch(edited(base, 11)), at=T0 + 1)
        after = {k: await raw_hash(redis, k) async for k in redis.scan_iter(match=buckets)}
        assert first == again == ["a"]  # a replay gets its first answer: not "c", which came later
        assert before == after and after
        for members in after[next(iter(after))].values():
            ids = entries(members)
            assert len(ids) == len(set(ids)) and set(ids) <= {"a", "b", "c"}


async def raw_hash(redis: Redis, key: str) -> dict[bytes, bytes]:
    """A bucket as stored (binary fields and packed ids)."""
    return dict(await redis.execute_command("HGETALL", key, **{NEVER_DECODE: True}))  # type: ignore[no-untyped-call]


def entries(members: bytes) -> list[str]:
    """The ids of a bucket field's packed entries."""
    out, i = [], 0
    while i < len(members):
        n = members[i] & 0x7F
        out.append(unpack_id(members[i:i + n + 1]))
        i += n + 1
    return out


async def test_an_index_of_the_earlier_layout_is_still_found_and_forgotten(settings: Settings) -> None:
    # An older data dir: hex fields, space-joined plain ids, ASCII sketches under `{lsh}:b:` and `{lsh}:epoch:`.
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        index = LshIndex(redis, keys, window_hours=settings.copy_window_hours)
        base = text(30)
        old = sketch(base)
        epoch = index.epoch(T0)
        for band, (bucket, field) in enumerate(index._bands(old)):
            await redis.hset(keys.lsh_bucket(epoch, band, bucket), field, "x0 oldarticle")
        await redis.set(keys.lsh_epoch_prefix + str(epoch), "1")
        await redis.set(keys.lsh_sketch("oldarticle"), old.encode())
        found = await index.insert_and_query("new1", sketch(edited(base, 31)), at=T0 + 60)
        assert sorted(found) == ["oldarticle", "x0"]
        assert (await index.sketches(["oldarticle"]))["oldarticle"] == old
        assert sorted(await index.insert_and_query("new2", sketch(edited(base, 32)), at=T0 + 120)) == [
            "new1", "oldarticle", "x0"]
        assert await index.forget("oldarticle", at=T0)
        assert sorted(await index.insert_and_query("new3", sketch(edited(base, 33)), at=T0 + 180)) == [
            "new1", "new2", "x0"]
        assert await index.forget("new1", at=T0 + 60)
        assert sorted(await index.insert_and_query("new4", sketch(edited(base, 34)), at=T0 + 240)) == [
            "new2", "new3", "x0"]


async def test_forget_and_retention(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        index = LshIndex(redis, keys, window_hours=24)
        base = text(20)
        await index.insert_and_query("a", sketch(base), at=T0)
        assert await index.forget("a", at=T0)
        assert not await index.forget("a", at=T0)
        assert await index.insert_and_query("b", sketch(base), at=T0) == []
        # Far outside the window (3 epochs later): not a candidate.
        assert await index.insert_and_query("c", sketch(base), at=T0 + 3 * 86_400) == []
        # Within one window, across an epoch boundary: found.
        assert await index.insert_and_query("d", sketch(base), at=T0 + 3 * 86_400 + 80_000) == ["c"]
        # Arriving late, dated in c's epoch: meets c and d, which is in the next epoch.
        late, c_at, d_at = T0 + 3 * 86_400 + 5_000, T0 + 3 * 86_400, T0 + 3 * 86_400 + 80_000
        assert index.epoch(late) == index.epoch(c_at) < index.epoch(d_at)
        assert sorted(await index.insert_and_query("f", sketch(base), at=late)) == ["c", "d"]
        ttl = await redis.ttl(keys.lsh_sketch("b"))
        assert 0 < ttl <= round(2.2 * 86_400)


async def test_concurrent_near_identical_always_meet(settings: Settings) -> None:
    """20 near-identical articles at once, each on its own connection: all but the first see an earlier one."""
    base = text(30, words=600)
    sketches = [sketch(edited(base, 100 + i, rate=0.01)) for i in range(20)]
    async with open_redis(settings) as redis:
        index = LshIndex(redis, Keys(settings.key_prefix), window_hours=settings.copy_window_hours)
        results = await asyncio.gather(*(index.insert_and_query(f"n{i}", sk, at=T0 + i)
                                         for i, sk in enumerate(sketches)))
    empty = [i for i, found in enumerate(results) if not found]
    assert len(empty) == 1, results
    # Someone was first; everyone else saw at least one of those inserted before it, and never itself.
    assert all(f"n{i}" not in found for i, found in enumerate(results))
    # "Saw" is an order: never both a-saw-b and b-saw-a (each insert happened at one instant).
    saw = {(f"n{i}", m) for i, found in enumerate(results) for m in found}
    assert not any((b, a) in saw for a, b in saw)
