"""A big story's page in a real browser: a wire story re-posted by 120 outlets lists its first copies and
outlets, folds the rest under their counts, and a timeline link to a folded copy opens its fold.

The story is stored through the store's real code on the session's Redis; the API (keys off) is served by
uvicorn on a free port; Debian's chromium driven by Playwright reads the page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from services.common.keys import Keys
from services.common.messages import Article, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.placement import Placer
from services.store.repository import Repository
from tests.support.browser import Console, chromium, require_chromium
from tests.support.running import serving_api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

OUTLETS = 120
TEXT = ("A magnitude 6.1 earthquake struck near Port Alba on Tuesday, collapsing houses and cutting power. Rescue "
        "teams searched the rubble for survivors while aftershocks rattled the region. ") * 3


async def store_story(settings: Settings) -> str:
    """One wire report and its re-posts by OUTLETS - 1 other outlets, a minute apart: the story's id."""
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    articles = [Article(id=article_id(f"https://outlet{i}.example/quake"), url=f"https://outlet{i}.example/quake",
                        outlet=f"outlet{i}.example", title=f"Earthquake shakes Port Alba ({i})",
                        text=f"Outlet {i} reports. {TEXT}", language="en",
                        published_at=start + timedelta(minutes=i), fetched_at=start + timedelta(minutes=i))
                for i in range(OUTLETS)]
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        placed = [p for n in range(0, OUTLETS, 40) for p in await placer.ingest_many(articles[n:n + 40])]
    assert {p.story.id for p in placed} == {placed[-1].story.id} and placed[-1].story.size == OUTLETS
    return placed[-1].story.id


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    require_chromium()
    with serving_api(settings.model_copy(update={"api_auth": "off"})) as url:
        yield url


def test_a_big_story_folds_its_long_lists_and_a_link_opens_the_fold(settings: Settings, api_url: str) -> None:
    story_id = asyncio.run(store_story(settings))
    console = Console()
    with chromium(base_url=api_url) as browser:
        page = console.watch(browser.new_page())
        page.goto(f"/stories/{story_id}")
        report = page.locator(".report")
        expect(report).to_have_count(1)
        visible_copies = report.locator(":scope > .copies > .copy")
        expect(visible_copies).to_have_count(5)
        fold = report.locator("details.more-copies")
        expect(fold.locator("summary")).to_have_text(f"{OUTLETS - 6} more outlets copied it")
        expect(fold.locator(".copy").first).to_be_hidden()
        timeline_fold = page.locator(".side details.more")
        expect(timeline_fold.locator("summary")).to_have_text(f"{OUTLETS - 30} more outlets")
        # The last outlet's copy is in the fold: its timeline entry, in the timeline's fold, links to it.
        timeline_fold.locator("summary").click()
        last = timeline_fold.get_by_role("link", name=f"outlet{OUTLETS - 1}.example")
        last.click()
        target = page.locator(f"#a-{article_id(f'https://outlet{OUTLETS - 1}.example/quake')}")
        expect(target).to_be_visible()
        expect(target).to_be_in_viewport()
    assert not console.errors, console.errors
