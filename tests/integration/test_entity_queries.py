"""Queries by any name over a real Redis: the API's /v1/entities and ?entity=, subscriptions' entities and the
CLI's --entity and `entities show|search` accept a key, a full name, a surname or any alias, through the alias
table; a name that stands for several entities answers with the candidates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.keys import Keys
from services.common.messages import Article, Entity, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.store.placement import Placer
from services.store.repository import Repository

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 8, tzinfo=UTC)
QASSEM, PUTIN = "person:qassem soleimani", "person:vladimir putin"
JORDAN, MICHAEL = "gpe:jordan", "person:michael jordan"


def entity(key: str, *aliases: str, name: str) -> Entity:
    return Entity(key=key, name=name, type=key.split(":")[0].upper(), count=1, first_position=0,
                  aliases=list(aliases))


# Five unrelated stories, days apart, in wholly different words: each its own story. The fourth names Putin by
# surname only; the last names him as "Putin" typed as a place by the model, before the table knew better.
STORIES = [
    ("Qassem Soleimani visits Moscow for talks on Syria",
     "General Qassem Soleimani arrived in Moscow on Monday for talks with defence officials about the war, "
     "according to officials familiar with the trip. Soleimani met ministers about weapons deliveries.",
     [entity(QASSEM, "person:soleimani", name="Qassem Soleimani"), entity("gpe:moscow", name="Moscow")]),
    ("Jordan closes its northern border crossing",
     "Jordan closed the Jaber crossing on its northern frontier after clashes nearby, the interior ministry in "
     "Amman said, stranding hundreds of lorries carrying fruit and cement.",
     [entity(JORDAN, name="Jordan"), entity("gpe:amman", name="Amman")]),
    ("Michael Jordan sells his stake in the Hornets",
     "Michael Jordan agreed to sell his majority stake in the Charlotte basketball franchise to a group of "
     "investors; Jordan will keep a minority share, the team said in a statement.",
     [entity(MICHAEL, "person:jordan", name="Michael Jordan")]),
    ("Putin hosts regional leaders at Black Sea resort",
     "Vladimir Putin welcomed leaders from the region to Sochi for a summit on energy corridors and grain "
     "exports; Putin proposed a new pipeline route under the sea.",
     [entity(PUTIN, "person:putin", name="Vladimir Putin")]),
    ("Kremlin says Putin will skip the autumn forum",
     "The Kremlin said Putin would not attend the autumn economic forum in the far east, citing a crowded "
     "schedule of domestic meetings and a planned trip abroad.",
     [entity("person:putin", name="Putin"), entity("org:kremlin", name="Kremlin")]),
]


@dataclass
class World:
    stories: list[str]  # story id of each of STORIES, oldest first


@pytest.fixture
async def world(settings: Settings) -> World:
    """The stories as the extractor publishes them (entities through the alias table) and the store files them."""
    keys = Keys(settings.key_prefix)
    ids = []
    async with open_redis(settings) as redis:
        table = AliasTable(redis, keys)
        placer = Placer(settings, Repository(redis, keys))
        for n, (title, text, ents) in enumerate(STORIES):
            url = f"https://outlet{n}.example/story/{n}"
            at = START + timedelta(days=400 * n)  # beyond the store's window: never one story
            article = Article(id=article_id(url), url=url, outlet=f"outlet{n}.example", title=title, text=text,
                              language="en", published_at=at, fetched_at=at, entities=await table.resolve(ents))
            _, story, _ = await placer.ingest(article)
            ids.append(story.id)
    assert len(set(ids)) == len(STORIES), "the stories are separate"
    return World(stories=ids)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": settings.required_redis_url, "KAFKA_BOOTSTRAP": settings.bootstrap,
           "WIREWATCH_KEY_PREFIX": settings.key_prefix, "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix,
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def entity_url(name: str) -> str:
    return f"/v1/entities/{quote(name, safe='')}"


@pytest.mark.parametrize("name", ["Soleimani", "Qassem Soleimani", "Gen. Qassem Soleimani", QASSEM,
                                  "person:soleimani", "PERSON:Soleimani", "soleimani"])
async def test_an_entity_answers_by_any_of_its_names(world: World, api: TestClient, name: str) -> None:
    response = api.get(entity_url(name))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["key"], body["name"], body["requested"]) == (QASSEM, "Qassem Soleimani", name)
    assert [c["id"] for c in body["clusters"]] == [world.stories[0]]


async def test_an_entity_lists_what_the_table_learned_with_counts(world: World, api: TestClient) -> None:
    body = api.get(entity_url("Putin")).json()
    assert body["key"] == PUTIN and body["articles"] == 2
    assert body["aliases"] == ["person:putin"]
    assert body["alias_counts"] == [{"alias": "person:putin", "articles": 1}]
    # the story filed under the surname before... and after the table learned it: both listed
    assert [c["id"] for c in body["clusters"]] == [world.stories[4], world.stories[3]]


async def test_an_ambiguous_name_answers_300_with_the_candidates(world: World, api: TestClient) -> None:
    response = api.get(entity_url("Jordan"))
    assert response.status_code == 300, response.text
    body = response.json()
    assert body["query"] == "Jordan" and "several entities" in body["detail"]
    assert [(c["key"], c["name"], c["articles"]) for c in body["candidates"]] == [
        (JORDAN, "Jordan", 1), (MICHAEL, "Michael Jordan", 1)]
    # each candidate's href is the request that names it by key
    for candidate in body["candidates"]:
        assert api.get(candidate["href"]).json()["key"] == candidate["key"]
    assert api.get(entity_url("Michael Jordan")).json()["key"] == MICHAEL
    assert api.get(entity_url("gpe:jordan")).json()["key"] == JORDAN


async def test_clusters_filter_by_any_name(world: World, api: TestClient) -> None:
    def ids(entity: str) -> list[str]:
        response = api.get("/v1/clusters", params={"entity": entity})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    for name in ("Soleimani", "person:soleimani", "Qassem Soleimani", QASSEM):
        assert ids(name) == [world.stories[0]], name
    for name in ("Putin", "President Putin", "person:putin", PUTIN):
        assert ids(name) == [world.stories[4], world.stories[3]], name
    assert ids("Michael Jordan") == [world.stories[2]]
    assert ids("Kremlin") == [world.stories[4]]
    assert ids("Nobody Known") == []
    ambiguous = api.get("/v1/clusters", params={"entity": "Jordan", "limit": 5})
    assert ambiguous.status_code == 300
    hrefs = [c["href"] for c in ambiguous.json()["candidates"]]
    assert [[c["id"] for c in api.get(h).json()["items"]] for h in hrefs] == [[world.stories[1]], [world.stories[2]]]
    assert all("limit=5" in h for h in hrefs), "the other parameters are kept"


async def test_entities_are_found_by_prefix_for_a_search_box(world: World, api: TestClient) -> None:
    def keys(q: str, **params: str | int) -> list[str]:
        response = api.get("/v1/entities", params={"q": q, **params})
        assert response.status_code == 200, response.text
        return [e["key"] for e in response.json()["items"]]

    assert keys("soleim") == [QASSEM]
    assert keys("Qas") == [QASSEM]
    assert keys("jor") == [JORDAN, MICHAEL]
    assert keys("put") == [PUTIN], "an alias found by its name answers as its entity"
    assert keys("vladimir p") == [PUTIN]
    assert keys("zz") == []
    assert keys("jor", limit=1) == [JORDAN]
    top = api.get("/v1/entities", params={"q": "putin"}).json()["items"][0]
    assert top == {"key": PUTIN, "name": "Vladimir Putin", "articles": 2}
    assert api.get("/v1/entities", params={"q": ""}).status_code == 422
    assert api.get("/v1/entities").status_code == 422


async def test_subscriptions_take_any_name_and_store_the_key(world: World, api: TestClient) -> None:
    created = api.post("/v1/subscriptions", json={"target_url": "https://hooks.example/in",
                                                  "query": {"entities": ["Soleimani", "Putin", "Nikki Haley"]}})
    assert created.status_code == 201, created.text
    # known names are stored as the keys story events carry; an unknown name is kept as a bare name
    assert created.json()["query"]["entities"] == [QASSEM, PUTIN, "nikki haley"]
    ambiguous = api.post("/v1/subscriptions", json={"target_url": "https://hooks.example/in",
                                                    "query": {"entities": ["Jordan"]}})
    assert ambiguous.status_code == 409
    assert [c["key"] for c in ambiguous.json()["candidates"]] == [JORDAN, MICHAEL]
    assert len(api.get("/v1/subscriptions").json()) == 1, "nothing registered for the ambiguous name"


async def test_the_cli_finds_entities_by_any_name(world: World, settings: Settings) -> None:
    stories = cli(settings, "clusters", "--json", "--entity", "Soleimani")
    assert stories.returncode == 0, stories.stderr
    assert [c["id"] for c in json.loads(stories.stdout)] == [world.stories[0]]
    putin = json.loads(cli(settings, "clusters", "--json", "--entity", "Putin").stdout)
    assert [c["id"] for c in putin] == [world.stories[4], world.stories[3]]

    ambiguous = cli(settings, "clusters", "--entity", "Jordan")
    assert ambiguous.returncode == 2
    assert "several entities" in ambiguous.stderr and JORDAN in ambiguous.stderr and MICHAEL in ambiguous.stderr

    shown = cli(settings, "entities", "show", "putin", "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["key"], body["name"], body["articles"]) == (PUTIN, "Vladimir Putin", 2)
    assert body["aliases"] == [{"alias": "person:putin", "articles": 1}]
    assert [c["id"] for c in body["clusters"]] == [world.stories[4], world.stories[3]]
    text = cli(settings, "entities", "show", "Vladimir Putin")
    assert text.returncode == 0 and "person:putin" in text.stdout and "Vladimir Putin" in text.stdout
    missing = cli(settings, "entities", "show", "Nobody Known")
    assert missing.returncode == 1 and "no entity 'Nobody Known'" in missing.stderr
    assert cli(settings, "entities", "show", "Jordan").returncode == 2

    found = json.loads(cli(settings, "entities", "search", "jor", "--json").stdout)
    assert [e["key"] for e in found] == [JORDAN, MICHAEL]

    added = cli(settings, "subscriptions", "add", "https://hooks.example/in", "-e", "Soleimani", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["query"]["entities"] == [QASSEM]
    refused = cli(settings, "subscriptions", "add", "https://hooks.example/in", "-e", "Jordan")
    assert refused.returncode == 2 and "several entities" in refused.stderr


async def test_the_live_stream_takes_any_name_and_refuses_an_ambiguous_one(world: World, api: TestClient) -> None:
    refused = api.get("/v1/stream", params={"entity": "Jordan"})
    assert refused.status_code == 422
    detail = json.dumps(refused.json()["detail"])
    assert "several entities" in detail and MICHAEL in detail
