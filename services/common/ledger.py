"""The seen-set and the in-flight ledger of feed items, and the outbox of story events.

An item is *pending* from the moment the fetcher first emits it until the
store has stored it durably (or the extractor dead-letters it). The embedded
broker keeps its log in memory only, so a broker restart would otherwise lose
what was in flight: the fetcher emits pending items again as soon as the broker
shows a new incarnation (services.common.incarnation), and in any case once they
are older than a grace period; idempotent consumers make the repeat harmless.

Story events get the same protection (`EventOutbox`): the store records each
event before it publishes it, the notifier removes it once handled, and the
notifier handles what is left over itself (after a broker restart at once, else
after the grace period), so an alert is not lost with the broker either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.common.keys import Keys
from services.common.messages import FeedItem, StoryEvent
from services.common.redis import Redis
from services.common.settings import Settings

# Marks the URL seen (with TTL) and enters it in the ledger in one step, so an
# item is emitted once even when two fetchers find it at the same moment; it is
# unsent until the fetcher tells the broker acknowledged it (`sent`).
_CLAIM = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[3], 1)
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
  return 1
end
return 0
"""

# Takes items of KEYS[1] (pending, or unsent) older than the cutoff and re-stamps them, so concurrent
# fetchers do not emit the same one twice in one round; ARGV[4] = '1' counts the emission as an attempt.
_DUE_AGAIN = """
local urls = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, url in ipairs(urls) do
  redis.call('ZADD', KEYS[1], ARGV[3], url)
  local n
  if ARGV[4] == '1' then n = redis.call('HINCRBY', KEYS[3], url, 1) else n = redis.call('HGET', KEYS[3], url) or 0 end
  table.insert(out, url)
  table.insert(out, redis.call('HGET', KEYS[2], url) or '')
  table.insert(out, n)
end
return out
"""


class Ledger:
    """Seen URLs and pending items in Redis (sole writer of those keys)."""

    @classmethod
    def from_settings(cls, redis: Redis, keys: Keys, settings: Settings) -> Ledger:
        """A ledger remembering seen URLs for settings.seen_ttl_days."""
        return cls(redis, keys, seen_ttl_s=int(settings.seen_ttl_days * 86400))

    def __init__(self, redis: Redis, keys: Keys, *, seen_ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.seen_ttl_s = seen_ttl_s
        self._claim = redis.register_script(_CLAIM)
        self._due_again = redis.register_script(_DUE_AGAIN)

    async def claim(self, item: FeedItem) -> bool:
        """True if this URL is new: it is now seen and pending, and the caller must emit it."""
        k = self.keys
        result = await self._claim(
            keys=[k.seen(item.url), k.pending, k.pending_items, k.pending_attempts, k.unsent],
            args=[self.seen_ttl_s, time.time(), item.url, item.model_dump_json()],
        )
        return bool(result)

    async def due_again(self, older_than_s: float, limit: int = 500, *,
                        emitted_before: float | None = None) -> list[tuple[FeedItem, int]]:
        """Pending items emitted more than `older_than_s` ago (or before the time `emitted_before`), with how
        often they were emitted; each is stamped as emitted now, so a loop with a fixed `emitted_before`
        ends."""
        now = time.time()
        cutoff = emitted_before if emitted_before is not None else now - older_than_s
        k = self.keys
        return await self._take(k.pending, cutoff, limit, now, count=True)

    async def unsent_again(self, older_than_s: float, limit: int = 500) -> list[tuple[FeedItem, int]]:
        """Items claimed more than `older_than_s` ago whose send the broker never acknowledged (their fetcher
        died in between, or the send failed), with how often they were emitted; each is stamped as taken now.
        Not counted as an attempt: a send that never reached the broker (an outage) must not use them up."""
        now = time.time()
        return await self._take(self.keys.unsent, now - older_than_s, limit, now, count=False)

    async def sent(self, url: str) -> None:
        """The broker acknowledged the item: it is in flight, no longer at risk of never being sent."""
        await self.redis.zrem(self.keys.unsent, url)

    async def _take(self, source: str, cutoff: float, limit: int, now: float, *,
                    count: bool) -> list[tuple[FeedItem, int]]:
        k = self.keys
        flat = await self._due_again(keys=[source, k.pending_items, k.pending_attempts],
                                     args=[cutoff, limit, now, "1" if count else "0"])
        out: list[tuple[FeedItem, int]] = []
        for i in range(0, len(flat), 3):
            raw, attempts = flat[i + 1], int(flat[i + 2])
            if raw:
                out.append((FeedItem.model_validate_json(raw), attempts))
            else:
                await self.settle(flat[i])
        return out

    async def settle(self, url: str) -> None:
        """The item's journey is over (stored, or dead-lettered): drop it from the ledger."""
        await self.settle_many([url])

    async def settle_many(self, urls: Sequence[str]) -> None:
        """settle() for several items, in one round trip."""
        if not urls:
            return
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(k.pending, *urls)
            pipe.zrem(k.unsent, *urls)
            pipe.hdel(k.pending_items, *urls)
            pipe.hdel(k.pending_attempts, *urls)
            await pipe.execute()

    async def pending_count(self) -> int:
        """How many items are in flight."""
        return int(await self.redis.zcard(self.keys.pending))


# Takes events recorded before the cutoff and re-stamps them, so two drainers do not take the same one.
_OUTBOX_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    table.insert(out, raw)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""


def event_id(event: StoryEvent) -> str:
    """What identifies a story event across re-emissions (what the notifier deduplicates on)."""
    return "|".join((event.cluster_id, event.kind, event.article_id, event.merged_into or ""))


class EventOutbox:
    """Story events the store emitted that the notifier has not handled yet (sole writer of the outbox keys).

    All keys share the `{outbox}` hash tag, so the due script touches one slot on Redis Cluster.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._due = redis.register_script(_OUTBOX_DUE)

    async def add_many(self, events: Sequence[StoryEvent]) -> None:
        """Record events before they are published (the store calls this)."""
        if not events:
            return
        now = time.time()
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.outbox, mapping={event_id(e): e.model_dump_json() for e in events})
            pipe.zadd(k.outbox_due, {event_id(e): now for e in events})
            await pipe.execute()

    async def settle(self, event: StoryEvent) -> None:
        """The event was handled (the notifier calls this): forget it."""
        eid = event_id(event)
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(k.outbox_due, eid)
            pipe.hdel(k.outbox, eid)
            await pipe.execute()

    async def due(self, *, emitted_before: float, limit: int = 500) -> list[StoryEvent]:
        """Events recorded before `emitted_before` and not handled since, oldest first (each re-stamped now)."""
        k = self.keys
        raws = await self._due(keys=[k.outbox_due, k.outbox], args=[emitted_before, limit, time.time()])
        return [StoryEvent.model_validate_json(raw) for raw in raws]

    async def pending_count(self) -> int:
        """How many events wait for the notifier."""
        return int(await self.redis.zcard(self.keys.outbox_due))
