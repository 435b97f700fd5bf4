"""Subscriptions over a real Redis: the store and its index, the HTTP API, the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from services.api.app import create_app
from services.cli import app as cli_app
from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.notifier.subscriptions import Query, StoryFacts, SubscriptionStore, candidate_sets

pytestmark = pytest.mark.integration

SOLEIMANI = "person:qassem soleimani"
HOOK = "https://hooks.example/wirewatch"


def soleimani_story(kind: str = "created") -> StoryFacts:
    return StoryFacts(
        kind=kind,  # type: ignore[arg-type]
        cluster_id="c1", title="Soleimani meets Putin in Moscow",
        entities=frozenset({SOLEIMANI, "person:vladimir putin", "gpe:moscow"}),
        outlets=frozenset({"reuters", "tass"}), size=2, independent_outlets=2, languages=frozenset({"en"}),
        text="The Quds Force commander flew in on Tuesday.")


async def test_create_get_list_pause_resume_delete(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        store = SubscriptionStore(redis, Keys(settings.key_prefix))
        first = await store.create("HTTPS://Hooks.Example/a", Query(entities=[SOLEIMANI]), description="Quds")
        second = await store.create(HOOK, Query(keywords=["moscow"]), secret=first.secret)
        assert first.target_url == "https://hooks.example/a" and first.secret.startswith("whsec_")
        assert second.secret == first.secret, "a given secret is kept"
        assert await store.get(first.id) == first
        assert [s.id for s in await store.all()] == [first.id, second.id]
        assert [s.id for s in await store.get_many([second.id, "nope", first.id])] == [second.id, first.id]

        paused = await store.pause(first.id)
        assert paused is not None and paused.paused and (await store.get(first.id)) == paused
        assert await store.pause(first.id) == paused, "idempotent"
        resumed = await store.resume(first.id)
        assert resumed is not None and not resumed.paused
        assert await store.pause("nope") is None and await store.resume("nope") is None

        assert await store.delete(first.id)
        assert await store.get(first.id) is None
        assert not await store.delete(first.id)
        assert await store.pause(first.id) is None, "a deleted subscription is not brought back"
        assert not await redis.exists(Keys(settings.key_prefix).subscription_index("ent", SOLEIMANI)), (
            "its index entries went with it")

        with pytest.raises(ValidationError):
            await store.create("ftp://hooks.example/", Query())
        with pytest.raises(ValidationError):
            await store.create(HOOK, Query(), secret="whsec_short")


async def test_entities_the_table_knows_by_any_name_are_stored_as_the_key_they_stand_for(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        putin = Entity(key="person:vladimir putin", name="Vladimir Putin", type="PERSON", count=2, first_position=0,
                       aliases=["person:putin"])
        aliases = AliasTable(redis, keys)
        await aliases.resolve([putin])
        store = SubscriptionStore(redis, keys, canonical=aliases.entity_key)  # as the API and the CLI wire it
        sub = await store.create(HOOK, Query(entities=["person:putin", "Putin", "person:vladimir putin", "Nobody"]))
        assert sub.query.entities == ["person:vladimir putin", "nobody"], (
            "keys and names resolved, once each; a name the table does not know kept")
        assert [s.id for s in await store.candidates(soleimani_story())] == [sub.id]


async def test_candidates_come_from_the_index_and_pass_the_predicate(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        store = SubscriptionStore(redis, Keys(settings.key_prefix))
        by_key = await store.create(HOOK, Query(entities=[SOLEIMANI]))
        by_name = await store.create(HOOK, Query(entities=["Qassem Soleimani", "Vladimir Putin"], entities_mode="all"))
        by_phrase = await store.create(HOOK, Query(keywords=["quds force"]))
        by_outlet = await store.create(HOOK, Query(outlets=["Reuters"]))
        broad = await store.create(HOOK, Query(min_outlets=2))
        merges_only = await store.create(HOOK, Query(entities=[SOLEIMANI], events=["merged"]))
        await store.create(HOOK, Query(min_outlets=3))  # broad, but the story is too small
        await store.create(HOOK, Query(entities=[SOLEIMANI], languages=["de"]))
        await store.create(HOOK, Query(entities=[SOLEIMANI, "person:donald trump"], entities_mode="all"))
        await store.create(HOOK, Query(keywords=["force quds"]))
        paused = await store.create(HOOK, Query(entities=[SOLEIMANI]))
        await store.pause(paused.id)

        found = {s.id for s in await store.candidates(soleimani_story())}
        assert found == {by_key.id, by_name.id, by_phrase.id, by_outlet.id, broad.id}
        merged = {s.id for s in await store.candidates(soleimani_story("merged"))}
        assert merged == {merges_only.id}
        other = StoryFacts(kind="created", cluster_id="c2", title="Weather", outlets=frozenset({"bbc"}))
        assert await store.candidates(other) == []


async def test_ten_thousand_subscriptions_on_other_things_are_not_candidates(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        store = SubscriptionStore(redis, keys)
        queries = [Query(entities=[f"person:someone {i}"]) if i % 3 == 0 else
                   Query(keywords=[f"topic{i} news"]) if i % 3 == 1 else Query(outlets=[f"outlet {i}"])
                   for i in range(10_000)]
        for start in range(0, len(queries), 50):  # within the client's connection pool
            await asyncio.gather(*(store.create(HOOK, q) for q in queries[start:start + 50]))
        wanted = {(await store.create(HOOK, Query(entities=[SOLEIMANI]))).id,
                  (await store.create(HOOK, Query(keywords=["Moscow"]))).id}
        assert await redis.hlen(keys.subscriptions) == 10_002

        facts = soleimani_story()
        # The index, not the predicate, keeps the other 10,000 out: the union holds only the two.
        assert await redis.sunion(candidate_sets(keys, facts)) == wanted
        assert {s.id for s in await store.candidates(facts)} == wanted


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_api_crud(api: TestClient) -> None:
    created = api.post("/v1/subscriptions", json={
        "target_url": HOOK, "description": "Soleimani",
        "query": {"entities": ["Qassem Soleimani"], "keywords": ["Moscow"], "min_outlets": 2}})
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["secret"].startswith("whsec_") and sub["query"]["entities"] == ["qassem soleimani"]
    assert sub["query"]["events"] == ["created", "updated"] and sub["paused"] is False

    listed = api.get("/v1/subscriptions").json()
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    shown = api.get(f"/v1/subscriptions/{sub['id']}").json()
    assert shown["description"] == "Soleimani" and "secret" not in shown

    assert api.post(f"/v1/subscriptions/{sub['id']}/pause").json()["paused"] is True
    assert api.post(f"/v1/subscriptions/{sub['id']}/resume").json()["paused"] is False
    assert api.delete(f"/v1/subscriptions/{sub['id']}").status_code == 204
    for response in (api.get(f"/v1/subscriptions/{sub['id']}"), api.delete(f"/v1/subscriptions/{sub['id']}"),
                     api.post(f"/v1/subscriptions/{sub['id']}/pause"), api.post("/v1/subscriptions/x/resume")):
        assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize("body", [
    {}, {"target_url": "file:///etc/passwd"}, {"target_url": "gopher://x.example/"}, {"target_url": 42},
    {"target_url": HOOK, "secret": "plain"}, {"target_url": HOOK, "secret": "whsec_c2hvcnQ="},
    {"target_url": HOOK, "query": {"entities_mode": "most"}}, {"target_url": HOOK, "query": {"events": []}},
    {"target_url": HOOK, "query": {"keywords": ["..."]}}, {"target_url": HOOK, "query": {"min_outlets": 0}},
    {"target_url": HOOK, "query": {"unknown": 1}}, {"target_url": HOOK, "extra": 1},
])
def test_invalid_subscriptions_get_a_clear_422(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/v1/subscriptions", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_cli(settings: Settings) -> None:
    runner = CliRunner()
    env = {"REDIS_URL": settings.required_redis_url, "WIREWATCH_KEY_PREFIX": settings.key_prefix}

    def run(*args: str) -> str:
        result = runner.invoke(cli_app, ["subscriptions", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    added = json.loads(run("add", HOOK, "--entity", "Qassem Soleimani", "--entity", "gpe:moscow", "--all",
                           "--keyword", "quds force", "--outlet", "Reuters", "--language", "en",
                           "--min-outlets", "2", "--event", "created", "--description", "Quds", "--json"))
    assert added["secret"].startswith("whsec_")
    assert added["query"] == {"entities": ["qassem soleimani", "gpe:moscow"], "entities_mode": "all",
                              "keywords": ["quds force"], "outlets": ["reuters"], "languages": ["en"],
                              "min_outlets": 2, "events": ["created"], "digest_minutes": 0}
    sid = added["id"]
    assert "secret (shown only now): whsec_" in run("add", HOOK, "--keyword", "moscow")
    listed = json.loads(run("list", "--json"))
    assert len(listed) == 2 and all("secret" not in s for s in listed)
    assert sid in run("list")
    assert json.loads(run("show", sid, "--json"))["description"] == "Quds"
    assert "qassem soleimani" in run("show", sid)
    assert json.loads(run("pause", sid, "--json"))["paused"] is True
    assert json.loads(run("resume", sid, "--json"))["paused"] is False
    assert sid in run("remove", sid)

    missing = runner.invoke(cli_app, ["subscriptions", "show", sid], env=env)
    assert missing.exit_code == 1 and "no subscription" in missing.output
    bad = runner.invoke(cli_app, ["subscriptions", "add", "ftp://x.example/"], env=env)
    assert bad.exit_code == 1 and "target_url" in bad.output
