"""Redis reads and writes of articles, clusters and their indexes (sole writer of those keys).

Every write of one article is one MULTI/EXEC transaction guarded by WATCH on
the article and the cluster it touches, so two store instances updating the
same cluster never lose each other's update (the loser retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from redis.exceptions import WatchError

from services.common.keys import Keys
from services.common.messages import Article
from services.common.redis import Redis

WRITE_RETRIES = 20
MAX_ALIAS_HOPS = 5
# Stories scored per article, those sharing the most index keys first: bounded work per article
# (20 instead of 50 cost 0.0003 BCubed F1 on the dev set and gave ~20% more throughput at 10k).
MAX_CANDIDATES = 20

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


# Terms travel as one newline-joined argument: packing hundreds of separate
# arguments per article was the store's largest client-side cost.
_COUNT_DOCUMENTS = """
for term in string.gmatch(ARGV[1], "[^\\n]+") do redis.call('HINCRBY', KEYS[1], term, 1) end
return redis.call('INCR', KEYS[2])
"""

_READ_DOCUMENT_FREQUENCIES = """
local terms = {}
for term in string.gmatch(ARGV[1], "[^\\n]+") do table.insert(terms, term) end
local counts = {}
if #terms > 0 then counts = redis.call('HMGET', KEYS[1], unpack(terms)) end
table.insert(counts, 1, redis.call('GET', KEYS[2]) or '0')
return counts
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


class ClusterMember(BaseModel):
    """A cluster's view of one of its articles."""

    id: str
    outlet: str
    title: str
    url: str
    published_at: datetime | None = None
    copy_of: str | None = None
    copy_similarity: float | None = Field(None, description="similarity to the original, for copies")


class Centroid(BaseModel):
    """What clustering compares new articles with: summed member vectors and the time span."""

    body: dict[str, float] = Field(default_factory=dict)
    title: dict[str, float] = Field(default_factory=dict)
    entities: dict[str, float] = Field(default_factory=dict)
    first_time: float = 0.0
    last_time: float = 0.0


class StoredCluster(BaseModel):
    """A story cluster's summary, kept current on every join."""

    id: str
    title: str
    first_seen: datetime
    last_updated: datetime
    size: int
    outlets: list[str]
    entities: dict[str, int] = Field(default_factory=dict, description="entity key -> members mentioning it")
    centroid: Centroid = Field(default_factory=Centroid)
    members: list[ClusterMember] = Field(default_factory=list)
    _stored_json: str | None = PrivateAttr(default=None)

    @classmethod
    def from_stored(cls, raw: str) -> StoredCluster:
        """Parse the JSON read from Redis, remembering it as the version for optimistic writes."""
        cluster = cls.model_validate_json(raw)
        cluster._stored_json = raw
        return cluster

    @property
    def version(self) -> str | None:
        """The exact JSON this cluster was read as (None if never stored)."""
        return self._stored_json

    @property
    def copies(self) -> int:
        """Members that are copies of another member."""
        return sum(1 for m in self.members if m.copy_of)


class Repository:
    """Articles, clusters and indexes in Redis."""

    def __init__(self, redis: Redis, keys: Keys, *, retention_s: float | None = None,
                 window_s: float | None = None) -> None:
        """`retention_s`: articles and clusters not written for this long expire (None: kept);
        `window_s`: index postings older than this before the newest article are trimmed (None: kept)."""
        self.redis = redis
        self.keys = keys
        self.ttl = int(retention_s) if retention_s else None
        self.window_s = window_s
        self._raise_hw = redis.register_script(_RAISE_HIGH_WATER)
        self._count_documents = redis.register_script(_COUNT_DOCUMENTS)
        self._read_document_frequencies = redis.register_script(_READ_DOCUMENT_FREQUENCIES)

    # --- reads ---------------------------------------------------------------------------
    async def article(self, article_id: str) -> StoredArticle | None:
        """One stored article, or None."""
        raw = await self.redis.get(self.keys.article(article_id))
        return StoredArticle.model_validate_json(raw) if raw else None

    async def cluster(self, cluster_id: str) -> StoredCluster | None:
        """One cluster (following merges to the surviving one), or None."""
        found = await self.clusters([cluster_id])
        return found[0] if found else None

    async def clusters(self, ids: list[str]) -> list[StoredCluster]:
        """Clusters by id, in that order, merged-away ids replaced by their survivors, without repeats."""
        out: dict[str, StoredCluster] = {}
        for _ in range(MAX_ALIAS_HOPS):
            if not ids:
                break
            raws = await self.redis.mget([self.keys.cluster(i) for i in ids])
            missing = [i for i, r in zip(ids, raws, strict=True) if not r]
            for raw in raws:
                if raw:
                    cluster = StoredCluster.from_stored(str(raw))
                    out.setdefault(cluster.id, cluster)
            aliases = await self.redis.mget([self.keys.cluster_alias(i) for i in missing]) if missing else []
            ids = [str(a) for a in aliases if a and str(a) not in out]
        return list(out.values())

    async def articles(self, ids: list[str]) -> list[StoredArticle]:
        """Articles by id, in that order, skipping unknown ones."""
        if not ids:
            return []
        raws = await self.redis.mget([self.keys.article(i) for i in ids])
        return [StoredArticle.model_validate_json(r) for r in raws if r]

    async def body_owner(self, body_hash: str) -> str | None:
        """Id of the first article stored with this body hash."""
        value = await self.redis.get(self.keys.body(body_hash))
        return str(value) if value else None

    async def candidate_clusters(self, entity_keys: list[str], terms: list[str], *, around: float,
                                 window_s: float, limit: int = MAX_CANDIDATES) -> list[str]:
        """Cluster ids sharing an entity or a title term, active within `window_s` of `around`."""
        lo, hi = around - window_s, around + window_s
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in entity_keys:
                pipe.zrangebyscore(self.keys.entity_postings(key), lo, hi, start=0, num=200)
            for term in terms:
                pipe.zrangebyscore(self.keys.term_postings(term), lo, hi, start=0, num=200)
            results = await pipe.execute()
        hits: dict[str, int] = {}
        for ids in results:
            for cid in ids:
                hits[cid] = hits.get(cid, 0) + 1
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        return [cid for cid, _ in ranked[:limit]]

    async def recent_articles(self, *, limit: int, since: float | None = None,
                              before: float | None = None) -> list[str]:
        """Article ids, newest first."""
        hi = f"({before}" if before is not None else "+inf"
        lo = since if since is not None else "-inf"
        ids = await self.redis.zrevrangebyscore(self.keys.articles_recent, hi, lo, start=0, num=limit)
        return [str(i) for i in ids]

    async def recent_clusters(self, *, limit: int, since: float | None = None,
                              before: float | None = None) -> list[tuple[str, float]]:
        """(cluster id, last-updated time), latest first."""
        hi = f"({before}" if before is not None else "+inf"
        lo = since if since is not None else "-inf"
        rows: Any = await self.redis.zrevrangebyscore(
            self.keys.clusters_recent, hi, lo, start=0, num=limit, withscores=True)
        return [(str(cid), float(ts)) for cid, ts in rows]

    async def document_frequencies(self, terms: list[str]) -> tuple[dict[str, int], int]:
        """Document frequency of each term, and how many articles were counted."""
        k = self.keys
        result = await self._read_document_frequencies(keys=[k.document_frequencies, k.document_count],
                                                       args=["\n".join(terms)])
        df = {t: int(v) for t, v in zip(terms, result[1:], strict=True) if v}
        return df, int(result[0] or 0)

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

    async def save(self, article: StoredArticle, cluster: StoredCluster, *, index_entities: list[str],
                   index_terms: list[str], expect_cluster_version: str | None, event_time: float,
                   document_terms: Sequence[str] = ()) -> bool:
        """Write an article, its cluster, index postings and IDF counts atomically.

        Returns False if the cluster changed meanwhile: `expect_cluster_version` is the
        cluster JSON the caller read (None: the cluster must not exist yet); on a
        mismatch nothing is written and the caller recomputes.
        """
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(k.cluster(cluster.id))
            current = await pipe.get(k.cluster(cluster.id))
            if current != expect_cluster_version:
                await pipe.reset()  # type: ignore[no-untyped-call]
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(k.article(article.id), article.model_dump_json(), ex=self.ttl)
            pipe.zadd(k.articles_recent, {article.id: article.stored_at.timestamp()})
            pipe.set(k.body(article.body_hash), article.id, nx=True)
            pipe.set(k.cluster(cluster.id), cluster.model_dump_json(), ex=self.ttl)
            pipe.zadd(k.clusters_recent, {cluster.id: cluster.last_updated.timestamp()})
            postings = [*map(k.entity_postings, index_entities), *map(k.term_postings, index_terms)]
            for posting in postings:
                pipe.zadd(posting, {cluster.id: event_time}, gt=True)
                if self.window_s is not None:
                    # Stories outside the window can take no new article: their postings only cost.
                    pipe.zremrangebyscore(posting, "-inf", f"({event_time - self.window_s}")
            if document_terms:
                # One command for hundreds of terms: per-term HINCRBYs dominated the store's time.
                await self._count_documents(keys=[k.document_frequencies, k.document_count],
                                            args=["\n".join(document_terms)], client=pipe)
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def save_merge(self, survivor: StoredCluster, absorbed_id: str, moved: list[StoredArticle], *,
                         expect_versions: tuple[str | None, str | None]) -> bool:
        """Replace two clusters by one: the survivor (already combined) stays, the absorbed id
        becomes an alias of it and its members point to it.

        `expect_versions` are the JSONs of (survivor, absorbed) the caller read; False, with
        nothing written, if either changed meanwhile.
        """
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(k.cluster(survivor.id), k.cluster(absorbed_id))
            current = await pipe.mget([k.cluster(survivor.id), k.cluster(absorbed_id)])
            if tuple(current) != expect_versions:
                await pipe.reset()  # type: ignore[no-untyped-call]
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(k.cluster(survivor.id), survivor.model_dump_json(), ex=self.ttl)
            pipe.delete(k.cluster(absorbed_id))
            pipe.set(k.cluster_alias(absorbed_id), survivor.id)
            pipe.zrem(k.clusters_recent, absorbed_id)
            pipe.zadd(k.clusters_recent, {survivor.id: survivor.last_updated.timestamp()})
            for article in moved:
                pipe.set(k.article(article.id), article.model_dump_json(), keepttl=True)
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def replace_article(self, article: StoredArticle) -> None:
        """Overwrite a stored article in place (a new revision of the same URL)."""
        await self.redis.set(self.keys.article(article.id), article.model_dump_json(), keepttl=True)

    async def trim(self, now: float) -> int:
        """Drop expired articles and clusters from the latest-first indexes; how many entries went."""
        if self.ttl is None:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.keys.articles_recent, "-inf", now - self.ttl)
            pipe.zremrangebyscore(self.keys.clusters_recent, "-inf", now - self.ttl)
            removed = await pipe.execute()
        return int(sum(removed))

    async def stats(self) -> dict[str, int]:
        """Counts for health and tests."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.articles_recent)
            pipe.zcard(self.keys.clusters_recent)
            articles, clusters = await pipe.execute()
        return {"articles": int(articles), "clusters": int(clusters)}

