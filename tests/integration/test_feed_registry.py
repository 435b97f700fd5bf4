"""The feed registry over a real Redis: OPML import/export, show, pause/resume and the schedule,
feed discovery against the local outlet server, through the registry, the HTTP API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.fetcher.discovery import discover_feeds
from services.fetcher.opml import parse_opml
from services.fetcher.registry import FeedRegistry, NewFeed
from tests.support.outlets import OutletServer

pytestmark = pytest.mark.integration

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reader export</title></head>
  <body>
    <outline text="News">
      <outline text="World">
        <outline type="rss" text="World Desk" title="World Desk - Latest" xmlUrl="https://world.example/rss.xml"
                 htmlUrl="https://world.example/"/>
      </outline>
      <outline type="rss" text="City Paper" xmlUrl="https://city.example/feed?utm_source=opml"/>
    </outline>
    <outline type="rss" text="Science Daily" title="Science" xmlUrl="https://science.example/atom.xml"
             htmlUrl="https://science.example/"/>
    <outline type="rss" text="Broken" xmlUrl="ftp://files.example/feed"/>
    <outline type="rss" text="Empty" xmlUrl=""/>
    <outline type="rss" text="City again" xmlUrl="https://CITY.example/feed"/>
  </body>
</opml>
"""


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": settings.required_redis_url, "KAFKA_BOOTSTRAP": settings.bootstrap,
           "WIREWATCH_KEY_PREFIX": settings.key_prefix, "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix,
           "WIREWATCH_ALLOW_NETWORKS": settings.allow_networks}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def summary(feeds: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {(f["url"], f["name"], f["title"], f["html_url"], f["category"]) for f in feeds}


IMPORTED = {
    ("https://world.example/rss.xml", "World Desk", "World Desk - Latest", "https://world.example/", "News/World"),
    ("https://city.example/feed", "City Paper", None, None, "News"),
    ("https://science.example/atom.xml", "Science Daily", "Science", "https://science.example/", None),
}


def test_api_imports_opml_with_folders_and_exports_it_back(api: TestClient) -> None:
    imported = api.post("/v1/feeds/import", content=OPML, headers={"Content-Type": "text/x-opml"})

    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert (result["added"], result["existing"], result["invalid"]) == (3, 1, 2)
    assert {e["url"] for e in result["errors"]} == {"ftp://files.example/feed", ""}
    listed = api.get("/v1/feeds").json()
    assert summary(listed) == IMPORTED
    assert [f["name"] for f in listed] == ["World Desk", "City Paper", "Science Daily"], "listing keeps the OPML order"
    world = next(f for f in listed if f["name"] == "World Desk")
    shown = api.get(f"/v1/feeds/{world['id']}").json()
    assert shown["category"] == "News/World" and shown["health"]["next_poll"] is not None

    again = api.post("/v1/feeds/import", content=OPML).json()
    assert (again["added"], again["existing"], again["invalid"]) == (0, 4, 2)

    exported = api.get("/v1/feeds/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/xml")
    feeds = parse_opml(exported.content).feeds
    assert {(f.url, f.name, f.title, f.html_url, f.category) for f in feeds} == IMPORTED


@pytest.mark.parametrize(("body", "detail"), [
    (b"", "empty document"),
    (b"<opml><body>", "not well-formed"),
    (b"<html><body>not opml</body></html>", "not <opml>"),
    (b'<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     b'<opml version="2.0"><body><outline text="&xxe;" xmlUrl="http://x.example/"/></body></opml>', "entities"),
])
def test_api_refuses_invalid_opml_with_a_clear_422(api: TestClient, body: bytes, detail: str) -> None:
    response = api.post("/v1/feeds/import", content=body)

    assert response.status_code == 422
    (error,) = response.json()["detail"]  # the shape of every 422: [{loc, msg, type}]
    assert error["msg"].startswith("invalid OPML") and detail in error["msg"]
    assert api.get("/v1/feeds").json() == []


def test_api_refuses_an_oversized_opml_body(api: TestClient) -> None:
    from services.fetcher.opml import MAX_OPML_BYTES

    response = api.post("/v1/feeds/import", content=b" " * (MAX_OPML_BYTES + 1))

    assert response.status_code == 413


def test_api_pause_and_resume(api: TestClient) -> None:
    feed = api.post("/v1/feeds", json={"url": "https://pause.example/rss", "name": "Pause", "force": True}).json()

    paused = api.post(f"/v1/feeds/{feed['id']}/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True and paused.json()["health"]["next_poll"] is None
    assert api.post(f"/v1/feeds/{feed['id']}/pause").json()["paused"] is True, "pausing twice is harmless"
    assert api.get(f"/v1/feeds/{feed['id']}").json()["paused"] is True

    resumed = api.post(f"/v1/feeds/{feed['id']}/resume").json()
    assert resumed["paused"] is False and resumed["health"]["next_poll"] is not None

    for action in ("pause", "resume"):
        missing = api.post(f"/v1/feeds/nope/{action}")
        assert missing.status_code == 404 and missing.json()["detail"] == "no feed 'nope'"


def test_openapi_describes_the_feed_endpoints(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]

    assert "text/x-opml" in paths["/v1/feeds/import"]["post"]["requestBody"]["content"]
    assert "application/xml" in paths["/v1/feeds/export"]["get"]["responses"]["200"]["content"]
    assert {"/v1/feeds/{feed_id}/pause", "/v1/feeds/{feed_id}/resume"} <= set(paths)


async def test_pause_takes_a_feed_out_of_the_schedule_and_resume_makes_it_due_now(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        registry = FeedRegistry(redis, Keys(settings.key_prefix))
        feed = await registry.add("https://schedule.example/rss")
        other = await registry.add("https://other.example/rss")
        # Both are due at once; take them, as a fetcher would, so only a resume can make one due again.
        assert set(await registry.claim_due(lease_s=3600, limit=10)) == {feed.id, other.id}

        paused = await registry.pause(feed.id)
        assert paused is not None and paused.paused
        assert (await registry.state(feed.id)).next_poll is None
        assert await registry.claim_due(lease_s=3600, limit=10) == []
        assert (await registry.get(feed.id)).paused  # type: ignore[union-attr]
        # Re-adding or re-importing a paused feed leaves it paused and unscheduled.
        assert (await registry.add(feed.url)).paused
        result = await registry.add_many([NewFeed(url=feed.url)])
        assert [f.id for f in result.existing] == [feed.id] and result.existing[0].paused
        assert (await registry.state(feed.id)).next_poll is None

        before = time.time()
        resumed = await registry.resume(feed.id)
        assert resumed is not None and not resumed.paused
        next_poll = (await registry.state(feed.id)).next_poll
        assert next_poll is not None and before <= next_poll <= time.time()
        assert await registry.claim_due(lease_s=3600, limit=10) == [feed.id]

        # Resuming an active feed does not move its next poll.
        await registry.resume(feed.id)
        assert await registry.claim_due(lease_s=3600, limit=10) == []

        assert await registry.remove(feed.id)
        assert await registry.pause(feed.id) is None and await registry.resume(feed.id) is None
        assert await registry.get(feed.id) is None, "pausing a removed feed never brings it back"


async def test_find_by_id_or_any_spelling_of_the_url(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        registry = FeedRegistry(redis, Keys(settings.key_prefix))
        feed = await registry.add("https://find.example/rss", title="  Find   me ", category="/A//B/")

        assert feed.title == "Find me" and feed.category == "A/B"
        assert await registry.find(feed.id) == feed
        assert await registry.find("HTTPS://Find.Example/rss?utm_medium=x") == feed
        assert await registry.find("https://unknown.example/rss") is None
        assert await registry.find("nope") is None
        assert await registry.get_many([feed.id, "nope"]) == [feed, None]


def test_cli_import_show_pause_resume_export(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "subscriptions.opml"
    source.write_bytes(OPML)

    imported = cli(settings, "feeds", "import", str(source), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["added"] == 3
    human = cli(settings, "feeds", "import", str(source))
    assert human.returncode == 0 and "0 added, 4 already registered, 2 invalid" in human.stdout
    listed = json.loads(cli(settings, "feeds", "list", "--json").stdout)
    assert summary(listed) == IMPORTED
    world = next(f for f in listed if f["name"] == "World Desk")

    shown = cli(settings, "feeds", "show", world["id"], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["html_url"] == "https://world.example/"
    by_url = cli(settings, "feeds", "show", "https://world.example/rss.xml")
    assert by_url.returncode == 0 and "News/World" in by_url.stdout and "active" in by_url.stdout

    paused = cli(settings, "feeds", "pause", world["id"], "--json")
    assert paused.returncode == 0 and json.loads(paused.stdout)["paused"] is True
    resumed = cli(settings, "feeds", "resume", world["id"])
    assert resumed.returncode == 0 and "resumed feed" in resumed.stdout

    exported = tmp_path / "out.opml"
    written = cli(settings, "feeds", "export", "--output", str(exported))
    assert written.returncode == 0 and "exported 3 feeds" in written.stdout
    feeds = parse_opml(exported.read_bytes()).feeds
    assert {(f.url, f.name, f.title, f.html_url, f.category) for f in feeds} == IMPORTED
    assert parse_opml(cli(settings, "feeds", "export").stdout.encode()).feeds == feeds

    removed = cli(settings, "feeds", "remove", "https://science.example/atom.xml")
    assert removed.returncode == 0 and "removed feed" in removed.stdout
    assert len(json.loads(cli(settings, "feeds", "list", "--json").stdout)) == 2

    for command in ("show", "pause", "resume", "remove"):
        unknown = cli(settings, "feeds", command, "nope")
        assert unknown.returncode == 1 and "no feed 'nope'" in unknown.stderr
    broken = tmp_path / "broken.opml"
    broken.write_bytes(b"<opml><body><outline")
    refused = cli(settings, "feeds", "import", str(broken))
    assert refused.returncode == 1 and "invalid OPML" in refused.stderr and refused.stdout == ""


async def test_discovery_against_the_outlet_server(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("daily", "The Daily", "atom")
        page = outlet.add_raw("multi.html", b"""<!DOCTYPE html><html><head>
            <link rel="alternate" type="application/rss+xml" href="feed.xml">
            <link rel="alternate" type="application/feed+json" href="/daily/feed.json">
            </head><body><a href="feed.xml">feed</a></body></html>""", "text/html; charset=utf-8")
        plain = outlet.add_raw("plain.html", b"<html><head><title>No feeds</title></head></html>", "text/html")
        async with SafeHttpClient.from_settings(settings) as http:
            assert await discover_feeds(http, outlet.base_url, max_bytes=100_000) == [outlet.feed_url]
            assert await discover_feeds(http, outlet.feed_url, max_bytes=100_000) == [outlet.feed_url]
            assert await discover_feeds(http, page, max_bytes=100_000) == [outlet.feed_url, outlet.url("feed.json")]
            assert await discover_feeds(http, plain, max_bytes=100_000) == []


def test_cli_discovers_and_adds_a_sites_feed(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("morning", "Morning Post")
        plain = outlet.add_raw("plain.html", b"<html><head><title>No feeds</title></head></html>", "text/html")

        found = cli(settings, "feeds", "discover", outlet.base_url, "--json")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout) == [outlet.feed_url]
        added = cli(settings, "feeds", "add", outlet.base_url, "--discover", "--name", "Morning Post", "--json")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["url"] == outlet.feed_url
        assert json.loads(added.stdout)["name"] == "Morning Post"

        none = cli(settings, "feeds", "add", plain, "--discover")
        assert none.returncode == 1 and "advertises no feed" in none.stderr
        server.set_status(outlet.base_url, 500)
        failing = cli(settings, "feeds", "discover", outlet.base_url)
        assert failing.returncode == 1 and "cannot discover feeds" in failing.stderr
