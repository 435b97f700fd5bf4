"""The feed registry and poll schedule in Redis (used by the API, the CLI and the fetcher).

This module is the only writer of the feed keys. A feed's id is derived from
its canonical URL, so adding the same feed twice is harmless.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.keys import Keys
from services.common.redis import Redis
from services.common.urls import canonical_url, host_of


class Feed(BaseModel):
    """A registered feed."""

    model_config = ConfigDict(frozen=True)
    id: str
    url: str
    name: str
    added_at: datetime
    paused: bool = False


class FeedState(BaseModel):
    """What the last polls of a feed found (feed health)."""

    etag: str | None = None
    last_modified: str | None = None
    last_poll: float | None = None
    last_success: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    failure_class: str | None = Field(None, description="kind of the last failure (services.fetcher.schedule)")
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


# Takes the feeds due now and pushes their next time out by a lease, in one step,
# so two fetchers never poll the same feed at once.
_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return ids
"""


class FeedRegistry:
    """Feeds, their state and their schedule."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._claim_due = redis.register_script(_CLAIM_DUE)

    async def add(self, url: str, name: str | None = None) -> Feed:
        """Register a feed (idempotent) and schedule its first poll now."""
        canon = canonical_url(url)
        fid = feed_id(canon)
        existing = await self.get(fid)
        if existing is not None:
            return existing
        feed = Feed(id=fid, url=canon, name=name or host_of(canon), added_at=datetime.now(UTC))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self.keys.feeds, fid, feed.model_dump_json())
            pipe.zadd(self.keys.feeds_due, {fid: time.time()}, nx=True)
            await pipe.execute()
        return feed

    async def get(self, fid: str) -> Feed | None:
        """One feed, or None."""
        raw = await self.redis.hget(self.keys.feeds, fid)
        return Feed.model_validate_json(raw) if raw else None

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
