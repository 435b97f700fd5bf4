"""Placement: which story each new article joins, and the engine that places a poll of articles.

One article is decided in three steps, each a small function returning a `Decision`:

1. `copy_target`: the story of the article it copies: one with the same body (exact
   duplicate), else the most similar earlier article whose MinHash copy the sketches
   confirm (services.store.dedup); copies of copies point to the root original;
2. `similar_story`: else the best-scoring story sharing index keys with it
   (services.store.cluster), with the other stories it links strongly enough to merge;
3. else a new story.

`apply` then records the decision (and any merge) in the batch's view (services.store.batch).

`Placer` runs that over the articles of a poll: their copy lookup runs in Redis chunk by chunk,
one chunk ahead; what a chunk needs is read in a few round trips; each chunk is written in one
optimistic transaction (Repository.commit) and redone if another store instance changed one of
its stories meanwhile. Placing a poll decides what placing its articles one by one decides.
The store's service calls it for each poll, evaluation for each labelled article.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple

from services.common.fingerprint import FINGERPRINT_VERSION, Sketch, body_hash, fingerprint, sketch
from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.messages import Article
from services.common.settings import Settings
from services.store.batch import BatchView, Entry, StoryCache, count_hits
from services.store.cluster import (
    ENTITY_PREFIX,
    ArticleTerms,
    Candidate,
    Features,
    combine,
    features_of,
    grow,
    seed,
    stretched,
)
from services.store.dedup import CopyRules, CopyVerdict
from services.store.idf import DocumentFrequencies, term_buckets
from services.store.join_model import Joiner, Story, joiner_of
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
from services.store.spokespeople import spokespeople

log = get_logger(__name__)
#: Articles placed and committed together. A poll brings several chunks: the copy lookup of the
#: next chunk runs in Redis while the current one is placed.
PLACE_CHUNK = 50
#: Entities a story keeps (most shared first): what its summary shows and subscriptions match on.
STORY_ENTITIES = 30
# Entity types in the order a story keeps them when equally shared (others in between).
_ENTITY_TYPE_RANK = {"person": 0, "org": 1, "gpe": 3, "loc": 3, "norp": 4}
#: The join rule of an article that opened its story.
NEW_STORY = "new_cluster"


class ConcurrentUpdate(Exception):
    """The stories kept changing under us; the bus retries the message."""


@dataclass(frozen=True)
class Prepared:
    """What is computed once per article, whatever the store's state (never redone, even on a retry)."""

    article: Article
    digest: str
    sketch: Sketch
    terms: ArticleTerms
    time: float


@dataclass(frozen=True)
class Decision:
    """Where one article goes: a story (None: a new one), why, the original it copies, the stories it links."""

    target: Entry | None
    reason: JoinReason
    copy_of: str | None = None
    links: tuple[str, ...] = ()  # other stories scoring above the merge threshold: merged into its own


class Placed(NamedTuple):
    """Where an article went: the stored article, its story right after it, and the event kind."""

    stored: StoredArticle
    story: StoredStory
    kind: str  # "created" (the article opened the story) or "updated"


class Placer:
    """Places articles in stories and keeps their Redis state (through the repository and the LSH index)."""

    def __init__(self, settings: Settings, repo: Repository) -> None:
        self.settings = settings
        self.repo = repo
        self.lsh = LshIndex(repo.redis, repo.keys, window_hours=settings.copy_window_hours)
        self.cache = StoryCache(settings.store_cache_clusters)
        self.idf = DocumentFrequencies(repo)
        self.joiner = joiner_of(settings)

    async def ingest(self, article: Article) -> Placed:
        """Store an article in its story (idempotent)."""
        (placed,) = await self.ingest_many([article])
        return placed

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
        return [r for r in results if r is not None]

    async def close(self) -> None:
        """Persist what is only in memory (the latest document-frequency increments)."""
        await self.idf.flush()

    async def _ingest_stored(self, stored: StoredArticle, article: Article) -> Placed:
        """An article stored before: a replay (nothing changes) or a new revision of it."""
        digest = body_hash(article.text)
        if not stored.has_seen(digest, article.title):
            stored = await self._revise(stored, article, digest)
        story = await self.repo.story(stored.cluster_id, members=False)  # its event needs the summary alone
        if story is None:
            raise RuntimeError(f"article {stored.id} points to missing story {stored.cluster_id}")
        return Placed(stored, story, "created" if stored.joined.rule == NEW_STORY else "updated")

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
                           reads_done: Callable[[], None]) -> list[Placed]:
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
            copies, keys = await self._prefetch(view, prepared, feats, lookup, owners)
            reads_done()
            placed = [await place(view, p, f, c, k, self.settings, self.joiner)
                      for p, f, c, k in zip(prepared, feats, copies, keys, strict=True)]
            self.idf.stage(view.write)
            conflicts = await self.repo.commit(view.write)
            if not conflicts:
                view.committed()
                self.idf.written(view.write)
                _log_stored(placed)
                return placed
            # Another instance wrote these stories meanwhile: read them again and redo the chunk.
            self.idf.unstage()
            for own in reversed(document_buckets):
                self.idf.remove(own)
            self.cache.forget(conflicts)
        raise ConcurrentUpdate(f"stories changed {WRITE_RETRIES} times while placing {len(prepared)} articles")

    async def _prefetch(self, view: BatchView, prepared: list[Prepared], feats: list[Features],
                        lookup: Awaitable[list[list[str]]], owners_read: Awaitable[dict[str, str]],
                        ) -> tuple[list[list[tuple[str, CopyVerdict]]], list[list[str]]]:
        """Read what the chunk will need in a few round trips: each article's verified copies (most similar
        first) and its index (posting) keys.

        `lookup` (the LSH insert-and-query) and `owners_read` (body hashes) are already
        under way. Inserting into the LSH index is idempotent (a redone chunk gets the
        same candidates back) and each article sees the ones before it.
        """
        s = self.settings
        window_s = s.cluster_window_hours * 3600
        index_keys = [posting_keys(self.repo.keys, f) for f in feats]
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
        rules = CopyRules.of(s)
        verified = [verify_copies(p.sketch, found, view.sketches, rules)
                    for p, found in zip(prepared, copy_candidates, strict=True)]
        await view.read_articles(c for v in verified for c, _ in v if c not in in_batch)
        wanted = [c for keys, p in zip(index_keys, prepared, strict=True)
                  for c, _ in ranked_hits(view, keys, s.cluster_max_candidates, s.cluster_min_shared_keys,
                                          lo=p.time - window_s, hi=p.time + window_s)]
        wanted += [a.cluster_id for a in view.articles_read.values()]
        await view.read_stories(wanted)
        return verified, index_keys


def _log_stored(placed: list[Placed]) -> None:
    outcomes: Counter[str] = Counter()
    for done in placed:
        joined = done.stored.joined
        outcomes[joined.rule] += 1
        # Per article at debug level: at a thousand articles a second an info line each is noise.
        log.debug("article.stored", article_id=done.stored.id, cluster_id=done.story.id,
                  outcome=joined.rule, score=joined.score, copy_of=done.stored.copy_of,
                  merged=joined.merged_clusters or None)
    log.info("articles.stored", articles=len(placed), **outcomes)


# --- one article ---------------------------------------------------------------------------
async def place(view: BatchView, p: Prepared, feats: Features, copies: list[tuple[str, CopyVerdict]],
                keys: list[str], settings: Settings, joiner: Joiner) -> Placed:
    """Decide where one article goes, against the batch's view, and record it there."""
    return await apply(view, p, feats, keys, await decide(view, p, feats, copies, keys, settings, joiner),
                       settings.cluster_centroid_members)


async def decide(view: BatchView, p: Prepared, feats: Features, copies: list[tuple[str, CopyVerdict]],
                 keys: list[str], settings: Settings, joiner: Joiner) -> Decision:
    """The story of the original it copies, else the most similar story, else a new one."""
    copy = await copy_target(view, p, copies)
    if copy is not None and copy.target is not None:
        return copy
    similar = await similar_story(view, p, feats, keys, settings, joiner)
    if similar is not None:
        # An original whose story is gone (expired) still makes the article its copy, wherever it goes.
        return replace(similar, copy_of=copy.copy_of) if copy is not None else similar
    return copy or Decision(None, JoinReason(rule=NEW_STORY))


async def copy_target(view: BatchView, p: Prepared, copies: list[tuple[str, CopyVerdict]]) -> Decision | None:
    """The story of the article this one copies: the first with the same body, else the most similar
    verified copy (`copies`, most similar first). None if it copies nothing stored; a decision without
    a target if the original's story is gone. An article without words copies nothing (every empty body
    has the same hash)."""
    if p.sketch.size == 0:
        return None
    exact = None
    owner = view.body_owner(p.digest)
    if owner and owner != p.article.id:
        original = await view.article(owner)
        if original is not None:
            exact = Decision(await view.entry(original.cluster_id),
                             JoinReason(rule="exact_duplicate", score=1.0, text_similarity=1.0),
                             copy_of=original.copy_of or owner)
            if exact.target is not None:
                return exact
    for cid, verdict in copies:
        original = await view.article(cid)
        if original is None:
            continue
        return Decision(await view.entry(original.cluster_id),
                        JoinReason(rule="copy", score=round(verdict.similarity, 4),
                                   text_similarity=round(verdict.jaccard, 4)),
                        copy_of=original.copy_of or original.id)  # copies of copies point to the root original
    return exact


async def similar_story(view: BatchView, p: Prepared, feats: Features, keys: list[str], settings: Settings,
                        joiner: Joiner) -> Decision | None:
    """The story the join decision (services.store.join_model) picks among those sharing the most index
    keys with the article, if any; the other stories it would join almost surely are linked (merged)."""
    window_s = settings.cluster_window_hours * 3600
    lo, hi = p.time - window_s, p.time + window_s
    await view.read_postings(keys, lo=lo, hi=hi)
    found: dict[str, Entry] = {}
    for cid, _ in ranked_hits(view, keys, settings.cluster_max_candidates, settings.cluster_min_shared_keys,
                              lo=lo, hi=hi):
        entry = await view.entry(cid)
        if entry is not None:
            found.setdefault(entry.story.id, entry)
    ranked = joiner.rank(feats, [Story(e.candidate, e.story.size, e.story.outlets) for e in found.values()],
                         p.article.outlet)
    if not ranked:
        return None
    best = ranked[0]
    reason = JoinReason(rule="similar", score=best.score, text_similarity=best.text_similarity,
                        title_similarity=best.title_similarity, entity_similarity=best.entity_similarity,
                        time_gap_hours=best.time_gap_hours, shared_entities=best.shared_entities)
    links = tuple(m.cluster_id for m in ranked[1:] if m.score >= joiner.merge_threshold)
    return Decision(found[best.cluster_id], reason, links=links)


async def apply(view: BatchView, p: Prepared, feats: Features, keys: list[str], decision: Decision,
                centroid_members: int = 0) -> Placed:
    """Record a decision in the batch's view: the article stored, its story grown (or opened), the index
    keys posted, then the linked stories merged into it; `centroid_members`: see grown_story."""
    now = datetime.now(UTC)
    grown = grown_story(decision, p.article, feats, now, centroid_members)
    # Constructed from the already validated article: validating its text again cost more than placing it.
    stored = StoredArticle.model_construct(
        **{name: getattr(p.article, name) for name in Article.model_fields if name != "fingerprint"},
        cluster_id=grown.story.id, copy_of=decision.copy_of, body_hash=p.digest, stored_at=now,
        joined=decision.reason,
        # Given, not defaulted: model_construct inspects a default factory's signature on every call.
        revisions=[],
    )
    view.touch(decision.target, grown)
    view.add_article(stored)
    view.post(keys, grown.story.id, p.time)
    kind = "created" if decision.target is None else "updated"
    if not decision.links:
        return Placed(stored, grown.story, kind)
    return await merge_links(view, stored, decision.links, kind)


def grown_story(decision: Decision, article: Article, feats: Features, now: datetime,
                centroid_members: int = 0) -> Entry:
    """The decision's story with the article added (a new story if it has no target). A story of
    `centroid_members` or more (0: no bound) keeps its centroid, only its time span grows."""
    event_time = article.published_at or article.fetched_at
    if decision.target is None:
        story = StoredStory(id=story_id_for(article.id), title=article.title, first_seen=event_time,
                            last_updated=now, size=0, outlets=[])
        centroid = seed(story.id, feats)
    else:
        story = decision.target.story
        # A centroid summing every member widens as the story grows, until it resembles every event of its
        # kind and takes them in (dense replay: an event whose first article joined the story of another
        # brought its own articles after it). Bounded, the story stays what its first members say.
        if centroid_members and story.size >= centroid_members:
            centroid = stretched(decision.target.candidate, feats.time)
        else:
            centroid = grow(decision.target.candidate, feats)
    member = StoryMember(id=article.id, outlet=article.outlet, title=article.title, url=article.url,
                         published_at=article.published_at, copy_of=decision.copy_of,
                         copy_similarity=decision.reason.score if decision.copy_of else None,
                         language=article.language)
    updated = story.model_copy(update={
        "title": story.title or article.title,
        "first_seen": min(story.first_seen, event_time),
        "last_updated": now,
        "size": story.size + 1,
        "outlets": sorted({*story.outlets, article.outlet}),
        "entities": count_entities(story.entities, article),
        "centroid": centroid_from(centroid),
        "copies": story.copies + (1 if decision.copy_of else 0),
        "independent_outlets": (story.independent_outlets if decision.copy_of
                                else sorted({*story.independent_outlets, article.outlet})),
        "members": [*story.members, member],
    })
    return Entry(updated, centroid)


async def merge_links(view: BatchView, stored: StoredArticle, links: Sequence[str], kind: str) -> Placed:
    """Merge the stories an article links into its own; the article notes which were merged."""
    merged = []
    survivor_id = stored.cluster_id
    for other in links:
        done = await merge(view, survivor_id, other)
        if done is not None:
            absorbed, survivor_id = done
            merged.append(absorbed)
    final = await view.entry(survivor_id)
    current = await view.article(stored.id) or stored
    current = current.model_copy(update={
        "joined": current.joined.model_copy(update={"merged_clusters": merged})})
    view.move_article(current)
    if final is None:
        raise RuntimeError(f"story {survivor_id} vanished during a merge")
    return Placed(current, final.story, kind)


async def merge(view: BatchView, one: str, other: str) -> tuple[str, str] | None:
    """Merge two stories in the batch, the larger (then older) surviving: (absorbed id, surviving id)."""
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
        "entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))[:STORY_ENTITIES]),
        "centroid": centroid_from(combined),
        "copies": ac.copies + bc.copies,
        "independent_outlets": sorted({*ac.independent_outlets, *bc.independent_outlets}),
    })
    # Placement holds a summary without the members it stored: the absorbed story's are read (merges are rare).
    absorbed_members = [*await view.repo.story_members(bc.id), *bc.unstored_members]
    survivor = survivor.model_copy(update={"members": [*survivor.members, *absorbed_members]})
    await view.read_articles(m.id for m in absorbed_members)
    for m in absorbed_members:
        moved = await view.article(m.id)
        if moved is not None:
            view.move_article(moved.model_copy(update={"cluster_id": ac.id}))
    view.touch(a, Entry(survivor, combined))
    view.absorb(b, ac.id)
    # Postings of the absorbed story stay; they resolve to the survivor through its alias.
    return bc.id, ac.id


# --- helpers -------------------------------------------------------------------------------
def prepare(article: Article) -> Prepared:
    """The per-article work that does not depend on the store (body hash, sketch, word counts), done by the
    extractor when the article carries a current fingerprint, else here."""
    fp = article.fingerprint
    if fp is None or fp.version != FINGERPRINT_VERSION:
        fp = fingerprint(article.title, article.text)
    # A spokesperson is compared as nobody: they are quoted about every event of their organisation.
    spokes = spokespeople(article.text, article.entities)
    compared = [e for e in article.entities if e.key not in spokes] if spokes else article.entities
    return Prepared(article, fp.body_hash, Sketch.decode(fp.sketch), ArticleTerms.of_fingerprint(fp, compared),
                    (article.published_at or article.fetched_at).timestamp())


def posting_keys(keys: Keys, feats: Features) -> list[str]:
    """The index keys an article's story is posted under (and found again by): its top entities and words."""
    index_entities, index_terms = feats.index_keys()
    return [*(keys.entity_postings(e.removeprefix(ENTITY_PREFIX)) for e in index_entities),
            *map(keys.term_postings, index_terms)]


def ranked_hits(view: BatchView, keys: list[str], limit: int, min_shared: int, *, lo: float, hi: float,
                ) -> list[tuple[str, int]]:
    """The stories sharing the most index keys with an article (at least `min_shared`), at most `limit`,
    among those posted in [lo, hi]."""
    hits = count_hits(view.postings(k, lo=lo, hi=hi) for k in keys)
    shared = [(cid, n) for cid, n in hits.items() if n >= min_shared]
    return sorted(shared, key=lambda kv: (-kv[1], kv[0]))[:limit]


def story_id_for(first_article_id: str) -> str:
    """A new story's id, derived from its first article so a replay opens the same one."""
    return "c" + hashlib.sha256(first_article_id.encode()).hexdigest()[:16]


def centroid_from(candidate: Candidate) -> Centroid:
    """What a stored story keeps of a clustering candidate."""
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
    return dict(ranked[:STORY_ENTITIES])
