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
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.common.bus import Bus, Delivery
from services.common.fingerprint import FINGERPRINT_VERSION, Sketch, body_hash, fingerprint, sketch
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import Article, StoryArticle, StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, STORY_EVENTS
from services.store.batch import BatchView, Entry, StoryCache, count_hits
from services.store.cluster import (
    ENTITY_PREFIX,
    ArticleTerms,
    Candidate,
    Features,
    Weights,
    combine,
    features_of,
    grow,
    ranked_matches,
    seed,
)
from services.store.dedup import CopyVerdict
from services.store.gc_policy import FullCollections
from services.store.idf import DocumentFrequencies, term_buckets
from services.store.lsh import LshIndex, verify_copies
from services.store.repository import (
    WRITE_RETRIES,
    Centroid,
    JoinReason,
    Repository,
    RevisionNote,
    StoredArticle,
    StoredStory,
    StoryMember,
)

log = get_logger(__name__)
# Entity types in the order a story's summary keeps them when equally shared (others in between).
_ENTITY_TYPE_RANK = {"person": 0, "org": 1, "gpe": 3, "loc": 3, "norp": 4}
# Articles placed and committed together. A consumer poll brings several chunks: the copy lookup
# of the next chunk runs in Redis while the current one is placed.
PLACE_CHUNK = 50
CLUSTER_ENTITIES = 30


class ConcurrentUpdate(Exception):
    """The clusters kept changing under us; the bus retries the message."""


@dataclass(frozen=True)
class Prepared:
    """What is computed once per article, whatever the store's state (redone never, even on a retry)."""

    article: Article
    digest: str
    sketch: Sketch
    terms: ArticleTerms
    time: float


@dataclass(frozen=True)
class Placed:
    """Where an article went: the stored article, its cluster right after it, and the event kind."""

    stored: StoredArticle
    story: StoredStory
    kind: str


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
        self.cache = StoryCache(settings.store_cache_clusters)
        self.idf = DocumentFrequencies(repo)
        self.full_collections = FullCollections()
        self.weights = Weights(body=settings.cluster_weight_body, title=settings.cluster_weight_title,
                               entities=settings.cluster_weight_entities,
                               time_scale_s=settings.cluster_time_scale_days * 86400)

    async def handle(self, article: Article, delivery: Delivery) -> None:
        """Store one article (idempotent), publish its story event, then mark the offset done."""
        await self.handle_batch([(article, delivery)])

    async def handle_batch(self, items: Sequence[tuple[Article, Delivery]]) -> None:
        """Store a partition's batch (idempotent), publish the story events, then mark the offsets done."""
        if self.bus is None or self.ledger is None:
            raise RuntimeError("Store.handle needs a bus and a ledger")
        if not items:
            return
        first = items[0][1]
        hw = await self.repo.high_water(first.topic, first.partition)
        # Records at or below the mark were done before: a replay (the mark was checked against the log on assignment).
        todo = [(a, d) for a, d in items if hw is None or d.offset > hw.offset]
        if not todo:
            return
        placed = await self.ingest_many([a for a, _ in todo])
        # Re-published when a crash came between the write and the events: consumers
        # dedup on (cluster id, article id, kind).
        events: list[tuple[str, StoryEvent]] = []
        for p in placed:
            events.append((p.story.id, story_event(p.kind, p.story, p.stored)))
            for absorbed in p.stored.joined.merged_clusters:
                # Keyed by the merged-away id, so its followers see where the story went.
                events.append((absorbed, story_event("merged", p.story, p.stored, absorbed)))
        await self.bus.publish_many(STORY_EVENTS, events)
        await self.ledger.settle_many([a.url for a, _ in todo])
        last_article, last = todo[-1]
        await self.repo.raise_high_water(last.topic, last.partition, last.offset, last_article.id)

    async def ingest(self, article: Article) -> tuple[StoredArticle, StoredStory, str]:
        """Store an article in its story (idempotent): (stored article, its cluster, event kind)."""
        (placed,) = await self.ingest_many([article])
        return placed.stored, placed.story, placed.kind

    async def ingest_many(self, articles: Sequence[Article]) -> list[Placed]:
        """Store articles in arrival order (idempotent), new ones placed as one batch: where each went."""
        results: list[Placed | None] = [None] * len(articles)
        start = 0
        while start < len(articles):
            # A run of distinct ids: a second copy of an id in the same poll is handled after the first is stored.
            seen: set[str] = set()
            end = start
            while end < len(articles) and articles[end].id not in seen:
                seen.add(articles[end].id)
                end += 1
            run = list(range(start, end))
            stored = {a.id: a for a in await self.repo.articles([articles[i].id for i in run])}
            fresh = [i for i in run if articles[i].id not in stored]
            for i in run:
                if articles[i].id in stored:
                    results[i] = await self._ingest_stored(stored[articles[i].id], articles[i])
            for i, placed in zip(fresh, await self._place_batch([articles[i] for i in fresh]), strict=True):
                results[i] = placed
            start = end
        self.full_collections.run_if_due()
        return [r for r in results if r is not None]

    async def _ingest_stored(self, stored: StoredArticle, article: Article) -> Placed:
        """An article stored before: a replay (nothing changes) or a new revision of it."""
        digest = body_hash(article.text)
        if not stored.has_seen(digest, article.title):
            stored = await self._revise(stored, article, digest)
        story = await self.repo.story(stored.cluster_id)
        if story is None:
            raise RuntimeError(f"article {stored.id} points to missing cluster {stored.cluster_id}")
        return Placed(stored, story, "created" if stored.joined.rule == "new_cluster" else "updated")

    async def _revise(self, stored: StoredArticle, article: Article, digest: str) -> StoredArticle:
        """A new version of a stored URL: same article, same story; the old version is noted."""
        note = RevisionNote(revision=stored.revision, body_hash=stored.body_hash, title=stored.title,
                            words=len(stored.text.split()), replaced_at=datetime.now(UTC))
        revised = StoredArticle.model_validate({
            **article.model_dump(exclude={"fingerprint"}), "cluster_id": stored.cluster_id, "copy_of": stored.copy_of,
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

    async def _place_batch(self, articles: list[Article]) -> list[Placed]:
        """Place new articles (distinct ids) in arrival order, PLACE_CHUNK at a time, one transaction each."""
        if not articles:
            return []
        await self.idf.load()
        prepared = [prepare(a) for a in articles]
        chunks = [prepared[i:i + PLACE_CHUNK] for i in range(0, len(prepared), PLACE_CHUNK)]
        placed: list[Placed] = []
        lookups: list[asyncio.Future[list[list[str]]]] = [self._start_copy_lookup(chunks[0])]

        def start_next_lookup() -> None:
            # The next chunk's copy lookup depends on no placement: Redis runs it while this chunk is
            # placed. Sent only once this chunk's reads are answered, so they never queue behind it.
            if len(lookups) < len(chunks):
                lookups.append(self._start_copy_lookup(chunks[len(lookups)]))

        try:
            for i, chunk in enumerate(chunks):
                placed += await self._place_chunk(chunk, lookups[i], start_next_lookup)
        finally:
            for lookup in lookups:
                lookup.cancel()
        return placed

    def _start_copy_lookup(self, prepared: list[Prepared]) -> asyncio.Future[list[list[str]]]:
        """Insert the articles into the LSH index and get their copy candidates (idempotent), in the background."""
        return asyncio.ensure_future(
            self.lsh.insert_and_query_many([(p.article.id, p.sketch, p.time) for p in prepared]))

    async def _place_chunk(self, prepared: list[Prepared], lookup: asyncio.Future[list[list[str]]],
                           reads_done: Callable[[], None] = lambda: None) -> list[Placed]:
        """Place a chunk against a view of Redis plus its own decisions; one optimistic commit, redone on conflict."""
        # Hashed once per chunk; each article's document terms are the prefix of its weighed terms.
        weighed = [term_buckets(p.terms.weighed_terms()) for p in prepared]
        document_buckets = [b[:p.terms.document_term_count] for p, b in zip(prepared, weighed, strict=True)]
        for attempt in range(WRITE_RETRIES):
            if attempt:
                lookup = self._start_copy_lookup(prepared)  # a replay: the same candidates as the first time
            view = BatchView(self.repo, self.lsh, self.cache)
            owners = asyncio.ensure_future(self.repo.body_owners([p.digest for p in prepared]))
            for _ in range(3):
                await asyncio.sleep(0)  # let the requests go out: Redis answers while the articles are weighed
            # Each article is weighed with the frequencies including the articles before it.
            feats = []
            for p, buckets, own in zip(prepared, weighed, document_buckets, strict=True):
                feats.append(features_of(p.terms, p.time, self.idf.frequencies(buckets), self.idf.documents))
                self.idf.add(own)
            copies, posting_keys = await self._prefetch(view, prepared, feats, lookup, owners)
            reads_done()
            placed = [await self._place(view, *args)
                      for args in zip(prepared, feats, copies, posting_keys, strict=True)]
            self.idf.stage(view.write)
            conflicts = await self.repo.commit(view.write)
            if not conflicts:
                view.committed()
                self.idf.written(view.write)
                outcomes: Counter[str] = Counter()
                for done in placed:
                    joined = done.stored.joined
                    outcomes[joined.rule] += 1
                    # Per article at debug level: at a thousand articles a second an info line each is noise.
                    log.debug("article.stored", article_id=done.stored.id, cluster_id=done.story.id,
                              outcome=joined.rule, score=joined.score, copy_of=done.stored.copy_of,
                              merged=joined.merged_clusters or None)
                log.info("articles.stored", articles=len(placed), **outcomes)
                return placed
            # Another instance wrote these clusters meanwhile: read them again and redo the chunk.
            self.idf.unstage()
            for own in reversed(document_buckets):
                self.idf.remove(own)
            self.cache.forget(conflicts)
        raise ConcurrentUpdate(f"clusters changed {WRITE_RETRIES} times while placing {len(prepared)} articles")

    async def close(self) -> None:
        """Persist what is only in memory (the latest document-frequency increments)."""
        await self.idf.flush()

    async def _prefetch(self, view: BatchView, prepared: list[Prepared], feats: list[Features],
                        lookup: Awaitable[list[list[str]]], owners_read: Awaitable[dict[str, str]],
                        ) -> tuple[list[list[tuple[str, CopyVerdict]]], list[list[str]]]:
        """Read what the chunk will need in a few round trips: each article's verified copies (most similar
        first) and its index (posting) keys.

        `lookup` (the LSH insert-and-query) and `owners_read` (body hashes) are already
        under way. Inserting into the LSH index is idempotent (a redone chunk gets the
        same candidates back) and each article sees the ones before it.
        """
        window_s = self.settings.cluster_window_hours * 3600
        index_keys = [self._posting_keys(f) for f in feats]
        times = [p.time for p in prepared]
        copy_candidates, owners, _ = await asyncio.gather(
            lookup, owners_read,
            view.read_postings((k for keys in index_keys for k in keys), lo=min(times) - window_s,
                               hi=max(times) + window_s),
        )
        view.body_owner_read.update(owners)
        in_batch = {p.article.id for p in prepared}
        for p in prepared:
            view.sketches[p.article.id] = p.sketch
        await asyncio.gather(
            view.read_sketches(c for found in copy_candidates for c in found if c not in in_batch),
            view.read_articles(o for o in owners.values() if o not in in_batch),
        )
        # The stories the articles are likely to meet: those sharing the most index keys, and their copies' stories.
        verified = [verify_copies(p.sketch, found, view.sketches, **self._copy_thresholds())
                    for p, found in zip(prepared, copy_candidates, strict=True)]
        await view.read_articles(c for v in verified for c, _ in v if c not in in_batch)
        wanted = [c for keys in index_keys for c, _ in ranked_hits(view, keys, *self._candidate_limits)]
        wanted += [a.cluster_id for a in view.articles_read.values()]
        await view.read_stories(wanted)
        return verified, index_keys

    @property
    def _candidate_limits(self) -> tuple[int, int]:
        return self.settings.cluster_max_candidates, self.settings.cluster_min_shared_keys

    def _copy_thresholds(self) -> dict[str, Any]:
        s = self.settings
        return {"min_jaccard": s.copy_min_jaccard, "min_containment": s.copy_min_containment,
                "min_shingles": s.copy_min_shingles}

    def _posting_keys(self, feats: Features) -> list[str]:
        k = self.repo.keys
        index_entities, index_terms = feats.index_keys()
        return [*(k.entity_postings(e.removeprefix(ENTITY_PREFIX)) for e in index_entities),
                *map(k.term_postings, index_terms)]

    async def _place(self, view: BatchView, p: Prepared, feats: Features, copies: list[tuple[str, CopyVerdict]],
                     posting_keys: list[str]) -> Placed:
        """Decide where one article goes, against the batch's view; record the outcome in the view."""
        settings = self.settings
        article = p.article
        now = datetime.now(UTC)
        copy_of: str | None = None
        target: Entry | None = None
        reason = JoinReason(rule="new_cluster")
        links: list[str] = []  # other stories this article also links strongly: merged into its own

        owner = view.body_owner(p.digest)
        if owner and owner != article.id:
            original = await view.article(owner)
            if original is not None:
                target = await view.entry(original.cluster_id)
                copy_of = original.copy_of or owner
                reason = JoinReason(rule="exact_duplicate", score=1.0, text_similarity=1.0)
        if target is None:
            for cid, verdict in copies:
                # The most similar earlier article; copies of copies point to the root original.
                original = await view.article(cid)
                if original is None:
                    continue
                target = await view.entry(original.cluster_id)
                copy_of = original.copy_of or original.id
                reason = JoinReason(rule="copy", score=round(verdict.similarity, 4),
                                    text_similarity=round(verdict.jaccard, 4))
                break
        if target is None:
            window_s = settings.cluster_window_hours * 3600
            missing_keys = [k for k in posting_keys if k not in view.postings_read]
            if missing_keys:
                await view.read_postings(missing_keys, lo=p.time - window_s, hi=p.time + window_s)
            found: dict[str, Entry] = {}
            for cid, _ in ranked_hits(view, posting_keys, *self._candidate_limits):
                entry = await view.entry(cid)
                if entry is not None:
                    found.setdefault(entry.story.id, entry)
            ranked = ranked_matches(feats, [e.candidate for e in found.values()], self.weights,
                                    settings.cluster_threshold, window_s)
            if ranked:
                match = ranked[0]
                target = found[match.cluster_id]
                links = [m.cluster_id for m in ranked[1:] if m.score >= settings.cluster_merge_threshold]
                reason = JoinReason(rule="similar", score=match.score, text_similarity=match.text_similarity,
                                    title_similarity=match.title_similarity,
                                    entity_similarity=match.entity_similarity,
                                    time_gap_hours=match.time_gap_hours, shared_entities=match.shared_entities)

        event_time = article.published_at or article.fetched_at
        if target is None:
            story = StoredStory(id=story_id_for(article.id), title=article.title, first_seen=event_time,
                                    last_updated=now, size=0, outlets=[])
            centroid = seed(story.id, feats)
        else:
            story = target.story
            centroid = grow(target.candidate, feats)
        member = StoryMember(id=article.id, outlet=article.outlet, title=article.title, url=article.url,
                               published_at=article.published_at, copy_of=copy_of,
                               copy_similarity=reason.score if copy_of else None, language=article.language)
        updated = story.model_copy(update={
            "title": story.title or article.title,
            "first_seen": min(story.first_seen, event_time),
            "last_updated": now,
            "size": story.size + 1,
            "outlets": sorted({*story.outlets, article.outlet}),
            "entities": count_entities(story.entities, article),
            "centroid": centroid_from(centroid),
            "members": [*story.members, member],
        })
        # Constructed from the already validated article: validating its text again cost more than placing it.
        stored = StoredArticle.model_construct(
            **{name: getattr(article, name) for name in Article.model_fields if name != "fingerprint"},
            cluster_id=updated.id, copy_of=copy_of, body_hash=p.digest, stored_at=now, joined=reason,
            # Given, not defaulted: model_construct inspects a default factory's signature on every call.
            revisions=[],
        )
        view.touch(target, Entry(updated, centroid))
        view.add_article(stored)
        view.post(posting_keys, updated.id, p.time)
        kind = "created" if target is None else "updated"
        if not links:
            return Placed(stored, updated, kind)
        merged = []
        survivor_id = updated.id
        for other in links:
            done = await self._merge(view, survivor_id, other)
            if done is not None:
                absorbed, survivor_id = done
                merged.append(absorbed)
        final = await view.entry(survivor_id)
        current = await view.article(stored.id) or stored
        current = current.model_copy(update={
            "joined": current.joined.model_copy(update={"merged_clusters": merged})})
        view.move_article(current)
        if final is None:
            raise RuntimeError(f"cluster {survivor_id} vanished during a merge")
        return Placed(current, final.story, kind)

    async def _merge(self, view: BatchView, one: str, other: str) -> tuple[str, str] | None:
        """Merge two clusters in the batch, the larger (then older) surviving: (absorbed id, surviving id)."""
        a, b = await view.entry(one), await view.entry(other)
        if a is None or b is None or a.story.id == b.story.id:
            return None  # already merged (ids follow aliases) or gone
        if (b.story.size, -b.story.first_seen.timestamp()) > (a.story.size, -a.story.first_seen.timestamp()):
            a, b = b, a
        ac, bc = a.story, b.story
        combined = combine(a.candidate, b.candidate)
        entities = dict(ac.entities)
        for key, count in bc.entities.items():
            entities[key] = entities.get(key, 0) + count
        survivor = ac.model_copy(update={
            "first_seen": min(ac.first_seen, bc.first_seen),
            "last_updated": max(ac.last_updated, bc.last_updated),
            "size": ac.size + bc.size,
            "outlets": sorted({*ac.outlets, *bc.outlets}),
            "entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))[:CLUSTER_ENTITIES]),
            "centroid": centroid_from(combined),
            "members": [*ac.members, *bc.members],
        })
        await view.read_articles(m.id for m in bc.members)
        for m in bc.members:
            moved = await view.article(m.id)
            if moved is not None:
                view.move_article(moved.model_copy(update={"cluster_id": ac.id}))
        view.touch(a, Entry(survivor, combined))
        view.absorb(b, ac.id)
        # Postings of the absorbed story stay; they resolve to the survivor through its alias.
        return bc.id, ac.id

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


def story_id_for(first_article_id: str) -> str:
    """A new cluster's id, derived from its first article so a replay opens the same one."""
    return "c" + hashlib.sha256(first_article_id.encode()).hexdigest()[:16]


def prepare(article: Article) -> Prepared:
    """The per-article work that does not depend on the store (body hash, sketch, word counts), done by the
    extractor when the article carries a current fingerprint, else here."""
    fp = article.fingerprint
    if fp is None or fp.version != FINGERPRINT_VERSION:
        fp = fingerprint(article.title, article.text)
    return Prepared(article, fp.body_hash, Sketch.decode(fp.sketch),
                    ArticleTerms.of_fingerprint(fp, article.entities),
                    (article.published_at or article.fetched_at).timestamp())


def ranked_hits(view: BatchView, posting_keys: list[str], limit: int, min_shared: int) -> list[tuple[str, int]]:
    """The stories sharing the most index keys with an article (at least `min_shared`), at most `limit`."""
    hits = count_hits(view.postings(k) for k in posting_keys)
    shared = [(cid, n) for cid, n in hits.items() if n >= min_shared]
    return sorted(shared, key=lambda kv: (-kv[1], kv[0]))[:limit]


def centroid_from(candidate: Candidate) -> Centroid:
    """What a stored cluster keeps of a clustering candidate."""
    # Constructed, not validated: hundreds of floats computed here, valid by construction.
    return Centroid.model_construct(body=candidate.body, title=candidate.title, entities=candidate.entities,
                                    first_time=candidate.first_time, last_time=candidate.last_time)


def count_entities(counts: dict[str, int], article: Article) -> dict[str, int]:
    """Members mentioning each entity, most shared first, bounded. Among equally shared ones people and
    organisations come before places and nationalities: they are what subscribers follow, and a small
    story names more places than the bound would otherwise leave room for."""
    merged = dict(counts)
    for key in {e.key for e in article.entities}:
        merged[key] = merged.get(key, 0) + 1
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], _ENTITY_TYPE_RANK.get(kv[0].partition(":")[0], 2), kv[0]))
    return dict(ranked[:CLUSTER_ENTITIES])


def story_event(kind: str, story: StoredStory, article: StoredArticle,
                merged_away: str | None = None) -> StoryEvent:
    """The event announcing that `article` created or joined `cluster` (or merged `merged_away` into it)."""
    return StoryEvent(
        kind="merged" if merged_away else ("created" if kind == "created" else "updated"),
        cluster_id=merged_away or story.id,
        merged_into=story.id if merged_away else None,
        article_id=article.id,
        title=story.title,
        size=story.size,
        outlets=story.outlets,
        entities=list(story.entities),  # every entity the summary keeps: subscriptions match on them
        independent_outlets=len({m.outlet for m in story.members if not m.copy_of}),
        copies=story.copies,
        article_copy_of=article.copy_of,
        article=StoryArticle(id=article.id, title=article.title, url=article.url, outlet=article.outlet,
                             language=article.language, published_at=article.published_at, text=article.text),
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
        store.full_collections.install()
        log.info("service.started", service="store")
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "store", stop, ready))
            tasks.create_task(trim_periodically(repo, stop))
            tasks.create_task(bus.consume(
                ARTICLES, group="store", stage="store", handle=store.handle, handle_batch=store.handle_batch,
                max_records=settings.store_batch_size, stop=stop, on_assign=store.seek_past_high_water, ready=ready,
            ))
        store.full_collections.uninstall()
        try:
            await store.close()
        except Exception as exc:  # noqa: BLE001 - statistics only: losing the last seconds of counts is harmless
            log.warning("store.close_failed", error=repr(exc))
    log.info("service.stopped", service="store")

