"""GET /v1/entities/{key} and the subscription feeds (feed.xml, feed.json) over a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.fetcher.parse import parse_feed
from services.notifier.subscriptions import Query, SubscriptionStore
from services.store.placement import Placer
from services.store.repository import Repository

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
QASSEM = "person:qassem soleimani"
TRICKY_TITLE = 'Tom & Jerry <Ltd> say "no" to \'R&D\' ]]> cuts'

# Four unrelated stories, days apart, in wholly different words: each its own cluster.
STORIES = [
    ("Qassem Soleimani visits Moscow for talks on Syria",
     "General Qassem Soleimani arrived in Moscow on Monday for talks with Russian defence officials about "
     "the war in Syria, according to officials familiar with the trip. Soleimani met ministers to discuss "
     "weapons deliveries and coordination of air operations over Aleppo.",
     [Entity(key=QASSEM, name="Qassem Soleimani", type="PERSON", count=2, first_position=8,
             aliases=["person:soleimani"]),
      Entity(key="gpe:moscow", name="Moscow", type="GPE", count=1, first_position=36)]),
    ("Harvest festival draws record crowds to Bavarian village",
     "Farmers in a small Bavarian village celebrated the pumpkin harvest this weekend with parades, brass "
     "bands and a contest for the heaviest vegetable. Organisers counted twelve thousand visitors, a record, "
     "and Ali Soleimani, a visiting chef, cooked soup for everyone.",
     [Entity(key="person:ali soleimani", name="Ali Soleimani", type="PERSON", count=1, first_position=200,
             aliases=["person:soleimani"])]),
    ("Soleimani reported in Baghdad as militias regroup",
     "Soleimani was seen in Baghdad on Thursday as Shiite militias regrouped north of the capital, "
     "witnesses said. The commander of the Quds Force has directed the offensive against insurgents near "
     "Tikrit, according to Iraqi lawmakers.",
     [Entity(key="person:soleimani", name="Soleimani", type="PERSON", count=2, first_position=0),
      Entity(key="gpe:baghdad", name="Baghdad", type="GPE", count=1, first_position=22)]),
    (TRICKY_TITLE,
     "The cartoon studio announced that research budgets will not be reduced next year. Shareholders "
     "welcomed the decision at the annual meeting in Burbank, where executives presented animation plans "
     "for streaming platforms and theatres.",
     [Entity(key="org:tom & jerry ltd", name="Tom & Jerry Ltd", type="ORG", count=1, first_position=4)]),
]


@dataclass
class World:
    stories: list[str]  # cluster id of each story, in STORIES order (oldest first)
    subscription: str


@pytest.fixture
async def world(settings: Settings) -> World:
    """The stories ingested as the extractor would publish them (entities through the alias table),
    and a subscription alerted about three of them, as the notifier records it."""
    keys = Keys(settings.key_prefix)
    ids = []
    async with open_redis(settings) as redis:
        table = AliasTable(redis, keys)
        store = Placer(settings, Repository(redis, keys))
        for n, (title, text, ents) in enumerate(STORIES):
            url = f"https://outlet{n}.example/story/{n}"
            at = START + timedelta(days=3 * n)
            article = Article(id=article_id(url), url=url, outlet=f"outlet{n}.example", title=title, text=text,
                              language="en", published_at=at, fetched_at=at, entities=await table.resolve(ents))
            _, story, _ = await store.ingest(article)
            ids.append(story.id)
        sub = await SubscriptionStore(redis, keys).create("http://127.0.0.1:9/hook", Query(entities=[QASSEM]),
                                                          description="Soleimani & <friends>")
        alerted = keys.subscription_stories(sub.id)
        # Alert times deliberately not in story order: the feed follows the alerts.
        await redis.zadd(alerted, {ids[0]: 3000.0, ids[2]: 1000.0, ids[3]: 2000.0})
    assert len(set(ids)) == len(STORIES), "the stories are separate clusters"
    return World(stories=ids, subscription=sub.id)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def entity_url(key: str, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/v1/entities/{quote(key, safe='')}" + (f"?{query}" if query else "")


async def test_an_entity_answers_by_its_key_and_by_its_alias(world: World, api: TestClient) -> None:
    by_key = api.get(entity_url(QASSEM))
    assert by_key.status_code == 200, by_key.text
    body = by_key.json()
    assert body["key"] == QASSEM and body["name"] == "Qassem Soleimani"
    assert body["aliases"] == ["person:soleimani"]
    # Both stories about him, newest first; the chef who shares his surname is someone else.
    assert [c["id"] for c in body["clusters"]] == [world.stories[2], world.stories[0]]
    first = body["clusters"][1]
    assert first["title"] == STORIES[0][0] and first["size"] == 1 and first["outlets"] == ["outlet0.example"]
    assert first["last_updated"]

    by_alias = api.get(entity_url("person:soleimani"))
    assert by_alias.status_code == 200
    assert {**by_alias.json(), "requested": None} == {**body, "requested": None}
    assert by_alias.json()["requested"] == "person:soleimani"
    assert api.get("/v1/entities/Person:Qassem%20%20Soleimani").json()["key"] == QASSEM, "case and spaces"

    limited = api.get(entity_url(QASSEM, limit=1)).json()
    assert [c["id"] for c in limited["clusters"]] == [world.stories[2]]

    other = api.get(entity_url("person:ali soleimani")).json()
    assert [c["id"] for c in other["clusters"]] == [world.stories[1]]
    assert api.get(entity_url("org:tom & jerry ltd")).json()["clusters"][0]["title"] == TRICKY_TITLE


async def test_unknown_entities_and_bad_requests_are_clear_4xx(world: World, api: TestClient) -> None:
    missing = api.get(entity_url("person:nobody at all"))
    assert missing.status_code == 404 and "person:nobody at all" in missing.json()["detail"]
    # Shares the surname (and so the store's posting list) with two known people, but was never seen.
    assert api.get(entity_url("person:bob soleimani")).status_code == 404
    # a name that is no key is looked up as a name: unknown here
    unknown_name = api.get(entity_url("no type here"))
    assert unknown_name.status_code == 404 and "no type here" in unknown_name.json()["detail"]
    assert api.get(entity_url(" ")).status_code == 422
    assert api.get(entity_url(QASSEM, limit=0)).status_code == 422
    assert api.get(entity_url(QASSEM, limit=101)).status_code == 422


async def test_the_rss_feed_lists_alerted_stories_latest_alert_first(world: World, api: TestClient) -> None:
    url = f"/v1/subscriptions/{world.subscription}/feed.xml"
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/rss+xml")
    feed = parse_feed(response.content, f"http://testserver{url}")
    assert feed.title == "wirewatch: Soleimani & <friends>"
    expected = [world.stories[0], world.stories[3], world.stories[2]]
    assert [e.url for e in feed.entries] == [f"http://testserver/v1/clusters/{c}" for c in expected]
    assert [e.title for e in feed.entries] == [STORIES[0][0], TRICKY_TITLE, STORIES[2][0]]
    assert [e.published for e in feed.entries] == [datetime.fromtimestamp(t, UTC) for t in (3000, 2000, 1000)]
    assert feed.entries[0].summary == "1 article from 1 outlet: outlet0.example"
    for cid in expected:
        assert f'<guid isPermaLink="false">{cid}</guid>' in response.text
    # The entry links work.
    assert api.get(feed.entries[1].url.removeprefix("http://testserver")).json()["title"] == TRICKY_TITLE
    assert [e.url for e in parse_feed(api.get(url + "?limit=1").content, "http://testserver/").entries] == [
        f"http://testserver/v1/clusters/{world.stories[0]}"]


async def test_the_json_feed_lists_the_same_stories(world: World, api: TestClient) -> None:
    url = f"/v1/subscriptions/{world.subscription}/feed.json"
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/feed+json")
    body = response.json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert [i["id"] for i in body["items"]] == [world.stories[0], world.stories[3], world.stories[2]]
    feed = parse_feed(response.content, f"http://testserver{url}")
    assert [e.url for e in feed.entries] == [f"http://testserver/v1/clusters/{c}" for c in
                                             (world.stories[0], world.stories[3], world.stories[2])]
    assert [e.title for e in feed.entries] == [STORIES[0][0], TRICKY_TITLE, STORIES[2][0]]
    assert [e.published for e in feed.entries] == [datetime.fromtimestamp(t, UTC) for t in (3000, 2000, 1000)]


async def test_feeds_of_unknown_or_quiet_subscriptions(world: World, api: TestClient, settings: Settings) -> None:
    for kind in ("xml", "json"):
        missing = api.get(f"/v1/subscriptions/nope/feed.{kind}")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    async with open_redis(settings) as redis:
        quiet = await SubscriptionStore(redis, Keys(settings.key_prefix)).create(
            "http://127.0.0.1:9/hook", Query(keywords=["volcano"]))
    rss = api.get(f"/v1/subscriptions/{quiet.id}/feed.xml")
    # parse_feed reads an empty feed as "not a feed" (as a fetcher should); the channel is well-formed RSS.
    channel = ElementTree.fromstring(rss.content).find("channel")
    assert rss.status_code == 200 and channel is not None and channel.find("item") is None
    assert channel.findtext("title") == f"wirewatch: subscription {quiet.id}"
    assert api.get(f"/v1/subscriptions/{quiet.id}/feed.json").json()["items"] == []


async def test_a_merged_away_story_appears_once_as_the_story_it_joined(world: World, api: TestClient,
                                                                       settings: Settings) -> None:
    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        await redis.set(keys.story_alias("c-merged-away"), world.stories[2])
        await redis.zadd(keys.subscription_stories(world.subscription), {"c-merged-away": 2500.0})
    items = api.get(f"/v1/subscriptions/{world.subscription}/feed.json").json()["items"]
    assert [(i["id"], i["date_published"]) for i in items] == [
        (world.stories[0], datetime.fromtimestamp(3000, UTC).isoformat()),
        (world.stories[2], datetime.fromtimestamp(2500, UTC).isoformat()),
        (world.stories[3], datetime.fromtimestamp(2000, UTC).isoformat()),
    ]


async def test_a_listing_reads_the_summaries_of_a_page_and_the_members_of_the_stories_it_shows(
        world: World, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.store.repository import StoredStory

    reads: list[tuple[int, bool]] = []
    stories = Repository.stories

    async def counted(self: Repository, ids: list[str], *, members: bool = True) -> list[StoredStory]:
        reads.append((len(ids), members))
        return await stories(self, ids, members=members)

    monkeypatch.setattr(Repository, "stories", counted)
    page = api.get("/v1/clusters?limit=2").json()
    assert [s["id"] for s in page["items"]] == [world.stories[3], world.stories[2]]
    assert reads == [(2, False), (2, True)], "a page's worth of summaries, then the members of the two shown"
    assert page["items"][1]["lead_article"] is not None and page["items"][1]["independent_outlets"] == [
        "outlet2.example"]
    reads.clear()
    one_outlet = api.get("/v1/clusters?limit=1&outlet=outlet1.example").json()
    assert [s["id"] for s in one_outlet["items"]] == [world.stories[1]]
    assert reads == [(1, False), (3, False), (1, True)], "a filter that drops stories reads on, summaries only"
    reads.clear()
    worded = api.get("/v1/clusters?q=harvest").json()
    assert [s["id"] for s in worded["items"]] == [world.stories[1]] and reads == [(4, True)], (
        "a filter on a member's title reads the members")


async def test_a_listing_pages_past_stories_that_expired_but_are_still_indexed(
        world: World, api: TestClient, settings: Settings) -> None:
    # The latest-first index is trimmed every few minutes; stories expire by TTL meanwhile. Ids with newer times
    # than every story, whose keys are gone, stand for them.
    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        newest = float(await redis.zscore(keys.stories_recent, world.stories[3]) or 0)
        await redis.zadd(keys.stories_recent, {f"c-expired-{n}": newest + 10 + n for n in range(3)})
        await redis.zadd(keys.articles_recent, {f"a-expired-{n}": 4e9 + n for n in range(3)})
    page = api.get("/v1/clusters?limit=2").json()
    assert [s["id"] for s in page["items"]] == [world.stories[3], world.stories[2]], "past the expired ones"
    assert page["next_cursor"] is not None
    rest = api.get(f"/v1/clusters?limit=2&cursor={page['next_cursor']}").json()
    assert [s["id"] for s in rest["items"]] == [world.stories[1], world.stories[0]]
    articles = api.get("/v1/articles?limit=2").json()
    assert len(articles["items"]) == 2 and not any(a["id"].startswith("a-expired") for a in articles["items"])
