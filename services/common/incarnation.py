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

A look at the broker must end, whatever the broker does meanwhile: every broker call in it has the send
deadline, and a look that fails is retried at the next one (each step is idempotent) and said at warning when
it keeps failing. aiokafka does not always honour cancellation and can even raise a CancelledError that
was meant for a task of its own (`close_quietly`), so the deadline is kept without its cooperation
(`within`), and such a stray CancelledError never ends the loop that looks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis
from services.common.settings import Settings
from services.common.topics import TopicSpec, ensure_all, ensure_topics

T = TypeVar("T")

log = get_logger(__name__)
#: The marker topic, under the topic prefix. Not a data topic: one record per broker life.
TOPIC = "incarnation"
#: Seconds between two looks at the broker's incarnation.
CHECK_EVERY_S = 2.0
#: Looks failed in a row before it is said at warning (and again at each doubling): one or two fail while the
#: broker restarts, as expected; more mean the watch is blind and re-emission waits for the grace period.
WARN_AFTER_FAILED_LOOKS = 3
#: Broker calls run by `within`, referenced until they end (one that outlived its deadline and ignored its
#: cancellation ends by itself, later).
_calls: set[asyncio.Future[Any]] = set()


def stray_cancellation() -> bool:
    """True while handling a CancelledError that nobody raised against the current task: a library let out
    the cancellation of a task of its own (aiokafka's consumer stop does, aio-libs/aiokafka#647). A loop that
    must keep running goes on after it; a real cancellation (the service stopping) has `cancelling()` > 0."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


async def close_quietly(close: Callable[[], Awaitable[object]], within_s: float) -> None:
    """Close a client within `within_s`, whatever it raises: its failure to close must not fail the look that
    used it, nor the CancelledError that aiokafka's stop() lets out when it awaits a fetch task it has just
    cancelled (aio-libs/aiokafka#647) end the caller. A cancellation of the caller itself goes on up."""
    task = asyncio.current_task()
    cancelling = task.cancelling() if task is not None else 0
    try:
        async with asyncio.timeout(within_s):
            await close()
    except asyncio.CancelledError:
        if task is None or task.cancelling() > cancelling:
            raise
        log.debug("broker.client_close_cancelled")
    except Exception as exc:  # noqa: BLE001 - a client that cannot close cleanly is dropped all the same
        log.debug("broker.client_close_failed", error=repr(exc)[:200])


async def within(call: Callable[[], Awaitable[T]], deadline_s: float, grace_s: float) -> T:
    """The result of `call()`, cancelled at `deadline_s`; returns or raises by `deadline_s + grace_s` even if
    the call ignores its cancellation (it is then left behind, cancelled and referenced, to end by itself).

    Raises KafkaTimeoutError past the deadline, and KafkaError when the call ended by a CancelledError that
    was not ours (see `stray_cancellation`). A cancellation of the caller cancels the call and goes on up."""
    task = asyncio.ensure_future(call())
    _calls.add(task)
    task.add_done_callback(_calls.discard)
    timed_out = False
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if not done:
            timed_out = True
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=grace_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        log.warning("broker.call_left_behind", seconds=deadline_s + grace_s)
        raise KafkaTimeoutError(f"no answer within {deadline_s:g} s, and no end {grace_s:g} s after cancelling")
    if task.cancelled():
        if timed_out:
            raise KafkaTimeoutError(f"no answer within {deadline_s:g} s")
        raise KafkaError("the broker client raised a CancelledError of its own")
    return task.result()


def topic_name(settings: Settings) -> str:
    """The marker topic's name on the broker."""
    return f"{settings.topic_prefix}{TOPIC}"


async def _first_record(settings: Settings, name: str) -> str | None:
    """The value at offset 0 of the marker topic, or None when the topic is empty."""
    tp = TopicPartition(name, 0)
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                              auto_offset_reset="earliest", client_id="wirewatch-incarnation")
    try:
        await reader.start()
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
        # Also when start() failed: a half-started client holds connections and tasks.
        await close_quietly(reader.stop, settings.shutdown_grace_s)


async def _write_id(settings: Settings, name: str) -> None:
    """Write a new random id to the marker topic (whoever reads offset 0 next learns whose came first)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, acks="all",
                                client_id="wirewatch-incarnation")
    try:
        await producer.start()
        await producer.send_and_wait(name, value=uuid.uuid4().hex.encode(), partition=0)
    finally:
        await close_quietly(producer.stop, settings.shutdown_grace_s)


async def broker_incarnation(settings: Settings) -> str:
    """The id of the broker's current life (written now if this life has none yet), within the send
    deadline (TimeoutError past it): aiokafka bounds some of these calls only by its own 40 s request
    timeout (end_offsets, seek_to_beginning), or not at all (a producer's stop waits for its batch)."""
    name = topic_name(settings)
    async with asyncio.timeout(settings.send_timeout_s):
        await ensure_topics(settings.bootstrap, [TopicSpec(name, 1, {"retention.ms": "-1"})],
                            timeout_s=settings.send_timeout_s)
        first = await _first_record(settings, name)
        if first is not None:
            return first
        await _write_id(settings, name)
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
        #: looks failed in a row (reset by a look that answers)
        self.failed_looks = 0

    async def _at_broker(self, call: Callable[[], Awaitable[T]]) -> T:
        """A broker call of this watch: the send deadline, kept even if the call ignores cancellation."""
        return await within(call, self.settings.send_timeout_s, self.settings.shutdown_grace_s)

    async def changed(self) -> bool:
        """True (once, for one caller across processes) if the broker lost its log since the last look."""
        current = await self._at_broker(lambda: broker_incarnation(self.settings))
        if await self.redis.get(self.key) in (None, current):
            if await self.redis.set(self.key, current, nx=True):
                log.info("broker.incarnation", role=self.role, current=current)
            return False
        # A new life has none of the data topics yet: create them before anything is emitted again
        # (before the id is recorded, so a failure here is retried at the next look).
        await self._at_broker(lambda: ensure_all(self.settings, timeout_s=self.settings.send_timeout_s))
        previous = await self.redis.getset(self.key, current)
        if previous is not None and previous != current:
            log.warning("broker.new_incarnation", role=self.role, previous=previous, current=current)
            return True
        return False

    async def check(self) -> bool:
        """changed(), with a broker or Redis that cannot answer right now counted as no change (the next look
        tells); looks that keep failing are said at warning, with the error."""
        try:
            changed = await self.changed()
        except asyncio.CancelledError as exc:
            if not stray_cancellation():
                raise
            self._failed(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - down or restarting: the next look tells
            self._failed(exc)
            return False
        if self.failed_looks >= WARN_AFTER_FAILED_LOOKS:
            log.info("broker.incarnation_known_again", role=self.role, failed_looks=self.failed_looks)
        self.failed_looks = 0
        return changed

    def _failed(self, exc: BaseException) -> None:
        self.failed_looks += 1
        at = log.warning if _said_at_warning(self.failed_looks) else log.debug
        at("broker.incarnation_unknown", role=self.role, failed_looks=self.failed_looks, error=repr(exc)[:300])


def _said_at_warning(failed_looks: int) -> bool:
    """At WARN_AFTER_FAILED_LOOKS failed looks in a row, and at each doubling after (3, 6, 12, 24 ...): a
    broker that stays away is said, without a line at every look."""
    rounds, rest = divmod(failed_looks, WARN_AFTER_FAILED_LOOKS)
    return rest == 0 and rounds > 0 and rounds & (rounds - 1) == 0
