"""Which life of the broker is this? Tells at once when the broker restarted and lost its log.

The embedded broker keeps its log in memory only. After it restarts, everything in flight on it is
gone, and the ledgers in Redis (feed items pending since the fetcher emitted them, story events since
the store emitted them) must emit it again — at once, not after a grace period that must be long
enough never to fire on a merely slow pipeline.

The broker's life is named by the first record of a one-partition marker topic: whoever finds the topic
missing or empty writes a random id, and everyone reads the record at offset 0 (so racing writers agree
on the first). A broker that kept its log (Apache Kafka, Tansu on durable storage) keeps its id for
ever, so this never fires there; a memory-only broker comes back without the topic, and the next
reader writes a new id. Each role remembers in Redis the id it last saw; a different one means "re-emit
everything you hold" (`IncarnationWatch.changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis
from services.common.settings import Settings
from services.common.topics import TopicSpec, ensure_all, ensure_topics

log = get_logger(__name__)
#: The marker topic, under the topic prefix. Not a data topic: one record per broker life.
TOPIC = "incarnation"
#: Seconds between two looks at the broker's incarnation.
CHECK_EVERY_S = 2.0


def topic_name(settings: Settings) -> str:
    """The marker topic's name on the broker."""
    return f"{settings.topic_prefix}{TOPIC}"


async def _first_record(settings: Settings, name: str) -> str | None:
    """The value at offset 0 of the marker topic, or None when the topic is empty."""
    tp = TopicPartition(name, 0)
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                              auto_offset_reset="earliest", client_id="wirewatch-incarnation")
    async with asyncio.timeout(settings.send_timeout_s):
        await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while loop.time() < deadline:
            batch = await reader.getmany(tp, timeout_ms=300, max_records=1)
            for record in batch.get(tp, []):
                return record.value.decode() if record.value else ""
            end = (await reader.end_offsets([tp]))[tp]
            if end == 0:
                return None
        return None
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(settings.shutdown_grace_s):
                await reader.stop()


async def broker_incarnation(settings: Settings) -> str:
    """The id of the broker's current life (written now if this life has none yet)."""
    name = topic_name(settings)
    await ensure_topics(settings.bootstrap, [TopicSpec(name, 1, {"retention.ms": "-1"})],
                        timeout_s=settings.send_timeout_s)
    first = await _first_record(settings, name)
    if first is not None:
        return first
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all",
                                client_id="wirewatch-incarnation")
    async with asyncio.timeout(settings.send_timeout_s):
        await producer.start()
        try:
            await producer.send_and_wait(name, value=uuid.uuid4().hex.encode(), partition=0)
        finally:
            await producer.stop()
    # Someone may have written theirs first: offset 0 decides.
    first = await _first_record(settings, name)
    if first is None:
        raise KafkaError(f"the incarnation record written to {name} cannot be read back")
    return first


class IncarnationWatch:
    """Tells one role (one Redis key) when the broker has started a new life since it last looked."""

    def __init__(self, settings: Settings, redis: Redis, keys: Keys, role: str) -> None:
        self.settings = settings
        self.redis = redis
        self.key = keys.broker_incarnation(role)
        self.role = role

    async def changed(self) -> bool:
        """True (once, for one caller across processes) if the broker lost its log since the last look."""
        current = await broker_incarnation(self.settings)
        if await self.redis.get(self.key) in (None, current):
            if await self.redis.set(self.key, current, nx=True):
                log.info("broker.incarnation", role=self.role, current=current)
            return False
        # A new life has none of the data topics yet: create them before anything is emitted again
        # (before the id is recorded, so a failure here is retried at the next look).
        await ensure_all(self.settings)
        previous = await self.redis.getset(self.key, current)
        if previous is not None and previous != current:
            log.warning("broker.new_incarnation", role=self.role, previous=previous, current=current)
            return True
        return False

    async def check(self) -> bool:
        """changed(), with a broker or Redis that cannot answer right now counted as no change."""
        try:
            return await self.changed()
        except Exception as exc:  # noqa: BLE001 - down or restarting: the next look tells
            log.debug("broker.incarnation_unknown", role=self.role, error=repr(exc)[:200])
            return False
