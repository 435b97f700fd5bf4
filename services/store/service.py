"""Store: Article -> stored article in a story cluster -> StoryEvent.

Consumes `articles`, links exact duplicates (same normalised body), places
each article in a story cluster (services.store.cluster), writes article and
cluster in one Redis transaction and publishes a StoryEvent (key: cluster id).

Idempotent and resumable: after the work for a record is done the partition's
high-water offset is raised in Redis; records at or below it are skipped, and
on assignment the consumer seeks just past it, so a replay from offset 0
changes nothing and a write lost in a Redis crash is read again from Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.common.bus import Bus, Delivery
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import Article, StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, STORY_EVENTS
from services.store.cluster import (
    ENTITY_PREFIX,
    Candidate,
    Weights,
    combine,
    document_terms,
    features,
    grow,
    ranked_matches,
    seed,
)
from services.store.dedup import Sketch, sketch
from services.store.lsh import LshIndex
from services.store.repository import (
    WRITE_RETRIES,
    Centroid,
    ClusterMember,
    JoinReason,
    Repository,
    RevisionNote,
    StoredArticle,
    StoredCluster,
)
from services.store.text import body_hash

log = get_logger(__name__)
EVENT_TOP_ENTITIES = 10
CLUSTER_ENTITIES = 30


class ConcurrentUpdate(Exception):
    """The cluster kept changing under us; the bus retries the message."""


class Store:
    """Places articles in clusters and keeps the Redis state."""

    def __init__(self, settings: Settings, repo: Repository, bus: Bus | None = None,
                 ledger: Ledger | None = None) -> None:
        """`bus` and `ledger` are needed by `handle` (the service); `ingest` alone (evaluation) needs neither."""
        self.settings = settings
        self.repo = repo
        self.bus = bus
        self.ledger = ledger
        self.lsh = LshIndex(repo.redis, repo.keys, window_hours=settings.copy_window_hours)
        self.weights = Weights(body=settings.cluster_weight_body, title=settings.cluster_weight_title,
                               entities=settings.cluster_weight_entities,
                               time_scale_s=settings.cluster_time_scale_days * 86400)

    async def handle(self, article: Article, delivery: Delivery) -> None:
        """Store one article (idempotent), publish its story event, then mark the offset done."""
        hw = await self.repo.high_water(delivery.topic, delivery.partition)
        if hw is not None and delivery.offset <= hw.offset:
            return  # done before: a replay (the mark was checked against the log on assignment)
        if self.bus is None or self.ledger is None:
            raise RuntimeError("Store.handle needs a bus and a ledger")
        stored, cluster, kind = await self.ingest(article)
        # Re-published when a crash came between the write and the event: consumers
        # dedup on (cluster id, article id, kind).
        await self.bus.publish(STORY_EVENTS, cluster.id, story_event(kind, cluster, stored))
        for absorbed in stored.joined.merged_clusters:
            # Keyed by the merged-away id, so its followers see where the story went.
            await self.bus.publish(STORY_EVENTS, absorbed, story_event("merged", cluster, stored, absorbed))
        await self.ledger.settle(article.url)
        await self.repo.raise_high_water(delivery.topic, delivery.partition, delivery.offset, article.id)

    async def ingest(self, article: Article) -> tuple[StoredArticle, StoredCluster, str]:
        """Store an article in its story (idempotent): (stored article, its cluster, event kind)."""
        stored = await self.repo.article(article.id)
        digest = body_hash(article.text)
        if stored is None:
            stored, cluster, kind = await self._place_new(article, digest)
            log.info("article.stored", article_id=article.id, cluster_id=cluster.id, outcome=stored.joined.rule,
                     score=stored.joined.score, copy_of=stored.copy_of)
            return stored, cluster, kind
        if not stored.has_seen(digest, article.title):
            stored = await self._revise(stored, article, digest)
        cluster_or_none = await self.repo.cluster(stored.cluster_id)
        if cluster_or_none is None:
            raise RuntimeError(f"article {stored.id} points to missing cluster {stored.cluster_id}")
        return stored, cluster_or_none, ("created" if stored.joined.rule == "new_cluster" else "updated")

    async def _revise(self, stored: StoredArticle, article: Article, digest: str) -> StoredArticle:
        """A new version of a stored URL: same article, same story; the old version is noted."""
        note = RevisionNote(revision=stored.revision, body_hash=stored.body_hash, title=stored.title,
                            words=len(stored.text.split()), replaced_at=datetime.now(UTC))
        revised = StoredArticle.model_validate({
            **article.model_dump(), "cluster_id": stored.cluster_id, "copy_of": stored.copy_of,
            "body_hash": digest, "stored_at": stored.stored_at, "revision": stored.revision + 1,
            "revisions": [*stored.revisions, note], "joined": stored.joined,
        })
        await self.repo.replace_article(revised)
        # Later copies are compared with the current text.
        at = (stored.published_at or stored.fetched_at).timestamp()
        await self.lsh.forget(stored.id, at=at)
        await self.lsh.insert_and_query(stored.id, sketch(revised.text), at=at)
        log.info("article.revised", article_id=article.id, revision=revised.revision,
                 words_before=note.words, words_after=len(revised.text.split()))
        return revised

    async def _place_new(self, article: Article, digest: str) -> tuple[StoredArticle, StoredCluster, str]:
        # Computed once: only the Redis reads and the decision are redone when a cluster changed under us.
        signature = sketch(article.text)
        doc_terms = document_terms(article.title, article.text, article.entities)
        for _ in range(WRITE_RETRIES):
            placed = await self._try_place(article, digest, signature, doc_terms)
            if placed is not None:
                return placed
        raise ConcurrentUpdate(f"cluster for {article.id} changed {WRITE_RETRIES} times while placing it")

    async def _try_place(self, article: Article, digest: str, signature: Sketch,
                         doc_terms: list[str]) -> tuple[StoredArticle, StoredCluster, str] | None:
        settings = self.settings
        now = datetime.now(UTC)
        event_time = article.published_at or article.fetched_at
        df, n_docs = await self.repo.document_frequencies(doc_terms)
        feats = features(article.title, article.text, article.entities, event_time.timestamp(), df, n_docs)
        copy_of: str | None = None
        cluster: StoredCluster | None = None
        reason = JoinReason(rule="new_cluster")
        links: list[str] = []  # other stories this article also links strongly: merged into its own

        owner = await self.repo.body_owner(digest)
        if owner and owner != article.id:
            original = await self.repo.article(owner)
            if original is not None:
                cluster = await self.repo.cluster(original.cluster_id)
                copy_of = original.copy_of or owner
                reason = JoinReason(rule="exact_duplicate", score=1.0, text_similarity=1.0)
        # Always indexed, so later copies of this article find it.
        copies = await self.lsh.find_copies(
            article.id, signature, at=feats.time, min_jaccard=settings.copy_min_jaccard,
            min_containment=settings.copy_min_containment, min_shingles=settings.copy_min_shingles)
        if cluster is None and copies:
            originals = await self.repo.articles([i for i, _ in copies])
            if originals:
                # The most similar earlier article; copies of copies point to the root original.
                original = originals[0]
                verdict = dict(copies)[original.id]
                cluster = await self.repo.cluster(original.cluster_id)
                copy_of = original.copy_of or original.id
                reason = JoinReason(rule="copy", score=round(verdict.similarity, 4),
                                    text_similarity=round(verdict.jaccard, 4))
        index_entities, index_terms = feats.index_keys()
        posting_entities = [k.removeprefix(ENTITY_PREFIX) for k in index_entities]
        if cluster is None:
            window_s = settings.cluster_window_hours * 3600
            ids = await self.repo.candidate_clusters(posting_entities, index_terms, around=feats.time,
                                                     window_s=window_s)
            found = {c.id: c for c in await self.repo.clusters(ids)}
            candidates = [candidate_of(c) for c in found.values()]
            ranked = ranked_matches(feats, candidates, self.weights, settings.cluster_threshold, window_s)
            match = ranked[0] if ranked else None
            links = [m.cluster_id for m in ranked[1:] if m.score >= settings.cluster_merge_threshold]
            if match is not None:
                cluster = found[match.cluster_id]
                reason = JoinReason(rule="similar", score=match.score, text_similarity=match.text_similarity,
                                    title_similarity=match.title_similarity,
                                    entity_similarity=match.entity_similarity,
                                    time_gap_hours=match.time_gap_hours, shared_entities=match.shared_entities)

        expected = cluster.version if cluster is not None else None
        if cluster is None:
            cluster = StoredCluster(id=cluster_id_for(article.id), title=article.title, first_seen=event_time,
                                    last_updated=now, size=0, outlets=[])
            centroid = seed(cluster.id, feats)
        else:
            centroid = grow(candidate_of(cluster), feats)
        member = ClusterMember(id=article.id, outlet=article.outlet, title=article.title, url=article.url,
                               published_at=article.published_at, copy_of=copy_of,
                               copy_similarity=reason.score if copy_of else None)
        updated = cluster.model_copy(update={
            "title": cluster.title or article.title,
            "first_seen": min(cluster.first_seen, event_time),
            "last_updated": now,
            "size": cluster.size + 1,
            "outlets": sorted({*cluster.outlets, article.outlet}),
            "entities": count_entities(cluster.entities, article),
            "centroid": centroid_from(centroid),
            "members": [*cluster.members, member],
        })
        stored = StoredArticle.model_validate({
            **article.model_dump(), "cluster_id": updated.id, "copy_of": copy_of, "body_hash": digest,
            "stored_at": now, "joined": reason,
        })
        if not await self.repo.save(stored, updated, index_entities=posting_entities, index_terms=index_terms,
                                    expect_cluster_version=expected, event_time=feats.time,
                                    document_terms=doc_terms):
            return None
        kind = "created" if expected is None else "updated"
        if links:
            return await self._merge_linked(stored, updated.id, links, kind)
        return stored, updated, kind

    async def _merge_linked(self, stored: StoredArticle, cluster_id: str, links: list[str],
                            kind: str) -> tuple[StoredArticle, StoredCluster, str]:
        """Merge the stories a new article linked into its own; record them on the article."""
        merged = []
        for other in links:
            done = await self._merge(cluster_id, other)
            if done is not None:
                absorbed, cluster_id = done
                merged.append(absorbed)
        current = await self.repo.article(stored.id) or stored
        current = current.model_copy(update={
            "cluster_id": cluster_id, "joined": current.joined.model_copy(update={"merged_clusters": merged})})
        await self.repo.replace_article(current)
        cluster = await self.repo.cluster(cluster_id)
        if cluster is None:
            raise RuntimeError(f"cluster {cluster_id} vanished during a merge")
        log.info("clusters.merged", article_id=stored.id, into=cluster_id, merged=merged)
        return current, cluster, kind

    async def _merge(self, one: str, other: str) -> tuple[str, str] | None:
        """Merge two clusters, the larger (then older) surviving: (absorbed id, surviving id)."""
        for _ in range(WRITE_RETRIES):
            a, b = await self.repo.cluster(one), await self.repo.cluster(other)
            if a is None or b is None or a.id == b.id:
                return None  # already merged (ids follow aliases) or gone
            if (b.size, -b.first_seen.timestamp()) > (a.size, -a.first_seen.timestamp()):
                a, b = b, a
            combined = combine(candidate_of(a), candidate_of(b))
            entities = dict(a.entities)
            for key, count in b.entities.items():
                entities[key] = entities.get(key, 0) + count
            survivor = a.model_copy(update={
                "first_seen": min(a.first_seen, b.first_seen),
                "last_updated": max(a.last_updated, b.last_updated),
                "size": a.size + b.size,
                "outlets": sorted({*a.outlets, *b.outlets}),
                "entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))[:CLUSTER_ENTITIES]),
                "centroid": centroid_from(combined),
                "members": [*a.members, *b.members],
            })
            moved = [m.model_copy(update={"cluster_id": a.id})
                     for m in await self.repo.articles([m.id for m in b.members])]
            if await self.repo.save_merge(survivor, b.id, moved, expect_versions=(a.version, b.version)):
                return b.id, a.id
        return None

    async def seek_past_high_water(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """On assignment, resume just after the last finished record recorded in Redis.

        The mark is trusted only if the log still holds that record at that offset:
        the embedded broker forgets its log on restart and reuses offsets, and then
        its new records are new work. (End offsets cannot tell: Tansu under-reports them.)
        """
        for tp in assigned:
            hw = await self.repo.high_water(tp.topic, tp.partition)
            if hw is None:
                continue
            if await record_key_at(self.settings, tp, hw.offset) == hw.key:
                consumer.seek(tp, hw.offset + 1)
            else:
                log.warning("store.high_water_reset", partition=tp.partition, high_water=hw.offset)
                await self.repo.forget_high_water(tp.topic, tp.partition)


async def record_key_at(settings: Settings, tp: TopicPartition, offset: int) -> str | None:
    """The key of the record at `offset` of a partition, or None if the log has no such record."""
    reader = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
                              auto_offset_reset="none", client_id="wirewatch-store-check")
    async with asyncio.timeout(settings.send_timeout_s):
        await reader.start()
    try:
        reader.assign([tp])
        reader.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + 3
        while asyncio.get_running_loop().time() < deadline:
            try:
                batch = await reader.getmany(tp, timeout_ms=500, max_records=1)
            except KafkaError:
                return None  # offset out of range: the log is shorter than the mark
            for record in batch.get(tp, []):
                if record.offset == offset:
                    return record.key.decode("utf-8", "replace") if record.key is not None else None
                return None
        return None
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(settings.shutdown_grace_s):
                await reader.stop()


async def trim_periodically(repo: Repository, stop: asyncio.Event, every_s: float = 600.0) -> None:
    """Keep the latest-first indexes to the retention period."""
    while not stop.is_set():
        try:
            removed = await repo.trim(time.time())
            if removed:
                log.info("store.trimmed", entries=removed)
        except Exception as exc:  # noqa: BLE001 - a Redis hiccup: try again next round
            log.warning("store.trim_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def cluster_id_for(first_article_id: str) -> str:
    """A new cluster's id, derived from its first article so a replay opens the same one."""
    return "c" + hashlib.sha256(first_article_id.encode()).hexdigest()[:16]


def candidate_of(cluster: StoredCluster) -> Candidate:
    """The clustering view of a stored cluster."""
    c = cluster.centroid
    return Candidate(cluster.id, c.body, c.title, c.entities, c.first_time, c.last_time)


def centroid_from(candidate: Candidate) -> Centroid:
    """What a stored cluster keeps of a clustering candidate."""
    return Centroid(body=candidate.body, title=candidate.title, entities=candidate.entities,
                    first_time=candidate.first_time, last_time=candidate.last_time)


def count_entities(counts: dict[str, int], article: Article) -> dict[str, int]:
    """Members mentioning each entity, most shared first, bounded."""
    merged = dict(counts)
    for key in {e.key for e in article.entities}:
        merged[key] = merged.get(key, 0) + 1
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:CLUSTER_ENTITIES])


def story_event(kind: str, cluster: StoredCluster, article: StoredArticle,
                merged_away: str | None = None) -> StoryEvent:
    """The event announcing that `article` created or joined `cluster` (or merged `merged_away` into it)."""
    return StoryEvent(
        kind="merged" if merged_away else ("created" if kind == "created" else "updated"),
        cluster_id=merged_away or cluster.id,
        merged_into=cluster.id if merged_away else None,
        article_id=article.id,
        title=cluster.title,
        size=cluster.size,
        outlets=cluster.outlets,
        entities=list(cluster.entities)[:EVENT_TOP_ENTITIES],
        at=datetime.now(UTC),
    )


async def main(settings: Settings, stop: asyncio.Event) -> None:
    """Run the store until `stop` is set."""
    keys = Keys(settings.key_prefix)
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis(settings))
        bus = await stack.enter_async_context(Bus(settings, client_id="wirewatch-store"))
        repo = Repository(redis, keys, retention_s=settings.retention_days * 86400,
                          window_s=settings.cluster_window_hours * 3600)
        store = Store(settings, repo, bus, Ledger.from_settings(redis, keys, settings))
        log.info("service.started", service="store")
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "store", stop, ready))
            tasks.create_task(trim_periodically(repo, stop))
            tasks.create_task(bus.consume(
                ARTICLES, group="store", stage="store", handle=store.handle, stop=stop,
                on_assign=store.seek_past_high_water, ready=ready,
            ))
    log.info("service.stopped", service="store")

