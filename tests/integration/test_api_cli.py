"""The HTTP API and the CLI over a real Redis: feeds, articles, clusters, invalid requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.repository import BatchWrite, JoinReason, Repository, StoredArticle, StoredStory, StoryMember

pytestmark = pytest.mark.integration


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": settings.required_redis_url, "KAFKA_BOOTSTRAP": settings.bootstrap,
           "WIREWATCH_KEY_PREFIX": settings.key_prefix, "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


async def put_story(settings: Settings, n_clusters: int) -> None:
    """Store `n_clusters` one-article clusters directly through the repository."""
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        for i in range(n_clusters):
            at = datetime(2026, 1, 1, 12, i, tzinfo=UTC)
            article = StoredArticle(
                id=f"a{i}", url=f"https://o{i % 2}.example/{i}", outlet=f"o{i % 2}", title=f"Story {i} about Putin",
                text="text", fetched_at=at, cluster_id=f"c{i}", body_hash=f"h{i}", stored_at=at,
                joined=JoinReason(rule="new_cluster"), published_at=at,
            )
            story = StoredStory(
                id=f"c{i}", title=article.title, first_seen=at, last_updated=at, size=1, outlets=[article.outlet],
                entities={"person:vladimir putin" if i % 2 else "gpe:moscow": 1},
                members=[StoryMember(id=article.id, outlet=article.outlet, title=article.title, url=article.url,
                                       published_at=at, language="en" if i < 3 else "de")],
            )
            write = BatchWrite(expected_versions={story.id: 0}, stories={story.id: story},
                               new_articles={article.id: article})
            assert await repo.commit(write) == []


def test_feeds_can_be_added_listed_and_removed(api: TestClient) -> None:
    # No internet in tests: `force` registers a feed that cannot be fetched now (tests/integration/test_feed_add.py
    # registers real ones from the local outlet server).
    created = api.post("/v1/feeds", json={"url": "https://News.Example/rss?utm_source=x", "name": "News",
                                          "force": True})
    assert created.status_code == 201
    feed = created.json()
    assert feed["url"] == "https://news.example/rss" and feed["health"]["last_poll"] is None
    again = api.post("/v1/feeds", json={"url": "https://news.example/rss"})
    assert again.status_code == 200 and again.json()["id"] == feed["id"], "adding the same feed twice is one feed"
    assert [f["id"] for f in api.get("/v1/feeds").json()] == [feed["id"]]
    assert api.get(f"/v1/feeds/{feed['id']}").json()["name"] == "News"
    assert api.delete(f"/v1/feeds/{feed['id']}").status_code == 204
    assert api.get(f"/v1/feeds/{feed['id']}").status_code == 404
    assert api.delete(f"/v1/feeds/{feed['id']}").status_code == 404


@pytest.mark.parametrize("body", [
    {"url": "file:///etc/passwd"}, {"url": "gopher://x.example/"}, {"url": "http://user:pw@x.example/"},
    {"url": ""}, {"url": "x" * 5000}, {}, {"url": 42}, {"url": "http://"},
])
def test_invalid_feed_requests_get_a_clear_422(api: TestClient, body: dict[str, object]) -> None:
    response = api.post("/v1/feeds", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_clusters_page_latest_first_and_filter(api: TestClient, settings: Settings) -> None:
    await put_story(settings, 5)
    first = api.get("/v1/clusters", params={"limit": 2}).json()
    assert [c["id"] for c in first["items"]] == ["c4", "c3"]
    second = api.get("/v1/clusters", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in second["items"]] == ["c2", "c1"]
    by_entity = api.get("/v1/clusters", params={"entity": "Vladimir Putin"}).json()
    assert [c["id"] for c in by_entity["items"]] == ["c3", "c1"]
    assert [c["id"] for c in api.get("/v1/clusters", params={"q": "story 2"}).json()["items"]] == ["c2"]
    assert api.get("/v1/clusters", params={"min_outlets": 2}).json()["items"] == []
    assert [c["id"] for c in api.get("/v1/clusters", params={"outlet": "O1"}).json()["items"]] == ["c3", "c1"]
    assert [c["id"] for c in api.get("/v1/clusters", params={"language": "de"}).json()["items"]] == ["c4", "c3"]
    detail = api.get("/v1/clusters/c2").json()
    assert detail["originals"] == ["a2"] and detail["members"][0]["id"] == "a2"
    assert [(t["outlet"], t["article_id"], t["kind"]) for t in detail["timeline"]] == [("o0", "a2", "report")]
    assert api.get("/v1/clusters/nope").status_code == 404
    for bad in ({"limit": 0}, {"limit": 10_000}, {"cursor": "abc"}, {"since": "yesterday"}):
        assert api.get("/v1/clusters", params=bad).status_code == 422, bad


async def test_articles_list_filter_and_detail(api: TestClient, settings: Settings) -> None:
    await put_story(settings, 3)
    items = api.get("/v1/articles", params={"outlet": "o0"}).json()["items"]
    assert [a["id"] for a in items] == ["a2", "a0"]
    article = api.get("/v1/articles/a1").json()
    assert article["cluster_id"] == "c1" and article["joined"]["rule"] == "new_cluster"
    assert api.get("/v1/articles/zzz").status_code == 404
    since = api.get("/v1/articles", params={"since": "2026-01-01T12:01:00Z"}).json()["items"]
    assert {a["id"] for a in since} == {"a1", "a2"}


def test_healthz_reports_each_part(api: TestClient) -> None:
    response = api.get("/healthz")
    body = response.json()
    assert body["redis"] is True and body["broker"] is True
    assert response.status_code == 503 and body["services"] == {"fetcher": False, "extractor": False,
                                                                 "store": False, "notifier": False}


async def test_cli_feeds_and_clusters_speak_json(settings: Settings) -> None:
    added = cli(settings, "feeds", "add", "https://cli.example/feed.xml", "--name", "CLI News", "--force",
                "--json")
    assert added.returncode == 0, added.stderr
    feed = json.loads(added.stdout)
    assert feed["name"] == "CLI News"
    listed = json.loads(cli(settings, "feeds", "list", "--json").stdout)
    assert [f["id"] for f in listed] == [feed["id"]]
    refused = cli(settings, "feeds", "add", "ftp://cli.example/feed")
    assert refused.returncode == 1 and "invalid feed URL" in refused.stderr
    await put_story(settings, 2)
    stories = json.loads(cli(settings, "clusters", "--json", "--entity", "moscow").stdout)
    assert [c["id"] for c in stories] == ["c0"]
    assert cli(settings, "feeds", "remove", feed["id"]).returncode == 0
    assert cli(settings, "feeds", "remove", feed["id"]).returncode == 1
