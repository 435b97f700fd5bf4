"""The feed registry and poll schedule in Redis (used by the API, the CLI and the fetcher), and OPML
import and export of the registered feeds.

This module is the only writer of the feed keys. A feed's id is derived from
its canonical URL, so adding the same feed twice is harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.errors import InvalidUrl
from services.common.keys import Keys
from services.common.redis import Redis
from services.common.urls import canonical_url, host_of, normalize_url
from services.fetcher.opml import CATEGORY_SEPARATOR, OpmlFeed, parse_opml, render_opml, split_category


class Feed(BaseModel):
    """A registered feed."""

    model_config = ConfigDict(frozen=True)
    id: str
    url: str
    name: str
    added_at: datetime
    paused: bool = False
    title: str | None = None
    """The feed's own title (OPML `title`), where known."""
    html_url: str | None = None
    """The site the feed belongs to (OPML `htmlUrl`)."""
    category: str | None = None
    """Folder path, "/"-separated ("News/World"): the OPML folders the feed was imported from."""


#: Longest name or title kept (longer ones are cut): they are labels, and OPML files are untrusted.
MAX_LABEL_CHARS = 200
MAX_CATEGORY_CHARS = 500


#: A feed to register, with what a person or an OPML outline says about it (url, name, title,
#: html_url, category): the very shape of an OPML outline, defined once there.
NewFeed = OpmlFeed


@dataclass(frozen=True)
class AddedFeeds:
    """What `FeedRegistry.add_many` did with each entry, in the order given.

    `existing` holds feeds registered before (and entries repeating an earlier one of the same
    list); `invalid` holds (URL as given, reason) for entries wirewatch cannot fetch.
    """

    added: list[Feed]
    existing: list[Feed]
    invalid: list[tuple[str, str]]


class FeedState(BaseModel):
    """What the last polls of a feed found (feed health)."""

    etag: str | None = None
    last_modified: str | None = None
    last_poll: float | None = None
    last_success: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    failure_class: str | None = Field(None, description="kind of the last failure (poll.FAILURE_CLASSES)")
    failing_since: float | None = Field(None, description="first failure of the current run of failures")
    disabled: bool = Field(False, description="failing for days: retried only slowly until it answers")
    consecutive_errors: int = 0
    items_total: int = 0
    polls_total: int = 0
    items_per_day: float | None = Field(None, description="publishing rate over the last week")
    interval_s: float | None = Field(None, description="the adaptive interval between polls")
    body_hash: str | None = Field(None, description="hash of the last body: an unchanged body counts as a 304")
    next_poll: float | None = None


def feed_id(url: str) -> str:
    """Stable id of a feed URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def feeds_opml(feeds: Iterable[Feed]) -> bytes:
    """Feeds (paused ones too) as an OPML 2.0 document, nested by category: what an export writes."""
    return render_opml(
        (OpmlFeed(url=f.url, name=f.name, title=f.title, html_url=f.html_url, category=f.category) for f in feeds),
        title="wirewatch feeds", created=datetime.now(UTC),
    )


def _label(value: str | None) -> str | None:
    """A name or title with its whitespace collapsed and its length capped; None when empty."""
    value = " ".join((value or "").split())[:MAX_LABEL_CHARS]
    return value or None


# Takes the feeds due now and pushes their next time out by a lease, in one step,
# so two fetchers never poll the same feed at once.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return ids
"""

# Registers each (id, JSON) pair in ARGV[2..] not registered yet and schedules it at ARGV[1], in one
# step; a feed already registered keeps its entry and its place in the schedule (or, when paused,
# stays out of it). Returns the ids added.
_ADD_FEEDS = """
local added = {}
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    added[#added + 1] = ARGV[i]
  end
end
return added
"""

# Compare-and-set of one feed's JSON together with its place in the schedule: writes ARGV[3] only
# if the entry is still ARGV[2], so a concurrent remove is never undone. ARGV[4] = due time, or ''
# to take the feed out of the schedule. Returns 1 if written.
_SET_FEED = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return 1
"""
# Feeds written per script call on import, so one large OPML file never blocks Redis for long.
_ADD_BATCH = 500
# Compare-and-set rounds before giving up (only a feed changed that often at once exhausts them).
_SET_ATTEMPTS = 10


class FeedRegistry:
    """Feeds, their state and their schedule."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._claim_due = redis.register_script(_CLAIM_DUE)
        self._add_feeds = redis.register_script(_ADD_FEEDS)
        self._set_feed = redis.register_script(_SET_FEED)

    async def add(self, url: str, name: str | None = None, *, title: str | None = None,
                  html_url: str | None = None, category: str | None = None) -> Feed:
        """Register a feed and schedule its first poll now; InvalidUrl if wirewatch cannot fetch `url`.

        Idempotent: a URL already registered (in any spelling with the same canonical form)
        returns the registered feed unchanged, paused or not.
        """
        feed = self._new_feed(NewFeed(url=url, name=name, title=title, html_url=html_url, category=category),
                              datetime.now(UTC))
        added = await self._insert([feed])
        return feed if feed.id in added else (await self.get(feed.id) or feed)

    async def add_many(self, entries: Iterable[NewFeed]) -> AddedFeeds:
        """Register many feeds (an OPML import): new ones are scheduled now, known ones left as they are.

        Invalid URLs are reported, never raised, so one bad entry does not stop an import.
        """
        now = datetime.now(UTC)
        order: list[str] = []
        new: dict[str, Feed] = {}
        invalid: list[tuple[str, str]] = []
        for entry in entries:
            try:
                # One microsecond apart, so that listing (oldest first) keeps the order of the import.
                feed = self._new_feed(entry, now + timedelta(microseconds=len(order)))
            except InvalidUrl as exc:
                invalid.append((entry.url, str(exc)))
                continue
            order.append(feed.id)
            new.setdefault(feed.id, feed)
        added_ids = await self._insert(list(new.values()))
        known = dict(zip(new, await self.get_many(list(new)), strict=True))
        added: list[Feed] = []
        existing: list[Feed] = []
        for fid in order:
            feed = known[fid] or new[fid]
            if fid in added_ids:
                added.append(feed)
                added_ids.discard(fid)  # a later repeat of it in the same list is "existing"
            else:
                existing.append(feed)
        return AddedFeeds(added=added, existing=existing, invalid=invalid)

    async def import_opml(self, data: bytes) -> AddedFeeds:
        """Register every feed of an OPML document, keeping names, titles, site URLs and folders.

        Raises `services.fetcher.opml.InvalidOpml` when the document cannot be read; entries with an
        unusable URL are reported in `AddedFeeds.invalid` instead.
        """
        return await self.add_many(parse_opml(data).feeds)

    def _new_feed(self, entry: NewFeed, added_at: datetime) -> Feed:
        """The Feed an entry describes, its labels tidied; InvalidUrl for a URL wirewatch cannot fetch."""
        canon = canonical_url(entry.url)
        html_url = None
        if entry.html_url:
            with contextlib.suppress(InvalidUrl):  # only shown, never fetched: a bad one is dropped
                html_url = normalize_url(entry.html_url)
        category = CATEGORY_SEPARATOR.join(split_category(entry.category))[:MAX_CATEGORY_CHARS]
        return Feed(id=feed_id(canon), url=canon, name=_label(entry.name) or host_of(canon), added_at=added_at,
                    title=_label(entry.title), html_url=html_url, category=category or None)

    async def _insert(self, feeds: list[Feed]) -> set[str]:
        """Store the feeds not registered yet and schedule them now; returns the ids stored."""
        added: set[str] = set()
        for start in range(0, len(feeds), _ADD_BATCH):
            args: list[str | float] = [time.time()]
            for feed in feeds[start:start + _ADD_BATCH]:
                args += [feed.id, feed.model_dump_json()]
            ids = await self._add_feeds(keys=[self.keys.feeds, self.keys.feeds_due], args=args)
            added.update(str(i) for i in ids)
        return added

    async def get(self, fid: str) -> Feed | None:
        """One feed, or None."""
        raw = await self.redis.hget(self.keys.feeds, fid)
        return Feed.model_validate_json(raw) if raw else None

    async def get_many(self, fids: list[str]) -> list[Feed | None]:
        """The feeds with these ids, in the same order (None where unknown)."""
        if not fids:
            return []
        raws = await self.redis.hmget(self.keys.feeds, fids)
        return [Feed.model_validate_json(raw) if raw else None for raw in raws]

    async def find(self, ref: str) -> Feed | None:
        """A feed by its id, or by its URL in any spelling with the same canonical form; None if unknown."""
        feed = await self.get(ref)
        if feed is not None or "://" not in ref:
            return feed
        try:
            return await self.get(feed_id(canonical_url(ref)))
        except InvalidUrl:
            return None

    async def pause(self, fid: str) -> Feed | None:
        """Stop polling a feed: it leaves the schedule (its state and articles stay). None if unknown."""
        return await self._set_paused(fid, paused=True)

    async def resume(self, fid: str) -> Feed | None:
        """Poll a paused feed again, the first time now. None if unknown; an active feed is left as it is."""
        return await self._set_paused(fid, paused=False)

    async def _set_paused(self, fid: str, *, paused: bool) -> Feed | None:
        for _ in range(_SET_ATTEMPTS):
            raw = await self.redis.hget(self.keys.feeds, fid)
            if not raw:
                return None
            feed = Feed.model_validate_json(raw)
            if not paused and not feed.paused:
                return feed  # resuming an active feed must not move its next poll
            # Pausing a paused feed writes again: it also takes the feed out of the schedule should
            # anything have put it back.
            changed = feed.model_copy(update={"paused": paused})
            due = "" if paused else repr(time.time())
            written = await self._set_feed(keys=[self.keys.feeds, self.keys.feeds_due],
                                           args=[fid, raw, changed.model_dump_json(), due])
            if written:
                return changed
        raise RuntimeError(f"feed {fid} kept changing while being {'paused' if paused else 'resumed'}")

    async def all(self) -> list[Feed]:
        """Every feed, oldest first."""
        raw = await self.redis.hvals(self.keys.feeds)
        return sorted((Feed.model_validate_json(r) for r in raw), key=lambda f: f.added_at)

    async def remove(self, fid: str) -> bool:
        """Unregister a feed; False if it was unknown."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.feeds, fid)
            pipe.zrem(self.keys.feeds_due, fid)
            pipe.delete(self.keys.feed_state(fid))
            removed, _, _ = await pipe.execute()
        return bool(removed)

    async def state(self, fid: str) -> FeedState:
        """The feed's poll state (empty if never polled)."""
        raw = await self.redis.hgetall(self.keys.feed_state(fid))
        data: dict[str, Any] = {str(k): v for k, v in raw.items() if v != ""}
        state = FeedState.model_validate(data)
        score = await self.redis.zscore(self.keys.feeds_due, fid)
        return state.model_copy(update={"next_poll": score})

    async def record_poll(self, fid: str, state: FeedState, next_poll: float) -> None:
        """Save a poll's outcome and when to poll next (skipped if the feed was removed meanwhile)."""
        values = state.model_dump(exclude={"next_poll"})
        fields: dict[Any, Any] = {k: ("" if v is None else str(v)) for k, v in values.items()}
        if not await self.redis.hexists(self.keys.feeds, fid):
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.feed_state(fid), mapping=fields)
            pipe.zadd(self.keys.feeds_due, {fid: next_poll}, xx=True)
            await pipe.execute()

    async def claim_due(self, *, lease_s: float, limit: int) -> list[str]:
        """Ids of feeds due now, leased to the caller for `lease_s` seconds."""
        now = time.time()
        ids = await self._claim_due(keys=[self.keys.feeds_due], args=[now, limit, now + lease_s])
        return [str(i) for i in ids]

    async def poll_now(self, fid: str) -> None:
        """Make a feed due immediately."""
        await self.redis.zadd(self.keys.feeds_due, {fid: time.time()}, xx=True)
