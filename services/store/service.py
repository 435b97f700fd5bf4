"""Store: Article -> stored article in a story -> StoryEvent.

Consumes `articles`; each partition's poll is placed in stories by services.store.placement
(copies linked, articles and stories written in one Redis transaction per chunk); then a
StoryEvent (key: story id) goes out per article and per merge, and the fetcher's ledger is settled.

Idempotent and resumable: after the work for a record is done the partition's
high-water offset is raised in Redis; records at or below it are skipped, and
on assignment the consumer seeks just past it, so a replay from offset 0
changes nothing and a write lost in a Redis crash is read again from Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.common import metrics
from services.common.bus import Bus, Delivery
from services.common.keys import Keys
from services.common.ledger import EventOutbox, Ledger
from services.common.lifecycle import every, heartbeat
from services.common.logging import get_logger
from services.common.messages import Article, StoryArticle, StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, STORY_EVENTS
from services.store.compression import Codec
from services.store.gc_policy import FullCollections
from services.store.placement import Placed, Placer
from services.store.repository import Repository, StoredArticle, StoredStory

log = get_logger(__name__)
#: Seconds between trims of the latest-first indexes (entries past retention only cost a little memory).
TRIM_EVERY_S = 600.0


async def main(settings: Settings, stop: asyncio.Event) -> None:
    """Run the store until `stop` is set."""
    keys = Keys(settings.key_prefix)
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis(settings))
        bus = await stack.enter_async_context(Bus(settings, client_id="wirewatch-store"))
        repo = Repository(redis, keys, retention_s=settings.retention_days * 86400,
                          window_s=settings.cluster_window_hours * 3600,
                          codec=Codec.for_store(redis, keys, settings))
        placer = Placer(settings, repo)
        # Closed in reverse, before the clients, even when a task below fails.
        stack.push_async_callback(close_placer, placer)
        collections = FullCollections()
        collections.install()
        stack.callback(collections.uninstall)
        handle_poll = partial(handle_batch, placer=placer, bus=bus, ledger=Ledger.from_settings(redis, keys, settings),
                              collections=collections, outbox=EventOutbox(redis, keys))
        log.info("service.started", service="store")
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "store", stop, ready))
            tasks.create_task(every(TRIM_EVERY_S, stop, partial(trim, repo), failed="store.trim_failed"))
            tasks.create_task(bus.consume(
                ARTICLES, group="store", stage="store", handle_batch=handle_poll,
                # One record as a batch of one: what the bus falls back to when a batch failed.
                handle=lambda article, delivery: handle_poll([(article, delivery)]),
                max_records=settings.store_batch_size, stop=stop, ready=ready,
                on_assign=partial(seek_past_high_water, repo=repo, settings=settings),
            ))
    log.info("service.stopped", service="store")


async def handle_batch(items: Sequence[tuple[Article, Delivery]], *, placer: Placer, bus: Bus, ledger: Ledger,
                       collections: FullCollections, outbox: EventOutbox | None = None) -> None:
    """Store a partition's batch (idempotent), publish the story events, then mark the offsets done."""
    if not items:
        return
    first = items[0][1]
    hw = await placer.repo.high_water(first.topic, first.partition)
    # Records at or below the mark were done before: a replay (the mark was checked against the log on assignment).
    todo = [(a, d) for a, d in items if hw is None or d.offset > hw.offset]
    if not todo:
        return
    placed = await placer.ingest_many([a for a, _ in todo])
    collections.run_if_due()  # between batches: a full collection of the story cache takes a while
    # Re-published when a crash came between the write and the events: consumers dedup on (story id, article id, kind).
    events = story_events(placed)
    if outbox is not None:
        # Kept in Redis until the notifier has them: the broker may lose them (services.common.ledger).
        await outbox.add_many([e for _, e in events])
    await bus.publish_many(STORY_EVENTS, events)
    published = datetime.now(UTC)
    for p in placed:
        metrics.count_stored(fetched_at=p.stored.fetched_at, stored_at=p.stored.stored_at, published_at=published,
                             revision=p.stored.revision)
    for _, event in events:
        metrics.STORY_EVENTS.labels(event.kind).inc()
    await ledger.settle_many([a.url for a, _ in todo])
    last_article, last = todo[-1]
    await placer.repo.raise_high_water(last.topic, last.partition, last.offset, last_article.id)


def story_events(placed: Sequence[Placed]) -> list[tuple[str, StoryEvent]]:
    """(key, event) for each placed article, and for each story an article merged away."""
    events: list[tuple[str, StoryEvent]] = []
    for p in placed:
        events.append((p.story.id, story_event(p.kind, p.story, p.stored)))
        for absorbed in p.stored.joined.merged_clusters:
            # Keyed by the merged-away id, so its followers see where the story went.
            events.append((absorbed, story_event("merged", p.story, p.stored, absorbed)))
    return events


def story_event(kind: str, story: StoredStory, article: StoredArticle,
                merged_away: str | None = None) -> StoryEvent:
    """The event announcing that `article` created or joined `story` (or merged `merged_away` into it)."""
    return StoryEvent(
        kind="merged" if merged_away else ("created" if kind == "created" else "updated"),
        cluster_id=merged_away or story.id,
        merged_into=story.id if merged_away else None,
        article_id=article.id,
        title=story.title,
        size=story.size,
        outlets=story.outlets,
        entities=list(story.entities),  # every entity the summary keeps: subscriptions match on them
        independent_outlets=len(story.independent_outlets),
        copies=story.copies,
        article_copy_of=article.copy_of,
        article=StoryArticle(id=article.id, title=article.title, url=article.url, outlet=article.outlet,
                             language=article.language, published_at=article.published_at, text=article.text),
        at=datetime.now(UTC),
    )


async def seek_past_high_water(consumer: AIOKafkaConsumer, assigned: set[TopicPartition], *, repo: Repository,
                               settings: Settings) -> None:
    """On assignment, resume just after the last finished record recorded in Redis.

    The mark is trusted only if the log still holds that record at that offset:
    the embedded broker forgets its log on restart and reuses offsets, and then
    its new records are new work. (End offsets cannot tell: Tansu under-reports them.)
    """
    async def resume(tp: TopicPartition) -> None:
        hw = await repo.high_water(tp.topic, tp.partition)
        if hw is None:
            return
        if await record_key_at(settings, tp, hw.offset) == hw.key:
            consumer.seek(tp, hw.offset + 1)
        else:
            log.warning("store.high_water_reset", partition=tp.partition, high_water=hw.offset)
            await repo.forget_high_water(tp.topic, tp.partition)
            # The group's position may still be the old life's (a member committed it into the new one before
            # it noticed): resuming there would skip this life's first records, so start the partition over.
            await consumer.seek_to_beginning(tp)

    # Side by side: a log that lost the record costs a read deadline per partition, and a rebalance callback
    # that runs past the group's patience leaves partitions with no consumer (seen after a broker restart).
    await asyncio.gather(*(resume(tp) for tp in assigned))


async def record_key_at(settings: Settings, tp: TopicPartition, offset: int) -> str | None:
    """The key of the record at `offset` of a partition, or None if the log has no such record."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                              auto_offset_reset="none", client_id="wirewatch-store-check")
    async with asyncio.timeout(settings.send_timeout_s):
        await reader.start()
    try:
        reader.assign([tp])
        reader.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + 3
        while asyncio.get_running_loop().time() < deadline:
            try:
                batch = await reader.getmany(tp, timeout_ms=500, max_records=1)
            except KafkaError:
                return None  # offset out of range: the log is shorter than the mark
            for record in batch.get(tp, []):
                if record.offset == offset:
                    return record.key.decode("utf-8", "replace") if record.key is not None else None
                return None
        return None
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(settings.shutdown_grace_s):
                await reader.stop()


async def trim(repo: Repository) -> None:
    """Keep the latest-first indexes to the retention period (one trim)."""
    removed = await repo.trim(time.time())
    if removed:
        log.info("store.trimmed", entries=removed)


async def close_placer(placer: Placer) -> None:
    """Persist the placer's in-memory state; a failure only loses the last seconds of statistics."""
    try:
        await placer.close()
    except Exception as exc:  # noqa: BLE001 - statistics only: losing the last seconds of counts is harmless
        log.warning("store.close_failed", error=repr(exc))
