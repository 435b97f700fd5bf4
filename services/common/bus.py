"""The Kafka bus: producer and consumer lifecycle, and the one consume loop.

Guarantees (DESIGN.md, "Delivery semantics"):
- At-least-once: an offset is committed only after the handler returned, i.e.
  after its work is durable (produced and acknowledged, or written to Redis).
  Commits name explicit offsets (`offset + 1`) of partitions still assigned;
  a `CommitFailedError` after a rebalance is tolerated (the new owner redoes
  the work, and every handler is idempotent).
- A message that fails `max_attempts` times, or fails permanently, goes to
  the dead-letter topic with its error and original bytes; its partition moves on.
- No idempotent/transactional producer: Tansu answers InitProducerId with an
  error. Every send is awaited under a deadline, because a dead broker hangs
  aiokafka's send and stop forever (aiokafka #1101).
- Records are decoded inside the loop, never in `value_deserializer`, so a
  poison record cannot wedge the consumer (aiokafka #744).
- An outage is not the message's fault: when a handler fails because Redis or the
  broker is unreachable (`is_outage`), the same message is tried again with back-off
  until they return (or `stop`), without counting an attempt, so a Redis restart
  never dead-letters good work and never stops a service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)
from structlog.contextvars import bound_contextvars

from services.common.errors import InvalidMessage, Permanent, Retryable
from services.common.logging import get_logger
from services.common.messages import DeadLetter, Message
from services.common.metrics import CONSUMER_LAG, DEAD_LETTERED, MESSAGES
from services.common.redis import is_outage as redis_outage
from services.common.redis import wait_out_outage
from services.common.settings import Settings
from services.common.topics import DEAD_LETTERS, Topic

M = TypeVar("M", bound=Message)
log = get_logger(__name__)

#: Seconds between two reports of a consumer's lag (wirewatch_consumer_lag).
LAG_REPORT_EVERY_S = 1.0


@dataclass(frozen=True)
class Delivery:
    """Where a consumed message came from."""

    topic: str
    partition: int
    offset: int
    key: str | None


class BrokerUnavailable(Retryable):
    """The broker did not acknowledge a send in time (down, or restarting)."""


_BROKER_OUTAGE = (BrokerUnavailable, KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)


def is_outage(exc: BaseException) -> bool:
    """True if `exc` means Redis or the broker is unreachable: wait and retry, the input is not at fault."""
    return redis_outage(exc) or isinstance(exc, _BROKER_OUTAGE)


#: Seconds between two "still waiting" log lines of one outage.
_OUTAGE_LOG_EVERY_S = 30.0


Handler = Callable[[M, Delivery], Awaitable[None]]
BatchHandler = Callable[[Sequence[tuple[M, Delivery]]], Awaitable[None]]
DeadLetterHook = Callable[[Delivery, bytes | None, BaseException], Awaitable[None]]
AssignHook = Callable[[AIOKafkaConsumer, set[TopicPartition]], Awaitable[None]]


class Bus:
    """One producer, and consumers made on demand, for one service."""

    def __init__(self, settings: Settings, *, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer (the topics exist: the process created them once when it started)."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=False,
            linger_ms=5,
            max_batch_size=1_048_576,
            max_request_size=8_388_608,
            request_timeout_ms=int(self.settings.send_timeout_s * 1000),
        )
        async with asyncio.timeout(self.settings.startup_wait_s):
            await self._producer.start()

    async def stop(self) -> None:
        """Flush and close the producer, bounded: a dead broker must not hang shutdown."""
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(self.settings.shutdown_grace_s):
                await producer.stop()

    async def __aenter__(self) -> Bus:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def topic_name(self, topic: Topic[Any]) -> str:
        """The broker-side name of a topic."""
        return topic.full_name(self.settings.topic_prefix)

    async def publish(self, topic: Topic[M], key: str, value: M) -> None:
        """Send one message and wait for the broker's acknowledgement."""
        await self.publish_raw(self.topic_name(topic), key.encode(), topic.encode(value))

    async def publish_many(self, topic: Topic[M], messages: Sequence[tuple[str, M]]) -> None:
        """Send (key, message) pairs, in order, and wait until the broker acknowledged all of them."""
        if self._producer is None:
            raise RuntimeError("bus is not started")
        name = self.topic_name(topic)
        try:
            async with asyncio.timeout(self.settings.send_timeout_s):
                pending = [await self._producer.send(name, value=topic.encode(m), key=k.encode()) for k, m in messages]
                await asyncio.gather(*pending)
        except TimeoutError as exc:
            raise BrokerUnavailable(f"no acknowledgement within {self.settings.send_timeout_s:g} s") from exc

    async def publish_raw(
        self, topic_name: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Send raw bytes and wait for the acknowledgement, under the send deadline."""
        if self._producer is None:
            raise RuntimeError("bus is not started")
        try:
            async with asyncio.timeout(self.settings.send_timeout_s):
                await self._producer.send_and_wait(topic_name, value=value, key=key, headers=list(headers))
        except TimeoutError as exc:
            raise BrokerUnavailable(f"no acknowledgement within {self.settings.send_timeout_s:g} s") from exc

    async def dead_letter(
        self, stage: str, delivery: Delivery, raw: bytes | None, error: BaseException, attempts: int
    ) -> None:
        """Publish the original bytes and the error to the dead-letter topic."""
        letter = DeadLetter(
            stage=stage,
            source_topic=delivery.topic,
            source_partition=delivery.partition,
            source_offset=delivery.offset,
            key=delivery.key,
            error_type=type(error).__name__,
            error=str(error)[:2000],
            attempts=attempts,
            payload_b64=base64.b64encode(raw or b"").decode(),
            failed_at=datetime.now(UTC),
        )
        await self.publish_raw(
            self.topic_name(DEAD_LETTERS),
            (delivery.key or "").encode(),
            DEAD_LETTERS.encode(letter),
            headers=[("error_type", type(error).__name__.encode()), ("stage", stage.encode())],
        )
        DEAD_LETTERED.labels(stage, type(error).__name__).inc()
        log.warning("message.dead_lettered", stage=stage, error_type=type(error).__name__, error=str(error))

    def consumer(self, topic_names: list[str], *, group: str, **overrides: Any) -> AIOKafkaConsumer:
        """A consumer with wirewatch's safe defaults: manual commits, earliest offset."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.settings.bootstrap,
            "client_id": self.client_id,
            "group_id": group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_wait_ms": 50,
            "max_partition_fetch_bytes": 8_388_608,
            "fetch_max_bytes": 16_777_216,
            "session_timeout_ms": self.settings.session_timeout_ms,
            "heartbeat_interval_ms": max(500, self.settings.session_timeout_ms // 4),
            "max_poll_interval_ms": 300_000,
            "rebalance_timeout_ms": 30_000,
        }
        options.update(overrides)
        return AIOKafkaConsumer(*topic_names, **options)

    async def consume(
        self,
        topic: Topic[M],
        *,
        group: str,
        stage: str,
        handle: Handler[M],
        stop: asyncio.Event,
        concurrency: int = 1,
        on_assign: AssignHook | None = None,
        on_dead_letter: DeadLetterHook | None = None,
        ready: asyncio.Event | None = None,
        handle_batch: BatchHandler[M] | None = None,
        max_records: int | None = None,
    ) -> None:
        """Consume `topic` until `stop` is set: decode, handle, retry, dead-letter, commit.

        `max_records` per poll defaults to settings.batch_size.

        With `handle_batch` the decoded records of each partition in a poll are
        handed over together (in offset order); if that fails, they are handled one
        by one with `handle`, so one bad message still only costs itself.

        `ready` is set once the consumer has joined its group and holds its
        assignment (liveness is reported from then on).

        The group id is prefixed like the topics, so two deployments (or two
        tests) sharing a broker never join each other's groups.

        With `concurrency` > 1 the records of one poll are handled side by side
        (at most that many at once); offsets are committed when all of them are
        done, so a crash redelivers the unfinished ones and nothing is skipped.
        """
        loop = ConsumeLoop(self, topic, group=f"{self.settings.topic_prefix}{group}", stage=stage, handle=handle,
                           concurrency=concurrency, on_assign=on_assign, on_dead_letter=on_dead_letter,
                           ready=ready, handle_batch=handle_batch, max_records=max_records)
        await loop.run(stop)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets in-flight work finish (bounded) before partitions move, and runs the assign hook."""

    def __init__(self, loop: ConsumeLoop[Any]) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # The batch in flight commits its own offsets when it ends; waiting for it
        # here means the next owner starts after them instead of redoing them.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._loop.bus.settings.shutdown_grace_s):
                await self._loop.idle.wait()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._loop.on_assign is not None and assigned and self._loop.consumer is not None:
            await self._loop.on_assign(self._loop.consumer, assigned)
        self._loop.ready.set()


class ConsumeLoop(Generic[M]):
    """The consume loop of one topic for one consumer group (see Bus.consume)."""

    def __init__(
        self,
        bus: Bus,
        topic: Topic[M],
        *,
        group: str,
        stage: str,
        handle: Handler[M],
        concurrency: int,
        on_assign: AssignHook | None,
        on_dead_letter: DeadLetterHook | None,
        ready: asyncio.Event | None = None,
        handle_batch: BatchHandler[M] | None = None,
        max_records: int | None = None,
    ) -> None:
        self.bus = bus
        self.handle_batch = handle_batch
        self.max_records = max_records or bus.settings.batch_size
        self.topic = topic
        self.group = group
        self.stage = stage
        self.handle = handle
        self.concurrency = max(1, concurrency)
        self.on_assign = on_assign
        self.on_dead_letter = on_dead_letter
        self.idle = asyncio.Event()
        self.idle.set()
        self.ready = ready if ready is not None else asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self._lag_reported_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll, handle and commit until `stop` is set; then leave the group."""
        settings = self.bus.settings
        self.consumer = self.bus.consumer([], group=self.group, max_poll_records=self.max_records)
        self.consumer.subscribe([self.bus.topic_name(self.topic)], listener=_Listener(self))
        try:
            # Inside the try: a start cancelled or timed out half-way still closes the consumer's connections.
            async with asyncio.timeout(settings.startup_wait_s):
                await self.consumer.start()
            log.info("consumer.started", topic=self.bus.topic_name(self.topic), group=self.group)
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
                await self._check_positions()
                if not batch:
                    continue
                self.idle.clear()
                try:
                    await self._handle_batch(batch, stop)
                finally:
                    self.idle.set()
        finally:
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(settings.shutdown_grace_s):
                    await self.consumer.stop()
            log.info("consumer.stopped", topic=self.bus.topic_name(self.topic), group=self.group)

    async def _check_positions(self) -> None:
        """Set wirewatch_consumer_lag: how far this member's partitions are behind their high-water marks
        (as of the last fetch), at most once every LAG_REPORT_EVERY_S; a partition whose high-water mark is
        below this member's position (the broker lost its log) is read again from offset 0."""
        now = time.monotonic()
        if self.consumer is None or now - self._lag_reported_at < LAG_REPORT_EVERY_S:
            return
        self._lag_reported_at = now
        lag = 0
        for tp in self.consumer.assignment():
            high_water = self.consumer.highwater(tp)
            try:
                # Immediate for a partition being consumed; a fresh assignment may not know its position yet.
                position = await asyncio.wait_for(self.consumer.position(tp), 0.1)
            except (KafkaError, TimeoutError):
                continue
            if high_water is not None and high_water < position:
                # The broker holds fewer records than this member has read: it lost its log (the embedded
                # broker keeps it in memory) and counts from 0 again. Tansu answers a fetch past the end with
                # nothing rather than OFFSET_OUT_OF_RANGE, so the new life's first records (the re-emitted
                # ones) would be skipped until its log grew past the old position.
                log.warning("consumer.log_lost", topic=tp.topic, partition=tp.partition, position=position,
                            high_water=high_water)
                self.consumer.seek(tp, 0)
                continue
            if high_water is not None:
                lag += max(0, high_water - position)
        CONSUMER_LAG.labels(self.group, self.bus.topic_name(self.topic)).set(lag)

    async def _handle_batch(self, batch: dict[TopicPartition, list[Any]], stop: asyncio.Event) -> None:
        assert self.consumer is not None
        gate = asyncio.Semaphore(self.concurrency)

        async def one(record: Any) -> bool:
            async with gate:
                if stop.is_set():
                    return False  # abandoned: redelivered after restart
                return await self._handle_one(record, stop)

        for tp, records in batch.items():
            if self.handle_batch is not None:
                done = await self._handle_together(records, stop)
            else:
                done = await asyncio.gather(*(one(r) for r in records))
            # Commit up to the first abandoned record, so none is skipped.
            last: int | None = None
            for record, finished in zip(records, done, strict=True):
                if not finished:
                    break
                last = record.offset
            if last is not None:
                await self._commit(tp, last + 1)

    async def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        assert self.consumer is not None
        if tp not in self.consumer.assignment():
            return  # moved to another member during the batch; it redoes the work
        try:
            async with asyncio.timeout(self.bus.settings.send_timeout_s):
                await self.consumer.commit({tp: next_offset})
        except (CommitFailedError, KafkaError, TimeoutError) as exc:
            log.warning("consumer.commit_failed", partition=tp.partition, offset=next_offset, error=repr(exc))

    async def _handle_together(self, records: list[Any], stop: asyncio.Event) -> list[bool]:
        """One partition's records through `handle_batch`; one by one if that fails. Finished flags per record."""
        assert self.handle_batch is not None
        decoded: list[tuple[M, Delivery, Any]] = []
        finished = {r.offset: True for r in records}
        for record in records:
            delivery = _delivery(record)
            try:
                decoded.append((self.topic.decode(record.value), delivery, record))
            except InvalidMessage as exc:  # poison: retrying cannot help
                finished[record.offset] = await self._give_up(delivery, record.value, exc, 1, stop)
        if not decoded or stop.is_set():
            return [finished[r.offset] and not decoded for r in records]
        outage = _Outage(self.stage)
        while True:
            try:
                await self.handle_batch([(m, d) for m, d, _ in decoded])
                MESSAGES.labels(self.stage, "ok").inc(len(decoded))
                outage.over()
                return [finished[r.offset] for r in records]
            except Exception as exc:  # noqa: BLE001 - fall back to one by one: the bad message is isolated there
                if is_outage(exc):
                    if stop.is_set():
                        return [False] * len(records)
                    await outage.wait(exc, stop)
                    continue
                log.warning("batch.failed", records=len(decoded), error=repr(exc))
                break
        for message, delivery, record in decoded:
            finished[record.offset] = await self._handle_decoded(message, delivery, record, stop)
        return [finished[r.offset] for r in records]

    async def _handle_one(self, record: Any, stop: asyncio.Event) -> bool:
        """Handle one record; False if it was abandoned at shutdown and must stay uncommitted."""
        delivery = _delivery(record)
        with bound_contextvars(topic=record.topic, partition=record.partition, offset=record.offset):
            try:
                message = self.topic.decode(record.value)
            except InvalidMessage as exc:  # poison: retrying cannot help
                return await self._give_up(delivery, record.value, exc, 1, stop)
            return await self._handle_decoded(message, delivery, record, stop)

    async def _handle_decoded(self, message: M, delivery: Delivery, record: Any, stop: asyncio.Event) -> bool:
        """Handle one decoded message with retries, then dead-letter it; False if abandoned at shutdown."""
        settings = self.bus.settings
        outage = _Outage(self.stage)
        with bound_contextvars(topic=record.topic, partition=record.partition, offset=record.offset):
            error: BaseException
            attempts = 1
            while True:
                try:
                    await self.handle(message, delivery)
                    MESSAGES.labels(self.stage, "ok").inc()
                    outage.over()
                    return True
                except Permanent as exc:
                    error = exc
                    break
                except Exception as exc:  # noqa: BLE001 - the one blind except: bad input must not stop a partition
                    error = exc
                    if is_outage(exc) and not stop.is_set():
                        await outage.wait(exc, stop)  # Redis or the broker is away: not this message's fault
                        continue
                    if attempts >= settings.max_attempts or stop.is_set():
                        break
                    log.warning("message.retry", attempt=attempts, error=repr(exc),
                                retryable=isinstance(exc, Retryable))
                    delay = settings.retry_backoff_s * 2 ** (attempts - 1)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    attempts += 1
            if stop.is_set() and not isinstance(error, Permanent):
                return False  # shutting down mid-retry: leave it uncommitted for the next run
            return await self._give_up(delivery, record.value, error, attempts, stop)

    async def _give_up(self, delivery: Delivery, raw: bytes | None, error: BaseException, attempts: int,
                       stop: asyncio.Event) -> bool:
        """Dead-letter a message (waiting out an outage); False if shutdown came first (left uncommitted)."""
        outage = _Outage(self.stage)
        while True:
            try:
                await self.bus.dead_letter(self.stage, delivery, raw, error, attempts)
                if self.on_dead_letter is not None:
                    await self.on_dead_letter(delivery, raw, error)
                MESSAGES.labels(self.stage, "dead_letter").inc()
                return True
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if stop.is_set():
                    return False
                await outage.wait(exc, stop)


class _Outage:
    """Back-off while Redis or the broker is away, with a log line at the start and every 30 s."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.delay = 0.2
        self.started: float | None = None
        self._logged = 0.0

    async def wait(self, exc: BaseException, stop: asyncio.Event) -> None:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if now - self._logged >= _OUTAGE_LOG_EVERY_S:
            self._logged = now
            log.warning("outage.waiting", stage=self.stage, error=repr(exc)[:300],
                        for_s=round(now - self.started, 1))
        self.delay = await wait_out_outage(stop, self.delay)

    def over(self) -> None:
        if self.started is not None:
            log.info("outage.over", stage=self.stage, lasted_s=round(time.monotonic() - self.started, 1))
            self.started = None


def _delivery(record: Any) -> Delivery:
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return Delivery(record.topic, record.partition, record.offset, key)
