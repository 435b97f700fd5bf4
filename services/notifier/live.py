"""The live stream of story events: the notifier writes it, the API's SSE endpoint reads it.

The notifier appends one entry per story event (once, even when the story-events topic is replayed) to
the capped Redis STREAM `keys.story_stream` (field `z`: the StoryEvent JSON, zstd-compressed; entries of
older versions hold it plain in `event`, and are read too). Its entry ids are the SSE
event ids, so a client that reconnects with `Last-Event-ID` is sent every entry after that id the stream
still holds (the replay window: about the last `STORY_STREAM_MAX` events), then the live ones.

`story_sse` is the reader (an async generator of SSE text, drivable without HTTP); `GET /v1/stream`
validates the request and serves it as `text/event-stream`. Owner of the stream's keys.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
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


async def _read(redis: Redis, stream: str, cursor: str, block_ms: int) -> list[Entry]:
    """Entries after `cursor`, waiting up to `block_ms` for some (empty when none came)."""
    read = await redis.execute_command(  # type: ignore[no-untyped-call]
        "XREAD", "COUNT", PAGE, "BLOCK", block_ms, "STREAMS", stream, cursor, **{NEVER_DECODE: True})
    if isinstance(read, dict):  # RESP3: {stream: [entries]}
        read = list(read.items())
    return [entry for _, entries in cast(list[tuple[bytes, list[_RawEntry]]] | None, read) or []
            for entry in _entries(entries)]


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

    # Where the live part starts; the replay (if any) runs first.
    if last_event_id is None:
        cursor = await _newest(redis, stream) or "0-0"
    else:
        if parse_event_id(last_event_id) is not None and await _range(redis, stream, last_event_id, last_event_id, 1):
            start = "(" + last_event_id
        else:
            oldest = await _range(redis, stream, "-", "+", 1)
            yield (f": replay window exceeded: event {last_event_id!r} is no longer kept (the stream keeps about "
                   f"the last {STORY_STREAM_MAX} story events); replaying from the oldest kept"
                   f"{' (' + oldest[0][0] + ')' if oldest else ''}\n\n")
            last_sent = time.monotonic()
            start = "-"
        cursor = last_event_id if start != "-" else "0-0"
        while True:
            page = await _range(redis, stream, start, "+", PAGE)
            for entry_id, raw in page:
                cursor = entry_id
                message = handle(entry_id, raw)
                if message is not None:
                    yield message
                    last_sent = time.monotonic()
                    sent += 1
                    if stop_after is not None and sent >= stop_after:
                        return
            if len(page) < PAGE:
                break
            start = "(" + cursor

    while True:
        if is_disconnected is not None and await is_disconnected():
            return
        for entry_id, raw in await _read(redis, stream, cursor, block_ms):
            cursor = entry_id
            message = handle(entry_id, raw)
            if message is not None:
                yield message
                last_sent = time.monotonic()
                sent += 1
                if stop_after is not None and sent >= stop_after:
                    return
        if time.monotonic() - last_sent >= keepalive_s:
            yield KEEPALIVE
            last_sent = time.monotonic()
