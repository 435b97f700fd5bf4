"""The entity alias table: keys learned across articles stay consistent.

Within one article the extractor already resolves short mentions to the full
name ("Putin" -> "person:vladimir putin"). An article that says only "Putin"
cannot, and would file him under "person:putin". The table remembers, in Redis,
which full key each short key stood for in the articles that gave both, and
rewrites later articles' keys to it.

What is learned (from one article's entity and the other keys it was written as):

* only aliases of the same type: the small model tags a surname as a place once
  the person is known ("Soleimani" GPE), but "gpe:jordan" must never become a
  basketball player;
* for people, only a surname or a tail of the full name ("putin", "bashar assad"),
  never a first name ("qassem" is too many people);
* organisations and the other types: any alias (acronym <-> long name, a name
  without its "news agency" tail).

An alias used for two different entities goes to the one more articles used it
for (ties keep the earlier): one vote per article, so it settles and never
flips back and forth. Resolution follows at most MAX_HOPS aliases and never
loops. Owner of the keys: this module; the extractor writes, the API reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import Redis

MAX_HOPS = 4

# KEYS[1] aliases HASH, KEYS[2] names HASH. ARGV[1] votes key prefix, ARGV[2] known-as key prefix,
# ARGV[3] JSON [[key, name, [learnable aliases]], ...], ARGV[4] max hops.
# Returns JSON [[resolved key, display name], ...] in the order given. One script: an article's
# lookups and what it teaches are one step, so two extractors never half-learn an alias.
_RESOLVE_AND_LEARN = """
local aliases, names = KEYS[1], KEYS[2]
local votes_prefix, known_prefix = ARGV[1], ARGV[2]
local items = cjson.decode(ARGV[3])
local max_hops = tonumber(ARGV[4])
local function resolve(key)
  for _ = 1, max_hops do
    local nxt = redis.call('HGET', aliases, key)
    if not nxt then return key, true end
    key = nxt
  end
  return key, redis.call('HEXISTS', aliases, key) == 0
end
local out = {}
for i, item in ipairs(items) do
  local key, name, learn = item[1], item[2], item[3]
  local canonical, terminal = resolve(key)
  if canonical == key then
    local known = redis.call('HGET', names, key)
    if not known or #name > #known then redis.call('HSET', names, key, name) end
  else
    name = redis.call('HGET', names, canonical) or name
  end
  if terminal then
    for _, alias in ipairs(learn) do
      if alias ~= canonical then
        local votes = votes_prefix .. alias
        local mine = redis.call('HINCRBY', votes, canonical, 1)
        local current = redis.call('HGET', aliases, alias)
        local theirs = current and tonumber(redis.call('HGET', votes, current) or '0') or 0
        -- Only onto a key that is no alias itself: the table can then never hold a loop.
        if current ~= canonical and mine > theirs and redis.call('HEXISTS', aliases, canonical) == 0 then
          redis.call('HSET', aliases, alias, canonical)
          if current then redis.call('SREM', known_prefix .. current, alias) end
          redis.call('SADD', known_prefix .. canonical, alias)
        end
      end
    end
  end
  out[i] = {canonical, name}
end
return cjson.encode(out)
"""


def learnable_aliases(entity: Entity) -> list[str]:
    """The entity's in-article aliases the table may learn (see the module docstring)."""
    kind, _, name = entity.key.partition(":")
    words = name.split()
    out = []
    for alias in entity.aliases:
        alias_kind, _, alias_name = alias.partition(":")
        if alias_kind != kind or not alias_name or alias_name == name:
            continue
        if kind == "person":
            alias_words = alias_name.split()
            if len(alias_words) >= len(words) or words[-len(alias_words):] != alias_words:
                continue
        out.append(alias)
    return out


class AliasTable:
    """Entity keys learned across articles, in Redis (sole writer of the entity alias keys)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(_RESOLVE_AND_LEARN)

    async def resolve(self, entities: Sequence[Entity]) -> list[Entity]:
        """An article's entities under the keys the table knows them by, learning its aliases on the way.

        Entities that resolve to one key become one (counts added, earliest position, aliases joined);
        order by first position, as tagged. One Redis round trip.
        """
        if not entities:
            return []
        items = [[e.key, e.name, learnable_aliases(e)] for e in entities]
        reply = await self._script(
            keys=[self.keys.entity_aliases, self.keys.entity_names],
            args=[self.keys.entity_alias_votes_prefix, self.keys.entity_known_as_prefix,
                  json.dumps(items), MAX_HOPS])
        resolved: dict[str, Entity] = {}
        for entity, (key, name) in zip(entities, json.loads(reply), strict=True):
            aliases = set(entity.aliases) | ({entity.key} - {key})
            earlier = resolved.get(key)
            if earlier is not None:
                aliases |= set(earlier.aliases)
                entity = entity.model_copy(update={
                    "count": earlier.count + entity.count,
                    "first_position": min(earlier.first_position, entity.first_position)})
            resolved[key] = entity.model_copy(update={"key": key, "name": name, "aliases": sorted(aliases - {key})})
        return sorted(resolved.values(), key=lambda e: (e.first_position, e.key))

    async def aliases_of(self, key: str) -> list[str]:
        """The alias keys that resolve directly to `key`."""
        return sorted(str(a) for a in await self.redis.smembers(self.keys.entity_known_as_prefix + key))

    async def canonical(self, key: str) -> str:
        """The key `key` resolves to (itself when it is no alias)."""
        for _ in range(MAX_HOPS):
            target = await self.redis.hget(self.keys.entity_aliases, key)
            if not target or target == key:
                break
            key = str(target)
        return key

    async def display_name(self, key: str) -> str | None:
        """The fullest name an article gave the entity under `key`, or None when it was never recorded."""
        raw = await self.redis.hget(self.keys.entity_names, key)
        return str(raw) if raw else None
