"""The live stream of story events: the notifier writes it, the API's SSE endpoint reads it.

The notifier appends one entry per story event (once, even when the story-events topic is replayed) to
the capped Redis STREAM `keys.story_stream` (field `z`: the StoryEvent JSON, zstd-compressed; entries of
older versions hold it plain in `event`, and are read too). Its entry ids are the SSE
event ids, so a client that reconnects with `Last-Event-ID` is sent every entry after that id the stream
still holds (the replay window: about the last `STORY_STREAM_MAX` events), then the live ones.

`story_sse` is the reader (an async generator of SSE text, drivable without HTTP); `GET /v1/stream`
validates the request and serves it as `text/event-stream`. Owner of the stream's keys.

Live readers never block on Redis themselves: one `StreamTail` per client and stream in a process waits
for new entries (a single blocking XREAD) and wakes them, and each reads what is new after its own cursor
with a plain XRANGE. A blocking read per reader held one of the client's connections each (100 by
default): a hundred open desk tabs or API streams left none for anything else, and every other request
of that process answered 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import cast

import cramjam
from pydantic import ValidationError
from redis.client import NEVER_DECODE

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.messages import StoryEvent
from services.common.redis import Redis
from services.notifier.subscriptions import EventKind, Query, StoryFacts, SubscriptionStore, matches

__all__ = [
    "BLOCK_MS",
    "KEEPALIVE",
    "KEEPALIVE_S",
    "PACKED",
    "STORY_STREAM_MAX",
    "encode_entry",
    "entity_filter",
    "entry_json",
    "parse_event_id",
    "publish",
    "sse_message",
    "story_sse",
]

log = get_logger(__name__)

#: Story events kept for the live stream's replay (Last-Event-ID), and how long an event is remembered as
#: already streamed (a replay of the topic does not stream it twice).
STORY_STREAM_MAX = 100_000
STORY_STREAM_SEEN_TTL_S = 7 * 86400
#: The entry field holding the event's zstd-compressed JSON (entries written before hold plain JSON in `event`).
PACKED = "z"
_ZSTD_LEVEL = 3
#: How long one XREAD waits for new entries (below the client's 10 s socket timeout).
BLOCK_MS = 5000
#: A comment line is sent after this much silence, so proxies and clients keep the connection.
KEEPALIVE_S = 15.0
#: Entries read per XRANGE / XREAD round trip.
PAGE = 500
#: Every event kind: a filter from `entity` alone does not narrow the kinds.
ALL_KINDS: list[EventKind] = ["created", "updated", "merged"]

_STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
_U64 = 2**64 - 1

KEEPALIVE = ": keep-alive\n\n"


async def publish(redis: Redis, keys: Keys, event: StoryEvent) -> str | None:
    """Add the event to the stream, once per event even when the topic is replayed: the new entry's id (the
    SSE event id), or None when the event was streamed already."""
    seen = f"{event.cluster_id}|{event.article_id}|{event.kind}|{event.at.timestamp()}"
    digest = hashlib.sha256(seen.encode()).hexdigest()[:24]
    if not await redis.set(keys.story_streamed(digest), "1", nx=True, ex=STORY_STREAM_SEEN_TTL_S):
        return None
    entry_id = await redis.xadd(keys.story_stream, {PACKED: encode_entry(event.model_dump_json())},
                                maxlen=STORY_STREAM_MAX, approximate=True)
    return str(entry_id)


def encode_entry(raw: str) -> bytes:
    """A stream entry's value: the event's JSON, zstd-compressed (an event carries its article's text: 3.2 KB
    of JSON per event on the dev set, 1.3 KB compressed)."""
    return bytes(cramjam.zstd.compress(raw.encode(), level=_ZSTD_LEVEL))


def entry_json(fields: Mapping[bytes, bytes]) -> str | None:
    """The event JSON of a stream entry as read undecoded: compressed (`z`) or, in entries written before,
    plain (`event`); None for an entry with neither."""
    packed = fields.get(PACKED.encode())
    if packed is not None:
        return bytes(cramjam.zstd.decompress(packed)).decode()
    plain = fields.get(b"event")
    return None if plain is None else plain.decode()


async def entity_filter(subscriptions: SubscriptionStore, entities: Iterable[str]) -> Query:
    """The filter "a story naming any of these entities", of every event kind, its keys resolved through the
    alias table. ValueError (its message fit for the client) when an entity is invalid or all are empty."""
    try:
        wanted = Query(entities=list(entities), events=ALL_KINDS)
    except ValidationError as exc:
        raise ValueError(f"invalid entity filter: {exc.errors()[0]['msg']}") from exc
    if not wanted.entities:
        raise ValueError("entity must not be empty")
    return await subscriptions.canonical_query(wanted)


def parse_event_id(value: str) -> tuple[int, int] | None:
    """A Redis stream entry id "<ms>-<seq>" as numbers, or None when it is not one."""
    m = _STREAM_ID.match(value.strip())
    if not m:
        return None
    ms, seq = int(m.group(1)), int(m.group(2))
    return (ms, seq) if ms <= _U64 and seq <= _U64 else None


#: An entry as read: its id and its event's JSON (None: an entry without one).
Entry = tuple[str, str | None]
_RawEntry = tuple[bytes, dict[bytes, bytes]]


def _entries(raw: list[_RawEntry] | None) -> list[Entry]:
    return [(entry_id.decode(), entry_json(fields)) for entry_id, fields in raw or []]


async def _range(redis: Redis, stream: str, start: str, end: str, count: int) -> list[Entry]:
    # Binary (zstd), so not decoded as UTF-8 like everything else.
    raw = await redis.execute_command(  # type: ignore[no-untyped-call]
        "XRANGE", stream, start, end, "COUNT", count, **{NEVER_DECODE: True})
    return _entries(cast(list[_RawEntry] | None, raw))


async def _newest(redis: Redis, stream: str) -> str | None:
    raw = await redis.execute_command(  # type: ignore[no-untyped-call]
        "XREVRANGE", stream, "+", "-", "COUNT", 1, **{NEVER_DECODE: True})
    entries = cast(list[_RawEntry] | None, raw) or []
    return entries[0][0].decode() if entries else None


async def _read(redis: Redis, stream: str, cursor: str, block_ms: int, count: int = PAGE) -> list[Entry]:
    """Entries after `cursor`, waiting up to `block_ms` for some (empty when none came)."""
    read = await redis.execute_command(  # type: ignore[no-untyped-call]
        "XREAD", "COUNT", count, "BLOCK", block_ms, "STREAMS", stream, cursor, **{NEVER_DECODE: True})
    if isinstance(read, dict):  # RESP3: {stream: [entries]}
        read = list(read.items())
    return [entry for _, entries in cast(list[tuple[bytes, list[_RawEntry]]] | None, read) or []
            for entry in _entries(entries)]


#: After the shared read failed, how long its readers wait before reading (and starting it) again.
TAIL_RETRY_S = 1.0


class StreamTail:
    """Wakes the live readers of one stream when entries arrive: one blocking XREAD for all of them.

    Its loop runs while anyone reads (`reading()`) and ends within `block_ms` of the last one leaving, or at
    an error (an outage), after waking everyone: each reader then reads, and meets the error itself."""

    def __init__(self, redis: Redis, stream: str, block_ms: int) -> None:
        self.redis = redis
        self.stream = stream
        self.block_ms = block_ms
        self._arrived = asyncio.Event()
        self._readers = 0
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Count a reader for as long as the block runs."""
        self._readers += 1
        try:
            yield
        finally:
            self._readers -= 1

    def arrival(self) -> asyncio.Event:
        """The event set when entries next arrive: take it before reading, wait on it after an empty read (an
        arrival between the two has set it already)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return self._arrived

    async def _run(self) -> None:
        try:
            cursor = await _newest(self.redis, self.stream) or "0-0"
            while self._readers > 0:
                if await _read(self.redis, self.stream, cursor, self.block_ms, count=1):
                    cursor = await _newest(self.redis, self.stream) or cursor
                    self._wake()
        except Exception:  # an outage: the readers meet it on their own next read
            log.warning("stream.tail_stopped", stream=self.stream, exc_info=True)
            # Not at once: a reader whose own reads still work would start the tail again straight away.
            await asyncio.sleep(TAIL_RETRY_S)
        finally:
            self._wake()

    def _wake(self) -> None:
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()


#: Stream reads (XRANGE) the live readers of one client make at once: the rest wait their turn. A wake-up
#: sends every reader to read at the same moment, and a few hundred of them would take every connection.
READS_AT_ONCE = 32


class _Shared:
    """What the live readers through one client share: the tails of its streams and the turns to read."""

    def __init__(self) -> None:
        self.tails: dict[tuple[str, int], StreamTail] = {}
        self.reads = asyncio.Semaphore(READS_AT_ONCE)


_SHARED: weakref.WeakKeyDictionary[Redis, _Shared] = weakref.WeakKeyDictionary()


def _shared(redis: Redis) -> _Shared:
    shared = _SHARED.get(redis)
    if shared is None:
        shared = _SHARED[redis] = _Shared()
    return shared


def stream_tail(redis: Redis, stream: str, block_ms: int) -> StreamTail:
    """The tail of `stream` shared by every reader through this client."""
    tails = _shared(redis).tails
    tail = tails.get((stream, block_ms))
    if tail is None:
        tail = tails[stream, block_ms] = StreamTail(redis, stream, block_ms)
    return tail


async def _range_in_turn(redis: Redis, stream: str, start: str, end: str, count: int) -> list[Entry]:
    """_range, at most READS_AT_ONCE at a time through one client."""
    async with _shared(redis).reads:
        return await _range(redis, stream, start, end, count)


async def _newest_in_turn(redis: Redis, stream: str) -> str | None:
    """_newest, in turn as _range_in_turn."""
    async with _shared(redis).reads:
        return await _newest(redis, stream)


def sse_message(entry_id: str, event: StoryEvent, raw: str) -> str:
    """One SSE message: the entry id, `story.<kind>` and the StoryEvent JSON (a single line)."""
    return f"id: {entry_id}\nevent: story.{event.kind}\ndata: {raw}\n\n"


def _wanted(queries: Sequence[Query], event: StoryEvent) -> bool:
    if not queries:
        return True
    facts = StoryFacts.from_event(event)
    return all(matches(q, facts) for q in queries)


async def story_sse(
    redis: Redis,
    keys: Keys,
    *,
    last_event_id: str | None = None,
    query: Query | Sequence[Query] | None = None,
    block_ms: int = BLOCK_MS,
    keepalive_s: float = KEEPALIVE_S,
    stop_after: int | None = None,
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncGenerator[str, None]:
    """The SSE text of the story events, replayed after `last_event_id` and then live.

    `query`: only events every given query matches are sent (each entry still advances the cursor).
    Without `last_event_id`, only events added after the call starts are sent. With one the stream
    still holds, every later entry is replayed first; with one it does not hold (trimmed out of the
    replay window, or never issued) a comment says so and the replay starts at the oldest entry kept.
    A ": keep-alive" comment follows every `keepalive_s` without a message. Ends after `stop_after`
    events, or when `is_disconnected()` says the client has gone; otherwise runs until cancelled.
    """
    queries: Sequence[Query] = () if query is None else [query] if isinstance(query, Query) else query
    stream = keys.story_stream
    sent = 0
    last_sent = time.monotonic()

    def handle(entry_id: str, raw: str | None) -> str | None:
        if raw is None:
            return None
        try:
            event = StoryEvent.model_validate_json(raw)
        except ValidationError:
            log.warning("stream.bad_entry", entry=entry_id)
            return None
        return sse_message(entry_id, event, raw) if _wanted(queries, event) else None

    # The entry the reading starts after: the replay (if any) is the loop's first pages.
    if last_event_id is None:
        cursor = await _newest_in_turn(redis, stream) or "0-0"
    elif parse_event_id(last_event_id) is not None and await _range_in_turn(
            redis, stream, last_event_id, last_event_id, 1):
        cursor = last_event_id
    else:
        oldest = await _range_in_turn(redis, stream, "-", "+", 1)
        yield (f": replay window exceeded: event {last_event_id!r} is no longer kept (the stream keeps about "
               f"the last {STORY_STREAM_MAX} story events); replaying from the oldest kept"
               f"{' (' + oldest[0][0] + ')' if oldest else ''}\n\n")
        last_sent = time.monotonic()
        cursor = "0-0"

    tail = stream_tail(redis, stream, block_ms)
    with tail.reading():
        while True:
            if is_disconnected is not None and await is_disconnected():
                return
            arrived = tail.arrival()
            page = await _range_in_turn(redis, stream, "(" + cursor, "+", PAGE)
            for entry_id, raw in page:
                cursor = entry_id
                message = handle(entry_id, raw)
                if message is not None:
                    yield message
                    last_sent = time.monotonic()
                    sent += 1
                    if stop_after is not None and sent >= stop_after:
                        return
            if not page:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), block_ms / 1000)
            if time.monotonic() - last_sent >= keepalive_s:
                yield KEEPALIVE
                last_sent = time.monotonic()
