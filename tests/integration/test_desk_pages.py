"""The story desk's pages over a real Redis: signing in with a key, what a read-only key sees, the pages with
nothing stored yet, and /docs and /redoc served from the package (the browser tests are tests/e2e/test_desk.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.api.apikeys import ApiKeyStore
from services.api.app import create_app
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings

pytestmark = pytest.mark.integration
PAGES = ("/", "/feeds", "/subscriptions")


async def make_key(settings: Settings, scope: str) -> str:
    async with open_redis(settings) as redis:
        _, token = await ApiKeyStore(redis, Keys(settings.key_prefix)).create(scope, f"{scope} reader")  # type: ignore[arg-type]
    return token


@pytest.fixture
def open_api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_auth": "off"}))) as client:
        yield client


@pytest.fixture
def secured(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_auth": "on"})


@pytest.fixture
def keyed_api(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured), follow_redirects=False) as client:
        yield client


def test_pages_render_with_nothing_stored_and_every_asset_they_name_is_served(open_api: TestClient) -> None:
    for path in PAGES:
        page = open_api.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            assert open_api.get(asset).status_code == 200, asset
    assert "No stories yet" in open_api.get("/").text
    assert "Add a feed" in open_api.get("/feeds").text, "with keys off everyone may change things"
    assert open_api.get("/stories/nope").status_code == 404
    assert open_api.get("/entities/person:nobody at all").status_code == 404


def test_docs_and_redoc_load_their_assets_from_the_package_not_a_cdn(open_api: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = open_api.get(path)
        assert page.status_code == 200
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.text)
        assert scripts and all(s.startswith("/docs/assets/") for s in scripts), scripts
        assert "https://" not in " ".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))
        for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
            assert open_api.get(asset).status_code == 200, asset


def test_without_a_key_every_page_sends_the_reader_to_sign_in(keyed_api: TestClient) -> None:
    for path in PAGES:
        response = keyed_api.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    assert keyed_api.get("/fragments/river").status_code == 401, "the script's fetches get a 401, not a page"
    refused = keyed_api.post("/login", data={"key": "ww_wrong", "next": "/feeds"})
    assert refused.status_code == 401 and "not valid" in refused.text


async def test_a_read_only_key_sees_the_pages_without_write_buttons(keyed_api: TestClient, secured: Settings) -> None:
    reader, admin = await make_key(secured, "read"), await make_key(secured, "admin")
    signed = keyed_api.post("/login", data={"key": reader, "next": "//evil.example/"})
    assert signed.status_code == 303 and signed.headers["location"] == "/", "never back to another site"
    cookie = signed.headers["set-cookie"]
    assert "SameSite=strict" in cookie and "Max-Age" not in cookie, "kept for the browser session only"
    for path in PAGES:
        page = keyed_api.get(path)
        assert page.status_code == 200 and "read only" in page.text
        assert "data-action" not in page.text and 'id="feed-form"' not in page.text
        assert 'id="subscription-form"' not in page.text
    keyed_api.cookies.clear()
    keyed_api.post("/login", data={"key": admin, "next": "/feeds"})
    assert 'id="feed-form"' in keyed_api.get("/feeds").text
    assert keyed_api.post("/logout").headers["location"] == "/login"


async def test_the_page_of_a_story_of_hundreds_of_members_shows_them_all(open_api: TestClient,
                                                                       settings: Settings) -> None:
    # A wire story re-posted by 250 outlets: the page reads the members' articles for why each joined.
    from datetime import UTC, datetime, timedelta

    from services.common.messages import Article, article_id
    from services.store.placement import Placer
    from services.store.repository import Repository

    text = ("A magnitude 6.1 earthquake struck near Port Alba on Tuesday, collapsing houses and cutting power. "
            "Rescue teams searched the rubble for survivors while aftershocks rattled the region. ") * 3
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    articles = [Article(id=article_id(f"https://outlet{i}.example/quake"), url=f"https://outlet{i}.example/quake",
                        outlet=f"outlet{i}.example", title=f"Earthquake shakes Port Alba ({i})",
                        text=f"Outlet {i} reports. {text}", language="en", published_at=start + timedelta(seconds=i),
                        fetched_at=start + timedelta(seconds=i)) for i in range(250)]
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        placed = [p for n in range(0, len(articles), 50) for p in await placer.ingest_many(articles[n:n + 50])]
    story = placed[-1].story
    assert story.size == 250 and {p.story.id for p in placed} == {story.id}
    page = open_api.get(f"/stories/{story.id}")
    assert page.status_code == 200, page.text[:200]
    assert all(f'id="a-{a.id}"' in page.text for a in articles), "every member is listed"
    assert page.text.count('class="copy"') == 249, "the re-posts show as copies of the first report"
    # The first copies and outlets are listed, the rest folded under their count (a link to one opens its fold).
    assert "244 more outlets</summary>" not in page.text and "244 more outlets copied it</summary>" in page.text
    assert "220 more outlets</summary>" in page.text, "the timeline lists 30 of the 250 outlets"
    folded = page.text.split("244 more outlets copied it</summary>")[1].split("</details>")[0]
    assert folded.count('class="copy"') == 244


async def test_readers_loading_the_river_at_once_all_get_it(settings: Settings) -> None:
    # Each card's lead article was read apart, one Redis connection each: a dozen readers at once ran the
    # API's client out of connections and some got a 503.
    import asyncio
    from datetime import UTC, datetime, timedelta

    import httpx

    from services.common.messages import Article, article_id
    from services.store.placement import Placer
    from services.store.repository import Repository
    from tests.support.running import serving_api

    start = datetime(2026, 12, 1, tzinfo=UTC)
    async with open_redis(settings) as redis:
        placer = Placer(settings.model_copy(update={"cluster_window_hours": 1.0}),
                        Repository(redis, Keys(settings.key_prefix)))
        for i in range(35):  # days apart with a one-hour window: 35 stories, more than a river page
            url = f"https://outlet{i}.example/story"
            await placer.ingest(Article(id=article_id(url), url=url, outlet=f"outlet{i}.example",
                                        title=f"Harbour report number {i}", text=f"The harbour saw event {i}. " * 5,
                                        language="en", published_at=start + timedelta(days=i),
                                        fetched_at=start + timedelta(days=i)))
    with serving_api(settings.model_copy(update={"api_auth": "off"})) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            pages = await asyncio.gather(*(client.get(f"{url}/") for _ in range(12)))
    assert [p.status_code for p in pages] == [200] * 12
    assert all(p.text.count('class="card') >= 30 for p in pages), "each reader got a full page of cards"
