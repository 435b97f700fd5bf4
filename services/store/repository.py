"""Redis reads and writes of articles, clusters and their indexes (sole writer of those keys).

A batch of placements is written by one Lua script (`commit`) that first checks
the version of every cluster the batch read and writes nothing if another store
instance changed one since, so two instances updating the same cluster never
lose each other's update (the loser reads again and redoes its batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, model_validator
from redis.client import NEVER_DECODE

from services.common.keys import Keys
from services.common.messages import Article
from services.common.redis import Redis
from services.store.compression import MAGIC, Codec

WRITE_RETRIES = 20
#: Buckets the document frequencies are kept for one by one (a HASH) before they move into the dense block of
#: u32 counters (services.store.idf: 2**22 of them, 16 MiB): a HASH field costs ~70-80 bytes, so about here
#: the two weigh the same. A young store counts a few tens of thousands of distinct terms.
SPARSE_DF_BUCKETS = 200_000
MAX_ALIAS_HOPS = 5
# Newest stories read per index key: a common entity ("gpe:us") is posted by thousands of
# stories, and the candidate lookup must not grow with them.
# 10, 15, 30, 50 and 100 score the same F1 on the dev set (10: 0.9201, the others 0.9198); reading and
# counting them is a fifth of the store's time at 30, so the fewest.
POSTINGS_PER_KEY = 10
#: Newest stories kept per index key: the most any reader asks for (the API's and CLI's entity pages read
#: 1,000), so a common entity's or word's key stops growing with the stream.
POSTINGS_KEPT_PER_KEY = 1000

# Raises the partition's high-water mark ("offset:record key"), never lowers it.
_RAISE_HIGH_WATER = """
local cur = redis.call('GET', KEYS[1])
local cur_offset = -1
if cur then cur_offset = tonumber(string.match(cur, '^(-?%d+)')) end
if tonumber(ARGV[1]) > cur_offset then redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2]) end
return cur_offset
"""


@dataclass(frozen=True)
class HighWater:
    """The last finished record of a partition: its offset and key (the key tells a reused offset)."""

    offset: int
    key: str


# Newest clusters posted under each index key within [ARGV[1], ARGV[2]], at most ARGV[3] per key;
# ARGV[4] = newline-joined posting keys. One line per key: id and time pairs, space-joined.
_READ_POSTINGS = """
local out = {}
for key in string.gmatch(ARGV[4], "[^\\n]+") do
  out[#out + 1] = table.concat(redis.call('ZREVRANGEBYSCORE', key, ARGV[2], ARGV[1], 'WITHSCORES', 'LIMIT', 0,
                                          ARGV[3]), ' ')
end
return table.concat(out, '\\n')
"""

# A batch's whole write, atomic: check the version of every cluster the batch read, and write
# nothing (returning the ids that changed) if another instance wrote one since; else write the
# articles, bodies, merges, clusters, index postings and document-frequency increments.
# One script with the values as arguments, not a MULTI of ~5 commands per article: queueing,
# packing and parsing those commands was a third of the store's time.
#
# KEYS: articles-recent ZSET, clusters-recent ZSET, DF counters (dense), DF document count, DF counters
# (sparse), then per section the keys its items write (see Repository.commit). ARGV[1] = TTL s ('' = none),
# ARGV[2] = posting window s ('' = none), ARGV[3] = item counts per section, ARGV[4] = posting
# lines "key<TAB>cluster id<TAB>time", ARGV[5] = DF pairs "bucket count ...", ARGV[6] = documents
# counted, ARGV[7] = buckets the sparse DF counters hold at most, ARGV[8] = postings kept per key, then the
# sections' values from ARGV[9].
_COMMIT = """
local ttl = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = {}
for c in string.gmatch(ARGV[3], '%d+') do n[#n + 1] = tonumber(c) end
local k, a = 6, 9
local conflicts, versions = {}, {}
for i = 1, n[1] do  -- expected versions: id, version
  versions[ARGV[a]] = tonumber(ARGV[a + 1])
  if tonumber(redis.call('HGET', KEYS[k], 'v') or '0') ~= versions[ARGV[a]] then
    conflicts[#conflicts + 1] = ARGV[a]
  end
  k = k + 1; a = a + 2
end
if #conflicts > 0 then return conflicts end
local function set(key, value, ...)
  if ttl then return redis.call('SET', key, value, 'EX', ttl, ...) end
  return redis.call('SET', key, value, ...)
end
for i = 1, n[2] do  -- new articles (key, text key): id, record, text, time
  set(KEYS[k], ARGV[a + 1])
  set(KEYS[k + 1], ARGV[a + 2])
  redis.call('ZADD', KEYS[1], ARGV[a + 3], ARGV[a])
  k = k + 2; a = a + 4
end
for i = 1, n[3] do  -- moved articles (key, text key): record, text ('' = not read); the text of an article
  redis.call('SET', KEYS[k], ARGV[a], 'KEEPTTL')  -- stored before texts were kept apart moves out with it
  if ARGV[a + 1] ~= '' then
    local left = redis.call('PTTL', KEYS[k])
    if left > 0 then redis.call('SET', KEYS[k + 1], ARGV[a + 1], 'NX', 'PX', left)
    else redis.call('SET', KEYS[k + 1], ARGV[a + 1], 'NX') end
  end
  k = k + 2; a = a + 2
end
for i = 1, n[4] do  -- first article with a body: owner id
  set(KEYS[k], ARGV[a], 'NX')
  k = k + 1; a = a + 1
end
for i = 1, n[5] do  -- merged-away clusters (key, alias key, member list): id, survivor id (its members moved
  redis.call('DEL', KEYS[k], KEYS[k + 2])  -- to the survivor's list below)
  set(KEYS[k + 1], ARGV[a + 1])
  redis.call('ZREM', KEYS[2], ARGV[a])
  k = k + 3; a = a + 2
end
for i = 1, n[6] do  -- clusters (key, member list): id, json, last updated, m, then m members to append
  local checked = versions[ARGV[a]]
  if checked then  -- its version is the one checked above: written with the summary in one call
    redis.call('HSET', KEYS[k], 'json', ARGV[a + 1], 'v', tostring(checked + 1))
  else
    redis.call('HSET', KEYS[k], 'json', ARGV[a + 1])
    redis.call('HINCRBY', KEYS[k], 'v', 1)
  end
  local m = tonumber(ARGV[a + 3])
  for j = a + 4, a + 3 + m, 1000 do  -- a merge may move thousands: unpack has a stack limit
    redis.call('RPUSH', KEYS[k + 1], unpack(ARGV, j, math.min(j + 999, a + 3 + m)))
  end
  if ttl then
    redis.call('EXPIRE', KEYS[k], ttl)
    redis.call('EXPIRE', KEYS[k + 1], ttl)
  end
  redis.call('ZADD', KEYS[2], ARGV[a + 2], ARGV[a])
  k = k + 2; a = a + 4 + m
end
-- Postings older than the window before the newest time are dropped: those stories can take no new article.
-- Only a new member grows a posting list, so only then is it trimmed (most writes move a story's time), to
-- the window and to the newest ARGV[8]. A key not posted to for a window expires (a rare word's key).
local kept = tonumber(ARGV[8])
for key, id, t in string.gmatch(ARGV[4], "([^\\t\\n]+)\\t([^\\t\\n]+)\\t([^\\t\\n]+)") do
  if redis.call('ZADD', key, 'GT', t, id) > 0 then
    if window then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(t) - window)) end
    if redis.call('ZCARD', key) > kept then redis.call('ZREMRANGEBYRANK', key, 0, -kept - 1) end
  end
  if window then redis.call('EXPIRE', key, math.ceil(window)) end
end
-- Document-frequency increments: into a HASH of the buckets counted so far while it is small (a young
-- store uses a few of the 4 M buckets), into dense u32 counters (one BITFIELD per 500 pairs) once it
-- would outgrow them; the HASH moves into the counters in the write that crosses the bound.
local function dense(pairs)
  local args = {'OVERFLOW', 'SAT'}
  for i = 1, #pairs, 2 do
    args[#args + 1] = 'INCRBY'; args[#args + 1] = 'u32'; args[#args + 1] = '#' .. pairs[i]
    args[#args + 1] = pairs[i + 1]
    if #args >= 2002 then
      redis.call('BITFIELD', KEYS[3], unpack(args))
      args = {'OVERFLOW', 'SAT'}
    end
  end
  if #args > 2 then redis.call('BITFIELD', KEYS[3], unpack(args)) end
end
if tonumber(ARGV[6]) > 0 then
  local pairs = {}
  for bucket, c in string.gmatch(ARGV[5], "(%d+) (%d+)") do pairs[#pairs + 1] = bucket; pairs[#pairs + 1] = c end
  if redis.call('EXISTS', KEYS[3]) == 1 then
    dense(pairs)
  else
    -- Read and written 500 buckets a call: a HINCRBY per bucket was ~24 calls per article (benchmarks.store).
    for i = 1, #pairs, 1000 do
      local buckets, counts = {}, {}
      for j = i, math.min(i + 998, #pairs - 1), 2 do buckets[#buckets + 1] = pairs[j] end
      local current = redis.call('HMGET', KEYS[5], unpack(buckets))
      for j = 1, #buckets do
        counts[#counts + 1] = buckets[j]
        counts[#counts + 1] = tostring((tonumber(current[j]) or 0) + tonumber(pairs[i + 2 * j - 1]))
      end
      redis.call('HSET', KEYS[5], unpack(counts))
    end
    if redis.call('HLEN', KEYS[5]) > tonumber(ARGV[7]) then
      dense(redis.call('HGETALL', KEYS[5]))
      redis.call('DEL', KEYS[5])
    end
  end
  redis.call('INCRBY', KEYS[4], ARGV[6])
end
return {}
"""

# A new revision of an article: its record and text, keeping the record's time to live.
_REPLACE_ARTICLE = """
local left = redis.call('PTTL', KEYS[1])
if left > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', left)
  redis.call('SET', KEYS[2], ARGV[2], 'PX', left)
else
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
"""

# Version ("v" field) of each cluster hash in KEYS, space-joined (0: no such cluster).
_READ_VERSIONS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, 'v') or '0' end
return table.concat(out, ' ')
"""


class JoinReason(BaseModel):
    """Why an article is in its cluster."""

    model_config = ConfigDict(frozen=True)
    rule: str = Field(description="new_cluster, similar, copy, exact_duplicate")
    score: float | None = None
    text_similarity: float | None = Field(None, description="body TF-IDF cosine with the cluster centroid")
    title_similarity: float | None = None
    entity_similarity: float | None = Field(None, description="entity TF-IDF cosine with the cluster's entities")
    time_gap_hours: float | None = Field(None, description="hours outside the cluster's time span")
    shared_entities: list[str] = Field(default_factory=list)
    merged_clusters: list[str] = Field(
        default_factory=list, description="stories this article linked strongly enough to merge into its own")


class RevisionNote(BaseModel):
    """One earlier version of an article, replaced by a later fetch of the same URL."""

    revision: int
    body_hash: str
    title: str
    words: int
    replaced_at: datetime


class StoredArticle(Article):
    """An article as the store keeps it: the wire Article plus its place in a story."""

    cluster_id: str
    copy_of: str | None = None
    body_hash: str
    stored_at: datetime
    revision: int = 1
    revisions: list[RevisionNote] = Field(default_factory=list, description="earlier versions, oldest first")
    joined: JoinReason

    def has_seen(self, body_hash: str, title: str) -> bool:
        """Whether this exact version (current or earlier) was stored before: replays change nothing."""
        return (self.body_hash, self.title) == (body_hash, title) or any(
            (r.body_hash, r.title) == (body_hash, title) for r in self.revisions)


def encode_article(article: StoredArticle, codec: Codec) -> tuple[bytes, bytes]:
    """An article as stored: (record, text), each zstd-compressed; the record is its JSON with an empty text."""
    record = article.model_copy(update={"text": ""}).model_dump_json().encode()
    return codec.compress("record", record), codec.compress("text", article.text.encode())


def decode_article(record: bytes, text: bytes | None, codec: Codec) -> StoredArticle:
    """A stored article from its record and text (None: not read, the text is left empty). A record written
    before texts were kept apart is plain JSON with the text inside, and is read as it is."""
    if not record.startswith(MAGIC):
        return StoredArticle.model_validate_json(record)
    article = StoredArticle.model_validate_json(codec.decompress(record))
    if text:
        article = article.model_copy(update={"text": codec.decompress(text).decode()})
    return article


class StoryMember(BaseModel):
    """A cluster's view of one of its articles."""

    id: str
    outlet: str
    title: str
    url: str
    published_at: datetime | None = None
    copy_of: str | None = None
    copy_similarity: float | None = Field(None, description="similarity to the original, for copies")
    language: str | None = None


#: A stored member list, parsed in one go (a big story has thousands).
_MEMBER_LIST = TypeAdapter(list[StoryMember])


def decode_members(frames: Sequence[bytes], codec: Codec) -> list[StoryMember]:
    """The members of a stored member list (each frame a member's zstd-compressed JSON)."""
    if not frames:
        return []
    return _MEMBER_LIST.validate_json(b"[" + b",".join(codec.decompress_many(frames)) + b"]")


class Centroid(BaseModel):
    """What clustering compares new articles with: summed member vectors and the time span."""

    body: dict[str, float] = Field(default_factory=dict)
    title: dict[str, float] = Field(default_factory=dict)
    entities: dict[str, float] = Field(default_factory=dict)
    first_time: float = 0.0
    last_time: float = 0.0


class StoredStory(BaseModel):
    """A story cluster's summary, kept current on every join, and its members.

    The summary (everything but `members`) is one value rewritten on every join; the members are a list
    apart that a join appends to (Keys.story_members), so a join costs the same at 5 members as at 5,000.
    Placement reads the summary alone: `members` then holds only the members not yet stored (see
    `unstored_members`). Readers (the API, the CLI) read both.
    """

    id: str
    title: str
    first_seen: datetime
    last_updated: datetime
    size: int
    outlets: list[str]
    entities: dict[str, int] = Field(default_factory=dict, description="entity key -> members mentioning it")
    centroid: Centroid = Field(default_factory=Centroid)
    copies: int = Field(0, description="members that are copies of another member")
    independent_outlets: list[str] = Field(
        default_factory=list, description="outlets with a member that is no copy (their own report), sorted")
    members: list[StoryMember] = Field(default_factory=list)
    _version: int = PrivateAttr(default=0)
    # How many of `members` (the first ones) are in the stored member list: those a write does not append again.
    _stored_members: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _counts_of_inline_members(self) -> StoredStory:
        # A summary of an older data dir holds its members inline and no counts: they are its members'.
        if self.members and "copies" not in self.model_fields_set:
            self.copies = sum(1 for m in self.members if m.copy_of)
            self.independent_outlets = sorted({m.outlet for m in self.members if not m.copy_of})
        return self

    @classmethod
    def from_stored(cls, raw: str | bytes, version: int, codec: Codec,
                    members: Sequence[bytes] | None = None) -> StoredStory:
        """Parse the summary read from Redis (zstd-compressed JSON, or the plain JSON older data dirs hold)
        with the version it was stored under and, when read, its stored member list (`members`: each member's
        zstd-compressed JSON, in order, read after the summary). A summary of an older data dir holds its
        members inline; they move to the list at its next write."""
        if isinstance(raw, bytes) and raw.startswith(MAGIC):
            raw = codec.decompress(raw)
        story = cls.model_validate_json(raw)
        story._version = version
        if members:
            # Read after the summary, the list may end with members a later write appended.
            listed = decode_members(members[:max(0, story.size - len(story.members))], codec)
            story.members = [*listed, *story.members]
            story._stored_members = len(listed)
        return story

    def encode(self, codec: Codec) -> bytes:
        """The summary as stored: its JSON without the members, zstd-compressed (the centroid's hundreds of
        floats are most of it, and they must round-trip exactly)."""
        return codec.compress("story", self.model_dump_json(exclude={"members"}).encode())

    @property
    def unstored_members(self) -> list[StoryMember]:
        """The members a write appends to the stored member list (all of them for a summary of an older data
        dir, whose members were inline)."""
        return self.members[self._stored_members:]

    def member_frames(self, codec: Codec) -> list[bytes]:
        """The unstored members as appended to the member list: each one's JSON, zstd-compressed."""
        return [codec.compress("member", m.model_dump_json().encode()) for m in self.unstored_members]

    def __eq__(self, other: object) -> bool:
        # As pydantic compares models, plus the version.
        if not isinstance(other, StoredStory):
            return NotImplemented
        return self.__dict__ == other.__dict__ and self._version == other._version

    @property
    def version(self) -> int:
        """How many times this cluster was written before it was read (0: never stored)."""
        return self._version

    def mark_stored(self, version: int) -> None:
        """Record the version this exact state was just written as, its members with it."""
        self._version = version
        self._stored_members = len(self.members)


@dataclass
class BatchWrite:
    """Everything one batch of articles changes, written in one transaction.

    `expected_versions` holds the version each touched cluster had when it was
    read (0: it must not exist yet); if any differs at write time nothing is written.
    """

    expected_versions: dict[str, int] = field(default_factory=dict)
    stories: dict[str, StoredStory] = field(default_factory=dict)
    absorbed: dict[str, str] = field(default_factory=dict)
    new_articles: dict[str, StoredArticle] = field(default_factory=dict)
    moved_articles: dict[str, StoredArticle] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    postings: dict[str, dict[str, float]] = field(default_factory=dict)
    # (bucket, increment) rows for the hashed document frequencies, with the documents they count.
    document_buckets: npt.NDArray[np.int64] | None = None
    documents: int = 0


class Repository:
    """Articles, clusters and indexes in Redis."""

    def __init__(self, redis: Redis, keys: Keys, *, retention_s: float | None = None,
                 window_s: float | None = None, codec: Codec | None = None) -> None:
        """`retention_s`: articles and clusters not written for this long expire (None: kept);
        `window_s`: index postings older than this before the newest article are trimmed, and an index key not
        posted to for this long expires (None: kept). The window is at most the retention: a posting older than
        that mostly names a story that has expired. `codec`: how values are compressed (None: plain zstd and the
        dictionaries the data already names, never training one: a reader's)."""
        self.redis = redis
        self.keys = keys
        self.codec = codec or Codec(redis, keys, samples=0, dictionary_bytes=0)
        self.ttl = int(retention_s) if retention_s else None
        self.window_s = min(window_s, self.ttl) if window_s and self.ttl else window_s
        self._raise_hw = redis.register_script(_RAISE_HIGH_WATER)
        self._read_postings = redis.register_script(_READ_POSTINGS)
        self._commit = redis.register_script(_COMMIT)
        self._read_versions = redis.register_script(_READ_VERSIONS)
        self._replace_article = redis.register_script(_REPLACE_ARTICLE)

    # --- reads ---------------------------------------------------------------------------
    async def article(self, article_id: str) -> StoredArticle | None:
        """One stored article with its text, or None."""
        found = await self.articles([article_id])
        return found[0] if found else None

    async def story(self, cluster_id: str, *, members: bool = True) -> StoredStory | None:
        """One cluster (following merges to the surviving one), or None; `members`: with its members."""
        found = await self.stories([cluster_id], members=members)
        return found[0] if found else None

    async def stories(self, ids: list[str], *, members: bool = True) -> list[StoredStory]:
        """Clusters by id, in that order, merged-away ids replaced by their survivors, without repeats;
        `members`: with their members (False: the summaries alone)."""
        resolved, _ = await self.load_stories(ids, members=members)
        out: dict[str, StoredStory] = {}
        for story in resolved.values():
            out.setdefault(story.id, story)
        return list(out.values())

    async def load_stories(self, ids: Sequence[str], known: Mapping[str, StoredStory] | None = None, *,
                           members: bool = True) -> tuple[dict[str, StoredStory], dict[str, str]]:
        """Clusters by id, following merges: ({asked or surviving id: cluster}, {merged-away id: survivor}).

        `members`: with their stored members (False: the summaries alone, as placement reads them, whatever
        the stories' sizes). `known` are clusters the caller already holds, read the same way: one whose
        stored version is unchanged is returned as is instead of being read and parsed again.
        """
        known = known or {}
        found: dict[str, StoredStory] = {}
        aliases: dict[str, str] = {}
        wanted = list(dict.fromkeys(ids))
        for _ in range(MAX_ALIAS_HOPS):
            if not wanted:
                break
            versions = await self.story_versions(wanted)
            missing = [i for i in wanted if versions[i] == 0]
            stale = [i for i in wanted if versions[i] and (i not in known or known[i].version != versions[i])]
            for i in wanted:
                if versions[i] and i not in stale:
                    found[i] = known[i]
            # Each member list is read after its summary: a commit between the two only appends members, which
            # from_stored leaves out (the summary's size says how many are its own).
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in stale:
                    # Binary (zstd), so not decoded as UTF-8 like everything else.
                    pipe.execute_command("HMGET", self.keys.story(i), "json", "v", **{NEVER_DECODE: True})
                    if members:
                        pipe.execute_command("LRANGE", self.keys.story_members(i), 0, -1, **{NEVER_DECODE: True})
                for i in missing:
                    pipe.get(self.keys.story_alias(i))
                replies = await pipe.execute()
            per_story = 2 if members else 1
            summaries = replies[:len(stale) * per_story:per_story]
            lists = replies[1:len(stale) * per_story:per_story] if members else [None] * len(stale)
            await self.codec.load_for([raw for raw, _ in summaries] + [f for frames in lists for f in frames or ()])
            for i, (raw, version), frames in zip(stale, summaries, lists, strict=True):
                if raw:
                    found[i] = StoredStory.from_stored(raw, int(version or 0), self.codec, frames)
            targets: dict[str, str] = {i: str(a) for i, a in zip(missing, replies[len(stale) * per_story:],
                                                                 strict=True) if a}
            aliases.update(targets)
            wanted = [t for t in dict.fromkeys(targets.values()) if t not in found]
        # An alias chain (a -> b -> c) resolves to the end.
        for source in list(aliases):
            target, hops = aliases[source], 0
            while target in aliases and hops < MAX_ALIAS_HOPS:
                target, hops = aliases[target], hops + 1
            aliases[source] = target
            if target in found:
                found[source] = found[target]
        return found, aliases

    async def story_members(self, cluster_id: str) -> list[StoryMember]:
        """The members stored in a cluster's member list, in the order they joined (a summary of an older data
        dir holds its members inline instead: those are not in the list)."""
        frames = await self.redis.execute_command(  # type: ignore[no-untyped-call]
            "LRANGE", self.keys.story_members(cluster_id), 0, -1, **{NEVER_DECODE: True})
        await self.codec.load_for(frames)
        return decode_members(frames, self.codec)

    async def story_versions(self, ids: Sequence[str]) -> dict[str, int]:
        """The stored version of each cluster (0: none stored under that id)."""
        if not ids:
            return {}
        reply = await self._read_versions(keys=[self.keys.story(i) for i in ids])
        return {i: int(v) for i, v in zip(ids, str(reply).split(" "), strict=True)}

    async def articles(self, ids: list[str], *, with_text: bool = True) -> list[StoredArticle]:
        """Articles by id, in that order, skipping unknown ones; without their text unless `with_text`
        (placement needs only the record: the text is the larger part, kept apart)."""
        if not ids:
            return []
        keys = [self.keys.article(i) for i in ids]
        if with_text:
            keys += [self.keys.article_text(i) for i in ids]
        # Binary (zstd), so not decoded as UTF-8 like everything else.
        raws = await self.redis.execute_command("MGET", *keys, **{NEVER_DECODE: True})  # type: ignore[no-untyped-call]
        texts = raws[len(ids):] if with_text else [None] * len(ids)
        await self.codec.load_for(raws)
        return [decode_article(r, t, self.codec) for r, t in zip(raws[:len(ids)], texts, strict=True) if r]

    async def body_owners(self, body_hashes: Sequence[str]) -> dict[str, str]:
        """Id of the first article stored with each body hash (hashes never stored are left out)."""
        if not body_hashes:
            return {}
        values = await self.redis.mget([self.keys.body(h) for h in body_hashes])
        return {h: str(v) for h, v in zip(body_hashes, values, strict=True) if v}

    async def postings(self, posting_keys: Sequence[str], *, lo: float, hi: float,
                       limit: int = POSTINGS_PER_KEY) -> dict[str, list[tuple[str, float]]]:
        """The clusters most recently posted under each index key with a time in [lo, hi], newest first,
        with their posting times."""
        if not posting_keys:
            return {}
        # The first key goes in KEYS too, only to route the script to the {store} slot on Redis Cluster.
        reply = await self._read_postings(keys=[posting_keys[0]], args=[lo, hi, limit, "\n".join(posting_keys)])
        lines = str(reply).split("\n")
        out = {}
        for key, line in zip(posting_keys, lines, strict=True):
            parts = line.split()
            out[key] = [(cid, float(t)) for cid, t in zip(parts[::2], parts[1::2], strict=True)]
        return out

    async def recent_articles(self, *, limit: int, since: float | None = None,
                              before: float | None = None) -> list[str]:
        """Article ids, newest first."""
        return [aid for aid, _ in await self.recent_article_times(limit=limit, since=since, before=before)]

    async def recent_article_times(self, *, limit: int, since: float | None = None,
                                   before: float | None = None) -> list[tuple[str, float]]:
        """(article id, time stored), newest first."""
        return await self._latest(self.keys.articles_recent, limit=limit, since=since, before=before)

    async def recent_stories(self, *, limit: int, since: float | None = None,
                              before: float | None = None) -> list[tuple[str, float]]:
        """(cluster id, last-updated time), latest first."""
        return await self._latest(self.keys.stories_recent, limit=limit, since=since, before=before)

    async def _latest(self, index: str, *, limit: int, since: float | None,
                      before: float | None) -> list[tuple[str, float]]:
        """(id, time) of a latest-first index with a time in [since, before), newest first."""
        hi = f"({before}" if before is not None else "+inf"
        lo = since if since is not None else "-inf"
        rows: Any = await self.redis.zrevrangebyscore(index, hi, lo, start=0, num=limit, withscores=True)
        return [(str(i), float(ts)) for i, ts in rows]

    async def entity_postings(self, match_form: str, limit: int) -> list[tuple[str, float]]:
        """(story id, time posted) of the newest `limit` stories under an entity's match form, latest first."""
        rows: Any = await self.redis.zrevrange(self.keys.entity_postings(match_form), 0, limit - 1, withscores=True)
        return [(str(sid), float(ts)) for sid, ts in rows]

    async def load_document_frequencies(self) -> tuple[npt.NDArray[np.uint32], int]:
        """The persisted document count of every hash bucket (up to the highest one counted), and how many
        articles were counted."""
        k = self.keys
        # Binary (u32 counters), so not decoded as UTF-8 like everything else.
        raw = await self.redis.execute_command(  # type: ignore[no-untyped-call]
            "GET", k.document_frequencies, **{NEVER_DECODE: True})
        counts = np.frombuffer(raw or b"", dtype=">u4", count=len(raw or b"") // 4).astype(np.uint32)
        sparse = {int(b): int(c) for b, c in (await self.redis.hgetall(k.document_frequencies_sparse)).items()}
        if sparse:
            buckets = np.fromiter(sparse, dtype=np.int64, count=len(sparse))
            counts = np.pad(counts, (0, max(0, int(buckets.max()) + 1 - len(counts))))
            counts[buckets] += np.fromiter(sparse.values(), dtype=np.uint32, count=len(sparse))
        return counts, int(await self.redis.get(k.document_count) or 0)

    async def high_water(self, topic: str, partition: int) -> HighWater | None:
        """The highest offset of topic/partition whose work is finished, and that record's key."""
        value = await self.redis.get(self.keys.high_water(topic, partition))
        if value is None:
            return None
        offset, _, key = str(value).partition(":")
        return HighWater(int(offset), key)

    # --- writes --------------------------------------------------------------------------
    async def raise_high_water(self, topic: str, partition: int, offset: int, key: str) -> None:
        """Record that work up to `offset` (whose record has `key`) is finished; never moves backwards."""
        await self._raise_hw(keys=[self.keys.high_water(topic, partition)], args=[offset, key])

    async def forget_high_water(self, topic: str, partition: int) -> None:
        """Drop a high-water mark the broker's log no longer reaches (embedded broker restarted)."""
        await self.redis.delete(self.keys.high_water(topic, partition))

    async def commit(self, batch: BatchWrite) -> list[str]:
        """Write a batch atomically: articles, clusters, merges, index postings and IDF counts.

        Returns the ids of the clusters whose version changed since the batch read
        them (another store instance wrote them); then nothing was written and the
        caller redoes the batch. An empty list means everything was written.
        """
        k = self.keys
        await self.codec.prepare()
        keys = [k.articles_recent, k.stories_recent, k.document_frequencies, k.document_count,
                k.document_frequencies_sparse]
        values: list[Any] = []
        for cid, version in batch.expected_versions.items():
            keys.append(k.story(cid))
            values += (cid, version)
        for article in batch.new_articles.values():
            keys += (k.article(article.id), k.article_text(article.id))
            values += (article.id, *encode_article(article, self.codec), article.stored_at.timestamp())
        for article in batch.moved_articles.values():
            keys += (k.article(article.id), k.article_text(article.id))
            record, text = encode_article(article, self.codec)
            values += (record, text if article.text else "")
        for digest, owner in batch.bodies.items():
            keys.append(k.body(digest))
            values.append(owner)
        for absorbed, survivor in batch.absorbed.items():
            keys += (k.story(absorbed), k.story_alias(absorbed), k.story_members(absorbed))
            values += (absorbed, survivor)
        for story in batch.stories.values():
            keys += (k.story(story.id), k.story_members(story.id))
            frames = story.member_frames(self.codec)
            values += (story.id, story.encode(self.codec), story.last_updated.timestamp(), len(frames), *frames)
        sections = (batch.expected_versions, batch.new_articles, batch.moved_articles, batch.bodies,
                    batch.absorbed, batch.stories)
        postings = "\n".join(f"{key}\t{cid}\t{t!r}" for key, ids in batch.postings.items() for cid, t in ids.items())
        df = ""
        if batch.documents and batch.document_buckets is not None:
            df = " ".join(map(str, batch.document_buckets.ravel().tolist()))
        conflicts = await self._commit(keys=keys, args=[
            self.ttl or "", self.window_s or "", " ".join(str(len(s)) for s in sections), postings, df,
            batch.documents if df else 0, SPARSE_DF_BUCKETS, POSTINGS_KEPT_PER_KEY, *values])
        return [str(c) for c in conflicts]

    async def replace_article(self, article: StoredArticle) -> None:
        """Overwrite a stored article and its text in place (a new revision of the same URL)."""
        await self.codec.prepare()
        await self._replace_article(keys=[self.keys.article(article.id), self.keys.article_text(article.id)],
                                    args=list(encode_article(article, self.codec)))

    async def trim(self, now: float) -> int:
        """Drop expired articles and clusters from the latest-first indexes; how many entries went."""
        if self.ttl is None:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.keys.articles_recent, "-inf", now - self.ttl)
            pipe.zremrangebyscore(self.keys.stories_recent, "-inf", now - self.ttl)
            removed = await pipe.execute()
        return int(sum(removed))

    async def stats(self) -> dict[str, int]:
        """Counts for health and tests."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.articles_recent)
            pipe.zcard(self.keys.stories_recent)
            articles, stories = await pipe.execute()
        return {"articles": int(articles), "clusters": int(stories)}
