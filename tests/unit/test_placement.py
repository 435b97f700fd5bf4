"""Placement decisions (services.store.placement) against a batch view whose reads are answered from memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.settings import Settings
from services.store.batch import BatchView, Entry, StoryCache, candidate_of
from services.store.cluster import Features, features_of, seed
from services.store.dedup import CopyVerdict
from services.store.join_model import joiner_of
from services.store.placement import (
    Decision,
    Prepared,
    apply,
    centroid_from,
    count_entities,
    decide,
    grown_story,
    posting_keys,
    prepare,
    story_id_for,
)
from services.store.repository import JoinReason, StoredArticle, StoredStory
from services.store.text import CENTROID_DECIMALS, rounded

SETTINGS = Settings()
JOINER = joiner_of(SETTINGS)
KEYS = Keys("test:")
START = datetime(2026, 3, 1, 8, tzinfo=UTC)
VOLCANO = " ".join(f"lava{i} ash{i} crater{i}" for i in range(40))


class MemoryRepository:
    """What a batch view reads from the repository, from memory."""

    keys = KEYS

    def __init__(self, articles: Sequence[StoredArticle] = (), stories: Sequence[StoredStory] = (),
                 postings: Mapping[str, list[tuple[str, float]]] | None = None) -> None:
        self._articles = {a.id: a for a in articles}
        self._stories = {s.id: s for s in stories}
        self._postings = dict(postings or {})

    async def articles(self, ids: list[str], *, with_text: bool = True) -> list[StoredArticle]:
        return [self._articles[i] for i in ids if i in self._articles]

    async def load_stories(self, ids: Sequence[str], known: Mapping[str, StoredStory] | None = None, *,
                           members: bool = True) -> tuple[dict[str, StoredStory], dict[str, str]]:
        return {i: self._stories[i] for i in ids if i in self._stories}, {}

    async def postings(self, keys: Sequence[str], *, lo: float, hi: float) -> dict[str, list[tuple[str, float]]]:
        return {k: self._postings.get(k, []) for k in keys}


def view_of(repo: MemoryRepository) -> BatchView:
    return BatchView(repo, lsh=None, cache=StoryCache(10))  # type: ignore[arg-type]  # no sketches are read


def article(n: int, text: str = VOLCANO, title: str = "Volcano erupts") -> Article:
    url = f"https://outlet{n}.example/{n}"
    at = START + timedelta(hours=n)
    return Article(id=article_id(url), url=url, outlet=f"outlet{n}.example", title=title, text=text, language="en",
                   entities=[Entity(key="gpe:iceland", name="Iceland", type="GPE", count=2, first_position=0)],
                   published_at=at, fetched_at=at)


def feats_of(p: Prepared) -> Features:
    return features_of(p.terms, p.time, np.zeros(len(p.terms.weighed_terms()), dtype=np.int64), 10)


def stored(a: Article, story_id: str, copy_of: str | None = None) -> StoredArticle:
    p = prepare(a)
    return StoredArticle.model_validate({**a.model_dump(exclude={"fingerprint"}), "cluster_id": story_id,
                                         "copy_of": copy_of, "body_hash": p.digest, "stored_at": START,
                                         "joined": JoinReason(rule="new_cluster")})


def story(story_id: str, a: Article) -> StoredStory:
    """A stored story holding `a`, its centroid that article's features."""
    p = prepare(a)
    centroid = centroid_from(seed(story_id, feats_of(p)))
    return StoredStory(id=story_id, title=a.title, first_seen=START, last_updated=START, size=1,
                       outlets=[a.outlet], centroid=centroid)


async def decided(view: BatchView, a: Article, copies: list[tuple[str, CopyVerdict]] | None = None) -> Decision:
    p = prepare(a)
    feats = feats_of(p)
    return await decide(view, p, feats, copies or [], posting_keys(KEYS, feats), SETTINGS, JOINER)


async def test_an_article_with_a_stored_body_joins_its_original_story_as_an_exact_duplicate() -> None:
    first = article(0)
    original = stored(first, "c1", copy_of="root")
    view = view_of(MemoryRepository([original], [story("c1", first)]))
    view.body_owner_read[original.body_hash] = original.id
    decision = await decided(view, article(1))
    assert decision.target is not None and decision.target.story.id == "c1"
    assert decision.reason.rule == "exact_duplicate" and decision.copy_of == "root", "copies of copies: the root"


async def test_a_verified_copy_joins_the_story_of_the_most_similar_original() -> None:
    first, second = article(0), article(1, text="other words " * 40)
    view = view_of(MemoryRepository([stored(first, "c1"), stored(second, "c2")],
                                    [story("c1", first), story("c2", second)]))
    copies = [(second.id, CopyVerdict(0.8, 0.9, "jaccard")), (first.id, CopyVerdict(0.6, 0.7, "jaccard"))]
    decision = await decided(view, article(2, text=VOLCANO + " update"), copies)
    assert decision.target is not None and decision.target.story.id == "c2"
    assert decision.reason.rule == "copy" and decision.reason.score == 0.9 and decision.copy_of == second.id


async def test_a_copy_of_an_article_whose_story_is_gone_stays_a_copy_wherever_it_goes() -> None:
    first, similar = article(0), article(1, title="Volcano erupts again")
    p = prepare(similar)
    keys = posting_keys(KEYS, feats_of(p))
    posted = {k: [("c2", START.timestamp())] for k in keys}
    repo = MemoryRepository([stored(first, "gone")], [story("c2", similar)], posted)
    copies = [(first.id, CopyVerdict(0.9, 0.9, "jaccard"))]
    joined = await decided(view_of(repo), article(2), copies)
    assert joined.target is not None and joined.target.story.id == "c2" and joined.reason.rule == "similar"
    assert joined.copy_of == first.id
    alone = await decided(view_of(MemoryRepository([stored(first, "gone")])), article(2), copies)
    assert alone.target is None and alone.reason.rule == "copy" and alone.copy_of == first.id


async def test_an_article_like_no_story_opens_one_and_applying_it_records_it_in_the_view() -> None:
    view = view_of(MemoryRepository())
    a = article(0)
    decision = await decided(view, a)
    assert decision == Decision(None, JoinReason(rule="new_cluster"))
    p = prepare(a)
    feats = feats_of(p)
    placed = await apply(view, p, feats, posting_keys(KEYS, feats), decision)
    assert placed.kind == "created" and placed.story.id == story_id_for(a.id) == placed.stored.cluster_id
    assert placed.story.size == 1 and placed.story.members[0].id == a.id
    assert view.write.new_articles == {a.id: placed.stored} and view.write.expected_versions == {placed.story.id: 0}
    entry = view.touched[placed.story.id]
    assert entry.story is placed.story
    assert entry.candidate.body == rounded(feats.body), "the new story's centroid: the article"
    assert view.write.postings.keys() == set(posting_keys(KEYS, feats))


def test_a_story_of_centroid_members_keeps_its_centroid_and_stretches_its_time_span() -> None:
    first, later = article(0), article(5, text="court trial verdict " * 30)
    base = story("c1", first)
    entry = Entry(base, candidate_of(base))
    decision = Decision(entry, JoinReason(rule="similar", score=0.9))
    feats = feats_of(prepare(later))
    widened = grown_story(decision, later, feats, START, centroid_members=2)  # a story of 1: still grows
    assert "court" in widened.candidate.body and widened.story.size == 2
    bounded = grown_story(decision, later, feats, START, centroid_members=1)  # a story of 1 at its bound
    assert bounded.candidate.body == entry.candidate.body and bounded.candidate.entities == entry.candidate.entities
    assert bounded.candidate.last_time == feats.time and bounded.story.size == 2
    assert bounded.story.members[-1].id == later.id


def test_a_story_keeps_the_most_shared_entities_people_before_places() -> None:
    counts = {"gpe:paris": 2, "person:jane doe": 1}
    a = article(0).model_copy(update={"entities": [
        Entity(key="gpe:lyon", name="Lyon", type="GPE", count=1, first_position=0),
        Entity(key="person:john roe", name="John Roe", type="PERSON", count=1, first_position=1)]})
    assert list(count_entities(counts, a)) == ["gpe:paris", "person:jane doe", "person:john roe", "gpe:lyon"]


def test_a_new_story_id_comes_from_its_first_article() -> None:
    assert story_id_for("a1") == story_id_for("a1") != story_id_for("a2")
    assert story_id_for("a1").startswith("c") and len(story_id_for("a1")) == 17


def test_a_story_read_back_from_its_stored_summary_scores_articles_exactly_as_the_one_in_memory() -> None:
    # The store caches the centroid it made; another store process, or this one after the cache let it go,
    # reads the stored summary. Both must be the same numbers, or they would place an article differently.
    first = article(0)
    entry = Entry(story("c1", first), candidate_of(story("c1", first)))
    for n, text in enumerate(("lava flows reached the village " * 12, "ash closed the airport runway " * 12), 1):
        later = article(n, text=VOLCANO + " " + text)
        entry = grown_story(Decision(entry, JoinReason(rule="similar", score=0.9)), later, feats_of(prepare(later)),
                            START)
    read_back = candidate_of(StoredStory.model_validate_json(entry.story.model_dump_json()))
    assert (read_back.body, read_back.title, read_back.entities) == (
        entry.candidate.body, entry.candidate.title, entry.candidate.entities)
    assert read_back.norms == entry.candidate.norms
    assert all(v == round(v, CENTROID_DECIMALS) for v in read_back.body.values())


def test_a_story_counts_its_copies_and_the_outlets_with_a_report_of_their_own_as_it_grows() -> None:
    # The summary keeps the counts its events carry, so placement never reads the members: they must agree
    # with the members at every join, copies and re-posts by an outlet already in the story included.
    first = article(0)
    entry = grown_story(Decision(None, JoinReason(rule="new_cluster")), first, feats_of(prepare(first)), START)
    joins = [(article(1), None), (article(2), first.id), (article(1).model_copy(update={"id": "again"}), first.id),
             (article(3), None), (article(2).model_copy(update={"id": "own"}), None)]
    for later, copy_of in joins:
        reason = JoinReason(rule="copy" if copy_of else "similar", score=0.9)
        entry = grown_story(Decision(entry, reason, copy_of=copy_of), later, feats_of(prepare(later)), START)
        members = entry.story.members
        assert entry.story.copies == sum(1 for m in members if m.copy_of)
        assert entry.story.independent_outlets == sorted({m.outlet for m in members if not m.copy_of})
    assert entry.story.copies == 2
    assert entry.story.independent_outlets == ["outlet0.example", "outlet1.example", "outlet2.example",
                                               "outlet3.example"]
