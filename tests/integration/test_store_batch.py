"""Batched placement against a real Redis: a poll placed together decides what one-by-one placement decides."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from services.common.fingerprint import fingerprint
from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store import repository
from services.store.placement import PLACE_CHUNK, Placer
from services.store.repository import BatchWrite, Repository
from tests.support.seed_articles import repost, seed_articles

pytestmark = pytest.mark.integration
START = datetime(2026, 3, 1, 8, tzinfo=UTC)


def stream(n: int) -> list[Article]:
    """`n` articles about n/6 stories: each story has its own words and people, outlets re-post some."""
    rng = random.Random(3)
    words = [f"word{i}" for i in range(3000)]
    out: list[Article] = []
    for i in range(n):
        story = rng.randrange(max(1, n // 6))
        srng = random.Random(story)
        vocab = srng.sample(words, 60)
        if out and rng.random() < 0.1:  # a re-post of an earlier article, new headline
            original = rng.choice(out)
            text, title = original.text, f"Re: {original.title}"
            ents = original.entities
        else:
            text = " ".join(rng.choices(vocab, k=150) + rng.choices(words, k=100))
            title = " ".join(vocab[:6])
            ents = [Entity(key=f"person:p{story} {k}", name=f"P{story} {k}", type="PERSON", count=2,
                           first_position=k) for k in range(2)]
        url = f"https://outlet{i % 7}.example/{i}"
        at = START + timedelta(minutes=7 * i)
        out.append(Article(id=article_id(url), url=url, outlet=f"outlet{i % 7}.example", title=title, text=text,
                           language="en", entities=ents, published_at=at, fetched_at=at,
                           fingerprint=fingerprint(title, text) if i % 2 else None))
    return out


async def test_a_batch_decides_what_one_by_one_placement_decides(settings: Settings, seeds_dir: Path) -> None:
    seeds = seed_articles(seeds_dir)
    articles = [*seeds, repost(seeds[0]), *stream(3 * PLACE_CHUNK)]
    one_by_one = settings.model_copy(update={"key_prefix": settings.key_prefix + "single:"})
    batched = settings.model_copy(update={"key_prefix": settings.key_prefix + "batch:"})
    async with open_redis(settings) as redis:
        single_placer = Placer(one_by_one, Repository(redis, Keys(one_by_one.key_prefix)))
        single = [await single_placer.ingest(a) for a in articles]
        batch_placer = Placer(batched, Repository(redis, Keys(batched.key_prefix)))
        placed = await batch_placer.ingest_many(articles)

    def outcome(stored_id: str, cluster_id: str, copy_of: str | None, rule: str) -> tuple[str, str, str | None, str]:
        return stored_id, cluster_id, copy_of, rule

    expected = [outcome(s.id, c.id, s.copy_of, s.joined.rule) for s, c, _ in single]
    got = [outcome(p.stored.id, p.story.id, p.stored.copy_of, p.stored.joined.rule) for p in placed]
    assert got == expected
    rules = {rule for *_, rule in got}
    assert {"new_cluster", "similar", "copy"} <= rules, "the stream exercises every kind of decision"
    assert len({c for _, c, _, _ in got}) < len(got) / 2, "most articles joined a story"
    assert len({c for _, c, _, _ in got[:4]}) == 1, "the seed accounts and their re-post are one story"


async def test_a_replayed_batch_changes_nothing(settings: Settings) -> None:
    articles = stream(PLACE_CHUNK + 10)
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        placer = Placer(settings, repo)
        first = await placer.ingest_many(articles)
        before = await repo.stats()
        again = await Placer(settings, repo).ingest_many(articles)  # a restarted store replays the poll
        assert await repo.stats() == before
        assert articles[1].fingerprint is not None
        stored = await repo.article(articles[1].id)
        assert stored is not None and stored.fingerprint is None, "the fingerprint is for placing, not for keeping"
    assert [(p.stored.id, p.story.id) for p in again] == [(p.stored.id, p.stored.cluster_id) for p in first]


@pytest.mark.parametrize("sparse_bound", [repository.SPARSE_DF_BUCKETS, 300])
async def test_document_frequencies_survive_a_restart(settings: Settings, sparse_bound: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Kept one by one while few buckets are counted; with a low bound they move into the dense block midway.
    monkeypatch.setattr(repository, "SPARSE_DF_BUCKETS", sparse_bound)
    articles = stream(40)
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        repo = Repository(redis, keys)
        placer = Placer(settings, repo)
        for start in range(0, len(articles), 10):
            await placer.ingest_many(articles[start:start + 10])
            await placer.idf.flush()
        await placer.close()
        restarted = Placer(settings, repo)
        await restarted.idf.load()
        sparse = await redis.hlen(keys.document_frequencies_sparse)
        dense = await redis.exists(keys.document_frequencies)
    counted = int(np.count_nonzero(placer.idf.counts))
    if sparse_bound > counted:
        assert (sparse, dense) == (counted, 0), "a young store keeps only the buckets it counted"
    else:
        assert (sparse, dense) == (0, 1)
    assert restarted.idf.documents == placer.idf.documents == len(articles)
    assert placer.idf.counts.any()
    assert np.array_equal(restarted.idf.counts, placer.idf.counts)


async def test_a_chunk_redone_after_a_conflict_decides_and_counts_as_if_it_never_conflicted(settings: Settings) -> None:
    """Another instance's write (simulated: the first commit of the second chunk reports a conflict)
    makes the store read again and redo the chunk, its articles taken out of the document
    frequencies and weighed again. Decisions and frequencies end as in an undisturbed run."""
    articles = stream(3 * PLACE_CHUNK)
    clean_settings = settings.model_copy(update={"key_prefix": settings.key_prefix + "clean:"})
    async with open_redis(settings) as redis:
        clean = Placer(clean_settings, Repository(redis, Keys(clean_settings.key_prefix)))
        expected = await clean.ingest_many(articles)

        repo = Repository(redis, Keys(settings.key_prefix))
        commits = 0
        real_commit = repo.commit

        async def commit_conflicting_once(batch: BatchWrite) -> list[str]:
            nonlocal commits
            commits += 1
            if commits == 2 and batch.expected_versions:
                return list(batch.expected_versions)[:1]  # as if another instance wrote that cluster
            return await real_commit(batch)

        repo.commit = commit_conflicting_once  # type: ignore[method-assign]
        disturbed = Placer(settings, repo)
        placed = await disturbed.ingest_many(articles)
    assert commits == 4, "three chunks, the second written twice"
    assert [(p.stored.id, p.story.id, p.stored.copy_of) for p in placed] == [
        (p.stored.id, p.story.id, p.stored.copy_of) for p in expected]
    assert disturbed.idf.documents == clean.idf.documents == len(articles)
    assert np.array_equal(disturbed.idf.counts, clean.idf.counts)
