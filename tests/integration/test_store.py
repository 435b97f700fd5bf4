"""The store against a real broker and Redis: restart without loss or duplicates, poison to dead letters."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from redis.client import NEVER_DECODE

from services.common.bus import Bus
from services.common.keys import Keys
from services.common.messages import Article, DeadLetter, Entity, article_id
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, DEAD_LETTERS
from services.store import service as store
from services.store.placement import Placer
from services.store.repository import Repository
from tests.support.running import read_topic, running, wait_for

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

STORIES = ["volcano", "election", "merger", "flood", "strike", "trial"]


def synthetic_article(story: int, n: int) -> Article:
    """An article of story `story`: shared story vocabulary and entity, its own filler words."""
    rng = random.Random(story * 1000 + n)
    topic = STORIES[story]
    vocab = [f"{topic}{i}" for i in range(12)]
    filler = [f"w{rng.randrange(10_000)}" for _ in range(60)]
    words = [rng.choice(vocab) if i % 2 else filler[i % 60] for i in range(160)]
    url = f"https://outlet{n % 4}.example/{topic}/{n}"
    return Article(
        id=article_id(url), url=url, outlet=f"outlet{n % 4}.example", title=f"{topic.title()} update {n}",
        text=" ".join(words), language="en",
        published_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=story * 10 + n),
        entities=[Entity(key=f"gpe:{topic}land", name=f"{topic.title()}land", type="GPE", count=3,
                         first_position=0)],
        fetched_at=datetime.now(UTC),
    )


async def stored_state(settings: Settings) -> tuple[int, list[str]]:
    """(articles stored, member ids over all clusters)."""
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        stats = await repo.stats()
        stories = await repo.stories([c for c, _ in await repo.recent_stories(limit=10_000)])
        return stats["articles"], [m.id for c in stories for m in c.members]


def service_env(settings: Settings) -> dict[str, str]:
    """Environment that makes `wirewatch store` use this test's broker, Redis and namespace."""
    return {**os.environ, "KAFKA_BOOTSTRAP": settings.bootstrap, "REDIS_URL": settings.required_redis_url,
            "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix, "WIREWATCH_KEY_PREFIX": settings.key_prefix,
            "WIREWATCH_LOG_JSON": "true", "WIREWATCH_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms)}


async def test_store_killed_mid_stream_loses_nothing_and_stores_nothing_twice(settings: Settings) -> None:
    articles = [synthetic_article(s, n) for n in range(100) for s in range(len(STORIES))]
    async with Bus(settings, client_id="test") as bus:
        for article in articles:
            await bus.publish(ARTICLES, article.id, article)
        # Records delivered twice upstream must still be stored once.
        for article in articles[:5]:
            await bus.publish(ARTICLES, article.id, article)

    cmd = [sys.executable, "-m", "services.cli", "store"]
    # Small polls, so the store is still mid-stream when it is killed (it places hundreds a second).
    env = {**service_env(settings), "WIREWATCH_STORE_BATCH_SIZE": "10"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_for(lambda: _at_least(settings, 10), timeout=90, what="10 articles stored before the kill")
        proc.send_signal(signal.SIGKILL)  # a crash, not a drain
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    count_at_kill, _ = await stored_state(settings)
    assert count_at_kill < len(articles), "the store finished before it could be killed mid-stream"

    proc = subprocess.Popen(cmd, env=service_env(settings), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        await wait_for(lambda: _at_least(settings, len(articles)), timeout=120, what="every article stored")
        await asyncio.sleep(1.0)  # let anything that would be a duplicate arrive
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "SIGTERM must drain and exit cleanly"
    finally:
        if proc.poll() is None:
            proc.kill()

    count, members = await stored_state(settings)
    assert count == len(articles)
    assert sorted(members) == sorted(a.id for a in articles), "each article in exactly one cluster, once"
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        stories = await repo.stories([c for c, _ in await repo.recent_stories(limit=10_000)])
    by_story = {a.id: a.url.split("/")[3] for a in articles}
    for story in stories:
        assert len({by_story[m.id] for m in story.members}) == 1, "a cluster mixes two stories"
    assert sum(c.size for c in stories) == len(articles)


async def _at_least(settings: Settings, n: int) -> bool:
    count, _ = await stored_state(settings)
    return count >= n


async def test_poison_record_goes_to_dead_letters_and_the_stream_keeps_flowing(settings: Settings) -> None:
    good = synthetic_article(0, 1)
    poison = b"\xff\xfe\x00 not json at all"
    async with Bus(settings, client_id="test") as bus:
        await bus.publish_raw(bus.topic_name(ARTICLES), b"poison-key", poison)
        await bus.publish_raw(bus.topic_name(ARTICLES), b"wrong-schema", b'{"schema_version": 1, "id": 3}')
        await bus.publish(ARTICLES, good.id, good)
        async with running(store.main, settings):
            await wait_for(lambda: _at_least(settings, 1), timeout=60, what="the good article stored")
            # The records sit on different partitions: wait for both letters while the store runs.
            letters = await read_topic(settings.bootstrap, bus.topic_name(DEAD_LETTERS), at_least=2, timeout=30)

    decoded = [DeadLetter.model_validate_json(r.value) for r in letters]
    by_key = {d.key: d for d in decoded}
    assert set(by_key) == {"poison-key", "wrong-schema"}
    assert by_key["poison-key"].stage == "store"
    assert by_key["poison-key"].error_type == "InvalidMessage"
    assert base64.b64decode(by_key["poison-key"].payload_b64) == poison
    assert "Article" in by_key["wrong-schema"].error
    count, _ = await stored_state(settings)
    assert count == 1


async def test_replaying_the_articles_topic_changes_nothing(settings: Settings) -> None:
    articles = [synthetic_article(s, n) for n in range(3) for s in range(3)]
    stories = Keys(settings.key_prefix).story("*")
    async with Bus(settings, client_id="test") as bus:
        for article in articles:
            await bus.publish(ARTICLES, article.id, article)
        async with running(store.main, settings):
            await wait_for(lambda: _at_least(settings, len(articles)), timeout=60, what="articles stored")
        async with open_redis(settings) as redis:
            before = {k: await raw_hash(redis, k) async for k in redis.scan_iter(match=stories)}
        # A new consumer group reads the topic from offset 0 again.
        replay = settings.model_copy(update={"topic_prefix": settings.topic_prefix})
        async with open_redis(settings) as redis:
            async for key in redis.scan_iter(match=f"{settings.key_prefix}{{store}}:hw:*"):
                await redis.delete(key)
        for article in articles:
            await bus.publish(ARTICLES, article.id, article)
        async with running(store.main, replay):
            await asyncio.sleep(8)
    async with open_redis(settings) as redis:
        after = {k: await raw_hash(redis, k) async for k in redis.scan_iter(match=stories)}
    assert after == before
    count, members = await stored_state(settings)
    assert count == len(articles) and len(members) == len(articles)


async def raw_hash(redis: Redis, key: str) -> dict[bytes, bytes]:
    """A HASH as stored (a story's summary is zstd-compressed: not UTF-8)."""
    return dict(await redis.execute_command("HGETALL", key, **{NEVER_DECODE: True}))  # type: ignore[no-untyped-call]


async def test_a_failing_task_still_closes_the_placer_and_gives_the_collection_thresholds_back(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[bool] = []
    real_close = Placer.close

    async def close(self: Placer) -> None:
        closed.append(True)
        await real_close(self)

    async def failing_heartbeat(redis: Redis, keys: Keys, service: str, stop: asyncio.Event,
                                ready: asyncio.Event) -> None:
        await ready.wait()  # the consumer runs: the failure comes mid-work
        raise RuntimeError("Redis went away")

    monkeypatch.setattr(Placer, "close", close)
    monkeypatch.setattr(store, "heartbeat", failing_heartbeat)
    before = gc.get_threshold()
    with pytest.raises(ExceptionGroup):
        await store.main(settings, asyncio.Event())
    assert closed == [True], "the document-frequency increments were flushed"
    assert gc.get_threshold() == before, "automatic full collections are back"
