"""The store's story and copy decisions on the seed articles, against a real Redis."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.common.keys import Keys
from services.common.messages import Article, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.placement import Placer
from services.store.repository import Repository, StoredStory
from services.store.service import story_event
from tests.support.seed_articles import START, repost, seed_articles

pytestmark = pytest.mark.integration




async def test_seed_accounts_are_one_story_and_only_the_repost_is_a_copy(settings: Settings,
                                                                          seeds_dir: Path) -> None:
    seeds = seed_articles(seeds_dir)
    copy = repost(seeds[0])
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        placed = [await placer.ingest(a) for a in [*seeds, copy]]
        again = await placer.ingest(copy)  # a replay changes nothing

    stories = {story.id for _, story, _ in placed}
    assert len(stories) == 1, "three own-words accounts and a re-post are one story"
    stored = [s for s, _, _ in placed]
    assert [s.copy_of for s in stored[:3]] == [None, None, None], "own-words accounts are not copies"
    assert stored[3].copy_of == seeds[0].id and stored[3].joined.rule == "copy"
    assert stored[3].joined.score is not None and stored[3].joined.score >= 0.85
    for later in stored[1:3]:
        assert later.joined.rule == "similar" and later.joined.shared_entities
    final = placed[-1][1]
    assert final.size == 4 and final.copies == 1 and len(final.outlets) == 4
    assert again[0].copy_of == seeds[0].id and again[1].size == 4


async def test_the_copy_graph_names_reports_pickups_and_the_earliest_publisher(settings: Settings,
                                                                                seeds_dir: Path) -> None:
    from services.store.summaries import copy_graph

    seeds = seed_articles(seeds_dir)
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        for article in [*seeds, repost(seeds[0])]:
            _, story, _ = await placer.ingest(article)
    reports = copy_graph(story)
    assert [r.id for r in reports] == [a.id for a in seeds], "three independent reports, earliest first"
    assert reports[0].outlet == "outlet0.example"
    (pickup,) = reports[0].copies
    assert pickup.outlet == "reposter.example" and pickup.delay_s == 5 * 3600
    assert pickup.similarity is not None and pickup.similarity >= 0.85
    assert not reports[1].copies and not reports[2].copies


async def test_two_store_instances_at_once_give_one_result(settings: Settings, seeds_dir: Path) -> None:
    import asyncio

    seeds = seed_articles(seeds_dir)
    reposts = []
    for n in range(6):  # six outlets re-post the first account at the same moment
        copy = repost(seeds[0])
        url = f"https://reposter{n}.example/story"
        reposts.append(copy.model_copy(update={"id": article_id(url), "url": url, "outlet": f"reposter{n}.example"}))
    async with open_redis(settings) as redis_a, open_redis(settings) as redis_b:
        keys = Keys(settings.key_prefix)
        placer_a = Placer(settings, Repository(redis_a, keys))
        placer_b = Placer(settings, Repository(redis_b, keys))
        await placer_a.ingest(seeds[0])
        results = await asyncio.gather(*(
            (placer_a if n % 2 else placer_b).ingest(a) for n, a in enumerate(reposts)))
        repo = Repository(redis_a, keys)
        stats = await repo.stats()
        story = await repo.story(results[-1][1].id)
    assert stats == {"articles": 7, "clusters": 1}, "every re-post met the original and its story"
    assert {s.copy_of for s, _, _ in results} == {seeds[0].id}
    assert story is not None and story.size == 7 and story.copies == 6
    # What the notifier is told: seven outlets, one with a report of its own, six copies; the trigger is a copy.
    event = story_event("updated", story, results[-1][0])
    assert (len(event.outlets), event.independent_outlets, event.copies) == (7, 1, 6)
    assert event.article_copy_of == seeds[0].id
    assert sorted(m.id for m in story.members) == sorted([seeds[0].id, *(a.id for a in reposts)])


async def test_a_changed_text_at_the_same_url_is_a_revision_not_a_new_article(settings: Settings,
                                                                               seeds_dir: Path) -> None:
    seeds = seed_articles(seeds_dir)
    first = seeds[0]
    updated = first.model_copy(update={"text": first.text + "\n\nUpdate: the Kremlin declined to comment.",
                                       "title": first.title + " (updated)"})
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        placer = Placer(settings, repo)
        original, story, _ = await placer.ingest(first)
        revised, story_after, _ = await placer.ingest(updated)
        replayed_old, _, _ = await placer.ingest(first)  # a replay of the old version changes nothing
        stats = await repo.stats()
    assert stats == {"articles": 1, "clusters": 1}
    assert revised.id == original.id and revised.cluster_id == story.id == story_after.id
    assert revised.revision == 2 and "Kremlin declined" in revised.text
    assert [(n.revision, n.body_hash, n.title) for n in revised.revisions] == [
        (1, original.body_hash, original.title)]
    assert replayed_old.revision == 2 and replayed_old.body_hash == revised.body_hash


async def test_an_article_linking_two_stories_merges_them_explicitly(settings: Settings) -> None:
    from services.common.messages import Entity

    # The weighted rule, whose thresholds make the bridge link both accounts (the learned model merges only
    # at a probability of 0.95, which these made-up words do not reach).
    strict = settings.model_copy(update={"cluster_join_model": "none", "cluster_threshold": 0.5,
                                         "cluster_merge_threshold": 0.55})
    harbour = [Entity(key="gpe:port alba", name="Port Alba", type="GPE", count=2, first_position=0)]
    side_a = " ".join(f"alpha{i}" for i in range(30))
    side_b = " ".join(f"bravo{i}" for i in range(30))

    def article(slug: str, text: str, hour: int) -> Article:
        url = f"https://outlet.example/{slug}"
        return Article(id=article_id(url), url=url, outlet=f"{slug}.example", title="Harbour fire in Port Alba",
                       text=text, language="en", entities=harbour, published_at=START + timedelta(hours=hour),
                       fetched_at=START + timedelta(hours=hour))

    # The bridge tells both accounts in its own words (interleaved, so it is no copy of either).
    interleaved = " ".join(f"alpha{i} bravo{i}" for i in range(30))
    first, second, bridge = article("a", side_a, 0), article("b", side_b, 1), article("ab", interleaved, 2)
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        placer = Placer(strict, repo)
        _, story_a, _ = await placer.ingest(first)
        _, story_b, _ = await placer.ingest(second)
        assert story_a.id != story_b.id, "the two accounts alone are too far apart to join"
        linked, survivor, _ = await placer.ingest(bridge)
        members = await repo.articles([first.id, second.id, bridge.id])
        (absorbed,) = linked.joined.merged_clusters
        followed = await repo.story(absorbed)
        stats = await repo.stats()
        absorbed_list = await redis.exists(Keys(settings.key_prefix).story_members(absorbed))
    assert {absorbed, survivor.id} == {story_a.id, story_b.id}, "one story survives, the other is merged in"
    assert survivor.size == 3 and {m.id for m in survivor.members} == {first.id, second.id, bridge.id}
    assert followed is not None and sorted(m.id for m in followed.members) == sorted([first.id, second.id, bridge.id])
    assert followed.independent_outlets == ["a.example", "ab.example", "b.example"] and followed.copies == 0
    assert absorbed_list == 0, "the merged-away story's member list went with it"
    assert {m.cluster_id for m in members} == {survivor.id}, "every member points at the surviving story"
    assert followed is not None and followed.id == survivor.id, "the merged-away id leads to the survivor"
    assert stats["clusters"] == 1
    event = story_event("merged", survivor, linked, absorbed)
    assert (event.kind, event.cluster_id, event.merged_into) == ("merged", absorbed, survivor.id)


async def test_retention_expires_old_stories_and_trims_postings(settings: Settings) -> None:
    from services.common.messages import Entity

    quake = [Entity(key="gpe:lima", name="Lima", type="GPE", count=2, first_position=0)]

    def article(slug: str, when: datetime, text: str) -> Article:
        url = f"https://outlet.example/{slug}"
        return Article(id=article_id(url), url=url, outlet="outlet.example", title="Earthquake shakes Lima",
                       text=text, language="en", entities=quake, published_at=when, fetched_at=when)

    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        repo = Repository(redis, keys, retention_s=3600, window_s=86400)
        placer = Placer(settings.model_copy(update={"cluster_window_hours": 24.0}), repo)
        old, old_story, _ = await placer.ingest(article(
            "old", START, "A strong earthquake shook Lima on Monday, damaging buildings near the coast."))
        _, new_story, _ = await placer.ingest(article(
            "new", START + timedelta(days=10), "Another tremor rattled the capital, and residents fled homes."))
        posting = await redis.zrange(keys.entity_postings("gpe:lima"), 0, -1)
        posting_ttl = await redis.ttl(keys.entity_postings("gpe:lima"))
        ttls = [await redis.ttl(keys.article(old.id)), await redis.ttl(keys.story(new_story.id))]
        removed = await repo.trim(now=START.timestamp() + 10**10)  # far in the future: all expired
        left = await repo.stats()
    assert old_story.id != new_story.id, "ten days apart with a one-day window: two stories"
    assert posting == [new_story.id], "the old story's posting was trimmed when it fell out of the window"
    assert all(0 < ttl <= 3600 for ttl in ttls), "articles and stories expire after the retention period"
    assert 0 < posting_ttl <= 3600, "an index key not posted to for the retention period expires"
    assert removed == 4 and left == {"articles": 0, "clusters": 0}


async def test_an_index_key_keeps_its_newest_stories_only(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    from services.common.messages import Entity
    from services.store import repository

    monkeypatch.setattr(repository, "POSTINGS_KEPT_PER_KEY", 3)
    keys = Keys(settings.key_prefix)
    volcano = [Entity(key="gpe:etna", name="Etna", type="GPE", count=2, first_position=0)]
    async with open_redis(settings) as redis:
        placer = Placer(settings.model_copy(update={"cluster_window_hours": 1.0}), Repository(redis, keys))
        stories = []
        for day in range(5):  # days apart with a one-hour window: five stories naming Etna
            url = f"https://outlet.example/etna{day}"
            when = START + timedelta(days=day)
            placed = await placer.ingest(Article(
                id=article_id(url), url=url, outlet="outlet.example", title=f"Etna erupts again ({day})",
                text=f"Lava flowed from Etna for the {day}th time, said volcanologist{day}.", language="en",
                entities=volcano, published_at=when, fetched_at=when))
            stories.append(placed.story.id)
        kept = await redis.zrange(keys.entity_postings("gpe:etna"), 0, -1)
    assert len(set(stories)) == 5
    assert kept == stories[2:], "the newest three"


async def test_a_filtered_listing_reads_a_batch_at_a_time_and_keeps_the_newest_that_pass(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.store import summaries
    from services.store.summaries import StoryFilter, latest_stories

    monkeypatch.setattr(summaries, "FILTER_BATCH", 2)
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        placer = Placer(settings.model_copy(update={"cluster_window_hours": 1.0}), repo)
        made = []
        for day in range(7):  # days apart with a one-hour window: seven stories, the odd days' from one outlet
            outlet = "odd.example" if day % 2 else "even.example"
            url = f"https://{outlet}/quake{day}"
            when = START + timedelta(days=day)
            placed = await placer.ingest(Article(
                id=article_id(url), url=url, outlet=outlet, title=f"Tremor number {day} felt downtown",
                text=f"A tremor of magnitude {day}.5 was felt downtown on day {day}.", language="en",
                published_at=when, fetched_at=when))
            made.append(placed.story.id)
        read: list[tuple[int, bool]] = []
        stories = repo.stories

        async def counted(ids: list[str], *, members: bool = True) -> list[StoredStory]:
            read.append((len(ids), members))
            return await stories(ids, members=members)

        monkeypatch.setattr(repo, "stories", counted)
        odd = await latest_stories(repo, StoryFilter(outlet="odd.example"), limit=2)
        odd_reads = read[:]
        everything = await latest_stories(repo, StoryFilter(), limit=10)
        read.clear()
        worded = await latest_stories(repo, StoryFilter(q="number 3"), limit=10)
    assert len(set(made)) == 7
    assert [s.id for s in odd] == [made[5], made[3]], "the newest two that pass, newest first"
    assert odd_reads == [(2, False), (2, False), (2, True)], (
        "two batches of summaries held the newest two odd days' stories: no more were read, and only their members")
    assert [len(s.members) for s in odd] == [1, 1]
    assert [s.id for s in everything] == made[::-1]
    assert [s.id for s in worded] == [made[3]] and read == [(2, True)] * 3 + [(1, True)], "a title: with members"


async def test_a_join_to_a_big_story_reads_and_writes_its_summary_and_one_member(settings: Settings) -> None:
    from redis.client import NEVER_DECODE

    from services.common.messages import Entity

    # 150 outlets re-post one wire story: one story of 150 members, written by one store process.
    wire = " ".join(f"storm{i} levee{i} flood{i}" for i in range(40))
    place = [Entity(key="gpe:port alba", name="Port Alba", type="GPE", count=2, first_position=0)]

    def repost_by(n: int) -> Article:
        url = f"https://outlet{n}.example/storm"
        at = START + timedelta(minutes=n)
        return Article(id=article_id(url), url=url, outlet=f"outlet{n}.example", title="Storm breaks the levee",
                       text=wire, language="en", entities=place, published_at=at, fetched_at=at)

    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        repo = Repository(redis, keys)
        placed = await Placer(settings, repo).ingest_many([repost_by(n) for n in range(150)])
        story_id = placed[0].story.id
        assert {p.story.id for p in placed} == {story_id}
        small = await redis.execute_command(  # type: ignore[no-untyped-call]
            "HGET", keys.story(story_id), "json", **{NEVER_DECODE: True})
        # Another store process (nothing cached) places the 151st.
        [late] = await Placer(settings, Repository(redis, keys)).ingest_many([repost_by(150)])
        summary = await redis.execute_command(  # type: ignore[no-untyped-call]
            "HGET", keys.story(story_id), "json", **{NEVER_DECODE: True})
        listed = await redis.llen(keys.story_members(story_id))
        whole = await repo.story(story_id)
        # Redelivered after a restart: a replay, placed nowhere new, its event made from the summary alone.
        [replayed] = await Placer(settings, Repository(redis, keys)).ingest_many([repost_by(150)])
    assert late.story.id == story_id and late.story.size == 151 and late.story.copies == 150
    assert [m.id for m in late.story.members] == [repost_by(150).id], "placement read the summary, not the members"
    assert len(summary) < 2 * len(small) < 4_000, "the summary does not grow with the members"
    assert listed == 151
    assert whole is not None and [m.id for m in whole.members] == [repost_by(n).id for n in range(151)]
    event = story_event("updated", late.story, late.stored)
    assert (event.size, event.copies, event.independent_outlets) == (151, 150, 1)
    assert replayed.story.id == story_id and replayed.story.size == 151 and replayed.story.members == []
    replay_event = story_event("updated", replayed.story, replayed.stored)
    assert replay_event.model_dump(exclude={"at"}) == event.model_dump(exclude={"at"})
