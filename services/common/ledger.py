"""The seen-set and the in-flight ledger of feed items.

An item is *pending* from the moment the fetcher first emits it until the
store has stored it durably (or the extractor dead-letters it). The embedded
broker keeps its log in memory only, so a broker restart would otherwise lose
what was in flight: the fetcher emits pending items again once they are older
than a grace period, and idempotent consumers make the repeat harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.common.keys import Keys
from services.common.messages import FeedItem
from services.common.redis import Redis
from services.common.settings import Settings

# Marks the URL seen (with TTL) and enters it in the ledger in one step, so an
# item is emitted once even when two fetchers find it at the same moment.
_CLAIM = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[3], 1)
  return 1
end
return 0
"""

# Takes pending items older than the cutoff and re-stamps them, so concurrent
# fetchers do not emit the same one twice in one round.
_DUE_AGAIN = """
local urls = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, url in ipairs(urls) do
  redis.call('ZADD', KEYS[1], ARGV[3], url)
  local n = redis.call('HINCRBY', KEYS[3], url, 1)
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
            keys=[k.seen(item.url), k.pending, k.pending_items, k.pending_attempts],
            args=[self.seen_ttl_s, time.time(), item.url, item.model_dump_json()],
        )
        return bool(result)

    async def due_again(self, older_than_s: float, limit: int = 500) -> list[tuple[FeedItem, int]]:
        """Pending items emitted more than `older_than_s` ago, with how often they were emitted."""
        now = time.time()
        k = self.keys
        flat = await self._due_again(
            keys=[k.pending, k.pending_items, k.pending_attempts], args=[now - older_than_s, limit, now]
        )
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
            pipe.hdel(k.pending_items, *urls)
            pipe.hdel(k.pending_attempts, *urls)
            await pipe.execute()

    async def pending_count(self) -> int:
        """How many items are in flight."""
        return int(await self.redis.zcard(self.keys.pending))
