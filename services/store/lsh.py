"""MinHash LSH index in Redis: candidate copies of an article, found atomically.

Layout (32 bands x 4 rows of the body's sketch, see LSH_BANDS, then 4 bands x 2 rows
of the lead's, see LEAD_BANDS; PERFORMANCE.md 2.3 measured the bucket-HASH design
5.6x leaner than one key per band per article):

* bucket HASH per (epoch, band, first byte of the band hash) -> 256 buckets per
  band and epoch, so at ~100 k articles per epoch each HASH has ~400 fields and
  stays listpack-encoded (beyond that, a 2-byte prefix would keep writes cheap);
  field = the next 5 bytes of the band hash (raw bytes; 48 bits
  in all, collisions only cost a verification); value = the ids of the
  articles with that band, packed (`pack_id`: a length byte, then a hex id as its
  bytes) and concatenated, oldest first, capped at MAX_MEMBERS (newest kept: a
  wire story re-posted 60 times still finds its recent copies, whose `copy_of`
  leads back to the original).
* one STRING per article with its sketch (`pack_sketch`: 583 bytes with the
  lead), read with one MGET to verify candidates.

Packed ids, raw fields and binary sketches take 1,431 bytes per article where hex fields, space-joined ids
and base64 sketches took 2,179 (`benchmarks.lsh --n 100000`; Redis CPU 0.48 -> 0.39 ms per article).
The buckets of that earlier layout (`{lsh}:b:`, hex fields, space-joined ids) in an older data dir are
still read, never written, while their epoch's marker lives (two windows after the upgrade); its ASCII
sketches are still read and forgotten.

Atomicity: `insert_and_query` is one Lua script that reads every bucket's members
and appends the article in the same step, so of two near-identical articles
processed at once by two store instances the later one always sees the earlier.
All keys carry the hash tag {lsh}, so the script also runs on Redis Cluster.

Retention (bounded memory without scans or a sweeper): time is cut into epochs
of `window_s` (the copy window, settings.copy_window_hours) by the article's time
`at`. An article is written to the buckets of its own epoch and reads its own and the two
neighbouring epochs, so two articles at most `window_s` apart always meet (and
pairs up to 2 x window_s apart may). Bucket keys get a TTL of 1.1 x window_s,
refreshed on each write, and sketches 2.2 x window_s from their insert: an epoch's
buckets outlive its last write by one window, and a sketch outlives every bucket
that names it. Redis therefore holds about two windows of articles. A marker key per epoch
(same TTL as its buckets) lets the script skip the 36 reads of an epoch that has no buckets.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.client import NEVER_DECODE

from services.common.fingerprint import Sketch
from services.common.keys import Keys
from services.common.redis import Redis
from services.store.dedup import CopyRules, CopyVerdict, band_hashes, judge_copy, lead_band_hashes

#: Banding: part of the stored layout (another banding finds none of the stored articles), so a constant
#: and not a setting. 16 x 8 (S-curve threshold ~0.71) found only 80 % of the pairs judge_copy accepts on the
#: copy set (trimmed copies have J 0.3-0.6); 32 x 4 finds 99.5 % and makes 0.4 % of same-event
#: own-words pairs candidates (verified away by judge_copy); 42 x 3 finds 99.9 % for 4x the candidates.
LSH_BANDS = 32
LSH_ROWS = 4
#: Bands of the lead's sketch, indexed after the body's (band numbers 32-35): a re-post that keeps the top of a
#: story (body J often < 0.4) shares its lead (J ~0.9-1, 0.6-0.7 with words changed in it) and becomes a
#: candidate with probability 1-(1-J^2)^4: 0.998 at J 0.9, 0.83 at 0.6. 8 x 2 (every lead permutation) found
#: 1 more of ~640 trimmed re-posts on the copy set (seeds 0-2) for twice the added Redis work; 4 x 4 finds 43 %
#: at J 0.6. Four more fields per article; the verdict still compares all 16 lead permutations.
LEAD_BANDS = 4
LEAD_ROWS = 2
#: Newest members kept per bucket field: bounds a bucket of a much re-posted wire story.
MAX_MEMBERS = 50
#: Epochs read around the article's own: previous, own, next.
_EPOCH_SPAN = (-1, 0, 1)
_FIELD_BYTES = 5

# KEYS[1] = the article's sketch key. ARGV: packed id, packed sketch, max members, bucket ttl s, sketch ttl s,
# bucket key prefix, space-joined epochs to read, index (1-based) of the write epoch among them, the bands
# (6 bytes each: the bucket byte and the 5-byte field), the epoch-marker key prefix (a marker per epoch
# written to, with the buckets' TTL), then for the earlier layout (read only): its bucket key prefix, its
# marker prefix, its space-joined hex "bucket:field" per band, and the plain id. Bucket keys are built here
# (prefix..epoch:band:bucket) rather than sent: packing ~100 keys per article was the client's largest cost.
# They share KEYS[1]'s {lsh} hash slot, so the script still touches a single slot.
# A replay (the sketch key exists) writes nothing and reports only the members that were
# already there before the article: the answer its first insert got (less any trimmed since).
# Members found are returned as hex of their packed form, those of the earlier layout as '=' .. id.
_INSERT_AND_QUERY = """
local id = ARGV[1]
local cap = tonumber(ARGV[3])
local bucket_ttl = tonumber(ARGV[4])
local prefix = ARGV[6]
local write_epoch = tonumber(ARGV[8])
local bands = ARGV[9]
local epochs = {}
for e in string.gmatch(ARGV[7], '%S+') do epochs[#epochs + 1] = e end
local replay = redis.call('EXISTS', KEYS[1]) == 1
local seen, out = {}, {}
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
-- Each band's key suffix ("band:bucket") and field, made once for all the epochs read: every string made in
-- Lua (a formatted byte, a number turned to text) costs an allocation of Redis's.
local suffixes, fields = {}, {}
for b = 0, #bands / 6 - 1 do
  suffixes[b] = b .. string.format(':%02x', string.byte(bands, 6 * b + 1))
  fields[b] = string.sub(bands, 6 * b + 2, 6 * b + 6)
end
for e = 1, #epochs do
  -- An epoch nothing was written to has no buckets: skip its reads (most of the time the next
  -- epoch, and in a young index the previous one too).
  local live = e == write_epoch or redis.call('EXISTS', ARGV[10] .. epochs[e]) == 1
  local epoch_prefix = prefix .. epochs[e] .. ':'
  local writes = e == write_epoch and not replay
  for b = 0, (live and #bands / 6 or 0) - 1 do
    local key = epoch_prefix .. suffixes[b]
    local field = fields[b]
    local cur = redis.call('HGET', key, field)
    if cur then
      local members, mine = {}, false
      local i = 1
      while i <= #cur do
        local m = string.sub(cur, i, i + string.byte(cur, i) % 128)
        i = i + #m
        if m == id then
          mine = true
        elseif not mine and not seen[m] then
          seen[m] = true
          out[#out + 1] = hex(m)
        end
        members[#members + 1] = m
      end
      if writes and not mine then
        local first = math.max(1, #members + 2 - cap)
        local kept = {}
        for j = first, #members do kept[#kept + 1] = members[j] end
        kept[#kept + 1] = id
        redis.call('HSET', key, field, table.concat(kept))
        redis.call('EXPIRE', key, bucket_ttl)
      end
    elseif writes then
      -- Most fields are new: the article is their only member.
      redis.call('HSET', key, field, id)
      redis.call('EXPIRE', key, bucket_ttl)
    end
  end
  -- The earlier layout's buckets of this epoch, while they live (read only).
  if redis.call('EXISTS', ARGV[12] .. epochs[e]) == 1 then
    local b = 0
    for bucket, field in string.gmatch(ARGV[13], '(%x+):(%x+)') do
      local cur = redis.call('HGET', ARGV[11] .. epochs[e] .. ':' .. b .. ':' .. bucket, field)
      local mine = false
      for m in string.gmatch(cur or '', '%S+') do
        if m == ARGV[14] then
          mine = true
        elseif not mine and not seen['=' .. m] then
          seen['=' .. m] = true
          out[#out + 1] = '=' .. m
        end
      end
      b = b + 1
    end
  end
end
if not replay then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[5]))
  redis.call('SET', ARGV[10] .. epochs[write_epoch], '1', 'EX', bucket_ttl)
end
return out
"""

# KEYS[1] = sketch key; KEYS[2..] = the write epoch's bucket keys. ARGV: packed id, then one field per band.
_FORGET = """
local id = ARGV[1]
for b = 2, #KEYS do
  local field = ARGV[b]
  local cur = redis.call('HGET', KEYS[b], field)
  if cur then
    local kept, i = {}, 1
    while i <= #cur do
      local m = string.sub(cur, i, i + string.byte(cur, i) % 128)
      i = i + #m
      if m ~= id then kept[#kept + 1] = m end
    end
    if #kept == 0 then
      redis.call('HDEL', KEYS[b], field)
    else
      redis.call('HSET', KEYS[b], field, table.concat(kept))
    end
  end
end
return redis.call('DEL', KEYS[1])
"""

# The same for an article of the earlier layout (space-joined plain ids, hex fields).
_FORGET_EARLIER = """
local id = ARGV[1]
for b = 2, #KEYS do
  local field = ARGV[b]
  local cur = redis.call('HGET', KEYS[b], field)
  if cur then
    local kept = {}
    for m in string.gmatch(cur, '%S+') do
      if m ~= id then kept[#kept + 1] = m end
    end
    if #kept == 0 then
      redis.call('HDEL', KEYS[b], field)
    else
      redis.call('HSET', KEYS[b], field, table.concat(kept, ' '))
    end
  end
end
return redis.call('DEL', KEYS[1])
"""

_HEX_ID = re.compile(r"(?:[0-9a-f]{2}){1,127}")
_SKETCH_MAGIC = b"\x01"
_SKETCH_HEAD = struct.Struct("<IH")


def pack_id(article_id: str) -> bytes:
    """An id as a bucket stores it: a length byte (high bit set: hex packed into bytes), then the id's bytes."""
    if _HEX_ID.fullmatch(article_id):
        raw = bytes.fromhex(article_id)
        return bytes([0x80 | len(raw)]) + raw
    raw = article_id.encode()
    if not 0 < len(raw) < 0x80:
        raise ValueError(f"an article id of {len(raw)} bytes does not fit a bucket entry (1-127)")
    return bytes([len(raw)]) + raw


def unpack_id(packed: bytes) -> str:
    """The id of a bucket entry (its length byte included)."""
    return packed[1:].hex() if packed[0] & 0x80 else packed[1:].decode()


def pack_sketch(sketch: Sketch) -> bytes:
    """A sketch as stored: a marker byte, its size and signature length, the signature and the lead, raw."""
    return _SKETCH_MAGIC + _SKETCH_HEAD.pack(sketch.size, len(sketch.signature)) + sketch.signature + sketch.lead


def unpack_sketch(raw: bytes) -> Sketch:
    """A stored sketch: packed, or the ASCII `Sketch.encode()` form the earlier layout stored."""
    if not raw.startswith(_SKETCH_MAGIC):
        return Sketch.decode(raw)
    size, length = _SKETCH_HEAD.unpack_from(raw, 1)
    start = 1 + _SKETCH_HEAD.size
    return Sketch(raw[start:start + length], size, raw[start + length:])


class LshIndex:
    """Candidate copies of an article from MinHash LSH buckets held in Redis (sole writer of its keys)."""

    def __init__(self, redis: Redis, keys: Keys, *, window_hours: float) -> None:
        """`window_hours`: the copy window (settings.copy_window_hours)."""
        if window_hours <= 0:
            raise ValueError("window_hours must be > 0")
        self.redis = redis
        self.keys = keys
        self.window_s = window_hours * 3600.0
        self.bucket_ttl_s = max(1, round(self.window_s * 1.1))
        self.sketch_ttl_s = max(1, round(self.window_s * 2.2))
        self._insert = redis.register_script(_INSERT_AND_QUERY)
        self._forget = redis.register_script(_FORGET)
        self._forget_earlier = redis.register_script(_FORGET_EARLIER)

    def epoch(self, at: float) -> int:
        """The retention epoch of an article time (unix seconds)."""
        return int(at // self.window_s)

    def _split(self, band_hash: bytes) -> tuple[str, str]:
        # 1 byte picks one of 256 buckets per band; the next bytes are the field (hex: the earlier layout).
        return band_hash[:1].hex(), band_hash[1:1 + _FIELD_BYTES].hex()

    async def insert_and_query(self, article_id: str, sketch: Sketch, *, at: float) -> list[str]:
        """Add an article to its band buckets and return the ids already there (deduplicated, not itself).

        One atomic Lua call. `at` (unix seconds: the article's event time) picks the
        retention epoch. Re-inserting the same id is a no-op that returns the
        earlier members again (replays change nothing).
        """
        keys, args = self._insert_call(article_id, sketch, at)
        found = await self._insert(keys=keys, args=args)
        return _found(found)

    async def insert_and_query_many(self, items: Sequence[tuple[str, Sketch, float]]) -> list[list[str]]:
        """insert_and_query for (id, sketch, at) items in order, in one round trip.

        The calls run one after the other in Redis, so each item sees the ones before it.
        """
        if not items:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for article_id, sk, at in items:
                keys, args = self._insert_call(article_id, sk, at)
                await self._insert(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return [_found(found) for found in replies]

    def _hashes(self, sketch: Sketch) -> list[bytes]:
        """One hash per band: the body's LSH_BANDS, then the lead's LEAD_BANDS when it has a lead."""
        return [*band_hashes(sketch, LSH_BANDS, LSH_ROWS),
                *lead_band_hashes(sketch, LEAD_BANDS, LEAD_ROWS, first_band=LSH_BANDS)]

    def _bands(self, sketch: Sketch) -> list[tuple[str, str]]:
        """(bucket, field) per band, in hex (the earlier layout)."""
        return [self._split(h) for h in self._hashes(sketch)]

    def _insert_call(self, article_id: str, sketch: Sketch, at: float) -> tuple[list[str], list[Any]]:
        hashes = self._hashes(sketch)
        own = self.epoch(at)
        epochs = [own + d for d in _EPOCH_SPAN]
        k = self.keys
        args: list[Any] = [pack_id(article_id), pack_sketch(sketch), MAX_MEMBERS, self.bucket_ttl_s,
                           self.sketch_ttl_s, k.lsh_packed_bucket_prefix, " ".join(map(str, epochs)),
                           epochs.index(own) + 1, b"".join(h[:1 + _FIELD_BYTES] for h in hashes),
                           k.lsh_packed_epoch_prefix, k.lsh_bucket_prefix, k.lsh_epoch_prefix,
                           " ".join(f"{bucket}:{field}" for bucket, field in map(self._split, hashes)), article_id]
        return [k.lsh_sketch(article_id)], args

    async def _raw_sketches(self, ids: list[str]) -> list[bytes | None]:
        # Binary (packed sketches), so not decoded as UTF-8 like everything else.
        keys = [self.keys.lsh_sketch(i) for i in ids]
        raws = await self.redis.execute_command("MGET", *keys, **{NEVER_DECODE: True})  # type: ignore[no-untyped-call]
        return [None if r is None else bytes(r) for r in raws]

    async def sketches(self, ids: Iterable[str]) -> dict[str, Sketch]:
        """Stored sketches by id (one MGET); ids whose sketch expired or was forgotten are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        raws = await self._raw_sketches(wanted)
        return {i: unpack_sketch(r) for i, r in zip(wanted, raws, strict=True) if r}

    async def forget(self, article_id: str, *, at: float) -> bool:
        """Remove an article from the buckets of its epoch and drop its sketch (deleted or re-sketched article).

        `at` must be the time it was inserted with. False if no sketch was stored.
        """
        [raw] = await self._raw_sketches([article_id])
        if raw is None:
            return False
        own = self.epoch(at)
        hashes = self._hashes(unpack_sketch(raw))
        if raw.startswith(_SKETCH_MAGIC):
            keys = [self.keys.lsh_sketch(article_id), *(self.keys.lsh_packed_bucket(own, b, h[:1].hex())
                                                        for b, h in enumerate(hashes))]
            args: list[Any] = [pack_id(article_id), *(h[1:1 + _FIELD_BYTES] for h in hashes)]
            return bool(await self._forget(keys=keys, args=args))
        # Inserted under the earlier layout.
        parts = [self._split(h) for h in hashes]
        keys = [self.keys.lsh_sketch(article_id), *(self.keys.lsh_bucket(own, b, bucket)
                                                    for b, (bucket, _) in enumerate(parts))]
        return bool(await self._forget_earlier(keys=keys, args=[article_id, *(field for _, field in parts)]))


def verify_copies(sketch: Sketch, candidates: Iterable[str], stored: Mapping[str, Sketch],
                  rules: CopyRules) -> list[tuple[str, CopyVerdict]]:
    """The LSH candidates whose stored sketch confirms a copy: (id, verdict), most similar first."""
    verified = []
    for cid in candidates:
        other = stored.get(cid)
        verdict = judge_copy(sketch, other, rules) if other is not None else None
        if verdict is not None:
            verified.append((cid, verdict))
    verified.sort(key=lambda cv: (-cv[1].similarity, cv[0]))
    return verified


def _found(members: list[str | bytes]) -> list[str]:
    """The ids a script reply names (hex of packed entries, '=' + id from the earlier layout), once each."""
    out: dict[str, None] = {}
    for member in members:
        # The store's client decodes replies; a raw client (benchmarks) returns bytes.
        text = member.decode() if isinstance(member, bytes) else member
        out[text[1:] if text.startswith("=") else unpack_id(bytes.fromhex(text))] = None
    return list(out)
