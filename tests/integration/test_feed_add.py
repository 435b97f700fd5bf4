"""Registering a feed explains itself (issue 18, points 2-4): the URL is fetched once at add time, through
the HTTP API and the CLI, against the local outlet server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.settings import Settings
from services.demo.outlets import OutletServer

pytestmark = pytest.mark.integration


@pytest.fixture
def outlets() -> Iterator[OutletServer]:
    with OutletServer() as server:
        server.add_outlet("morning", "The Morning Post", "rss")
        server.add_outlet("evening", "Evening Standard-Bearer", "atom")
        server.add_outlet("maps", "Sitemap Only", "sitemap")
        server.add_raw("/plain/", b"<!DOCTYPE html><html><head><title>Plain</title></head><body>hi</body></html>",
                       "text/html; charset=utf-8")
        yield server


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def unguarded(settings: Settings) -> Settings:
    """The test's settings without the loopback allow-list: what a user gets by default."""
    return Settings(**{**settings.model_dump(), "redis_url": settings.redis_url, "allow_networks": ""})


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": settings.required_redis_url, "KAFKA_BOOTSTRAP": settings.bootstrap,
           "WIREWATCH_KEY_PREFIX": settings.key_prefix, "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix,
           "WIREWATCH_ALLOW_NETWORKS": settings.allow_networks}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


# --- point 2: a refusal by the SSRF guard says so and names the setting ------------------------------


def test_a_loopback_feed_is_refused_at_add_time_naming_the_setting(settings: Settings,
                                                                   outlets: OutletServer) -> None:
    guarded = unguarded(settings)
    feed_url = outlets.outlet("morning").feed_url
    with TestClient(create_app(guarded)) as client:
        response = client.post("/v1/feeds", json={"url": feed_url})
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]["msg"]
        assert "SSRF guard refused 127.0.0.1" in detail and "WIREWATCH_ALLOW_NETWORKS" in detail
        assert client.get("/v1/feeds").json() == [], "nothing is registered"

    added = cli(guarded, "feeds", "add", feed_url)
    assert added.returncode == 1
    assert "SSRF guard refused 127.0.0.1" in added.stderr and "WIREWATCH_ALLOW_NETWORKS" in added.stderr
    discovered = cli(guarded, "feeds", "discover", outlets.outlet("morning").base_url)
    assert discovered.returncode == 1 and "WIREWATCH_ALLOW_NETWORKS" in discovered.stderr


# --- point 3: the outlet is named from the feed's own title --------------------------------------------


def test_feeds_added_without_a_name_are_named_by_their_title(api: TestClient, settings: Settings,
                                                             outlets: OutletServer) -> None:
    morning = api.post("/v1/feeds", json={"url": outlets.outlet("morning").feed_url})
    assert morning.status_code == 201, morning.text
    assert (morning.json()["name"], morning.json()["title"]) == ("The Morning Post", "The Morning Post")

    evening = cli(settings, "feeds", "add", outlets.outlet("evening").feed_url, "--json")
    assert evening.returncode == 0, evening.stderr
    assert json.loads(evening.stdout)["name"] == "Evening Standard-Bearer"

    # A sitemap has no title: the site's host names it. A name given wins over the title.
    maps = api.post("/v1/feeds", json={"url": outlets.outlet("maps").feed_url}).json()
    assert maps["name"] == "127.0.0.1"
    api.delete(f"/v1/feeds/{morning.json()['id']}")
    named = api.post("/v1/feeds", json={"url": outlets.outlet("morning").feed_url, "name": "MP"}).json()
    assert (named["name"], named["title"]) == ("MP", "The Morning Post")
    assert len({f["name"] for f in api.get("/v1/feeds").json()}) == 3, "three outlets, three names"


# --- point 4: duplicates, pages, non-feeds, feeds that are down ----------------------------------------


def test_a_duplicate_answers_200_already_registered(api: TestClient, settings: Settings,
                                                    outlets: OutletServer) -> None:
    url = outlets.outlet("morning").feed_url
    first = api.post("/v1/feeds", json={"url": url, "name": "First"})
    assert first.status_code == 201 and first.json()["already_registered"] is False
    again = api.post("/v1/feeds", json={"url": url, "name": "Second"})
    assert again.status_code == 200
    assert again.json()["already_registered"] is True and again.json()["name"] == "First"
    assert "already registered" in again.json()["message"]

    cli_again = cli(settings, "feeds", "add", url, "--name", "Third")
    assert cli_again.returncode == 0, cli_again.stderr
    assert "already registered" in cli_again.stdout and "added" not in cli_again.stdout


def test_a_site_page_registers_the_feed_it_advertises(api: TestClient, outlets: OutletServer) -> None:
    outlet = outlets.outlet("evening")
    response = api.post("/v1/feeds", json={"url": outlet.base_url})
    assert response.status_code == 201, response.text
    feed = response.json()
    assert feed["url"] == outlet.feed_url and feed["discovered_from"] == outlet.base_url
    assert feed["html_url"] == outlet.base_url and feed["name"] == "Evening Standard-Bearer"


def test_a_page_without_feeds_and_a_404_are_refused_with_the_reason(api: TestClient, settings: Settings,
                                                                    outlets: OutletServer) -> None:
    page = api.post("/v1/feeds", json={"url": outlets.base_url + "/plain/"})
    assert page.status_code == 422
    assert "advertises no feed" in page.json()["detail"][0]["msg"]

    missing = outlets.base_url + "/gone/feed.xml"
    gone = api.post("/v1/feeds", json={"url": missing})
    assert gone.status_code == 422
    assert "404" in gone.json()["detail"][0]["msg"] and "force" in gone.json()["detail"][0]["msg"]
    assert api.get("/v1/feeds").json() == []

    refused = cli(settings, "feeds", "add", outlets.base_url + "/plain/")
    assert refused.returncode == 1 and "advertises no feed" in refused.stderr


def test_force_registers_a_feed_that_is_down_today(api: TestClient, settings: Settings,
                                                   outlets: OutletServer) -> None:
    down = outlets.outlet("morning").feed_url
    outlets.set_status(down, 503)
    forced = api.post("/v1/feeds", json={"url": down, "force": True})
    assert forced.status_code == 201, forced.text
    assert "503" in forced.json()["warning"] and forced.json()["name"] == "127.0.0.1"

    other = outlets.base_url + "/gone/feed.xml"
    assert cli(settings, "feeds", "add", other).returncode == 1
    added = cli(settings, "feeds", "add", other, "--force", "--name", "Gone")
    assert added.returncode == 0, added.stderr
    assert "404" in added.stdout + added.stderr
    assert {f["name"] for f in api.get("/v1/feeds").json()} == {"127.0.0.1", "Gone"}
