"""Fetcher -> extractor -> store over a real broker and Redis, with a local outlet server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.messages import DeadLetter, FeedItem
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import DEAD_LETTERS, FEED_ITEMS
from services.extractor import service as extractor
from services.fetcher import service as fetcher
from services.fetcher.registry import FeedRegistry
from services.store import service as store
from services.store.repository import Repository
from tests.support.outlets import OutletServer
from tests.support.running import read_topic, running, wait_for

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

PARAGRAPHS = [
    "The harbour authority of Port Elwin said on Tuesday that the northern breakwater had been breached "
    "by the storm surge overnight, flooding the fish market and two warehouses near the quay.",
    "Engineers from the regional water board were inspecting the damage on Wednesday morning, and the "
    "authority's director, Maren Tolvik, said repairs could take several months and cost millions.",
    "Fishermen who moor their boats inside the breakwater were told to move them to the southern basin "
    "until the structure is declared safe, a decision that several crews criticised as too late.",
    "The storm, the third this winter, also cut power to some four thousand homes along the coast, "
    "although the grid operator said most connections had been restored by Wednesday afternoon.",
]


async def test_items_flow_through_and_poison_pages_reach_dead_letters(settings: Settings) -> None:
    now = datetime.now(UTC)
    with OutletServer() as server:
        outlet = server.add_outlet("harbour", "Harbour Gazette", "rss")
        good = outlet.add_article("breakwater", "Storm breaches Port Elwin breakwater", "\n\n".join(PARAGRAPHS),
                                  now - timedelta(minutes=3))
        outlet.add_article("garbage", "A page of garbage", "placeholder text", now - timedelta(minutes=2))
        outlet.add_article("missing", "A page that is gone", "placeholder text", now - timedelta(minutes=1))
        outlet.add_article("paywall", "Subscribers only", "placeholder text", now - timedelta(seconds=30))
        outlet.add_raw("articles/garbage.html", bytes(range(256)) * 40, "text/html")
        outlet.add_raw("articles/paywall.html", PAYWALL_PAGE.encode(), "text/html; charset=utf-8")
        garbage_url, missing_url = outlet.article_url("garbage"), outlet.article_url("missing")
        paywall_url = outlet.article_url("paywall")
        paywalls_before = _dead_letters("NotAnArticle")
        server.set_status(missing_url, 404)

        async with open_redis(settings) as redis:
            keys = Keys(settings.key_prefix)
            registry = FeedRegistry(redis, keys)
            repo = Repository(redis, keys)
            ledger = Ledger(redis, keys, seen_ttl_s=3600)
            feed = await registry.add(outlet.feed_url, "Harbour Gazette")

            async with running(store.main, settings), running(extractor.main, settings), \
                    running(fetcher.main, settings):
                await wait_for(lambda: _stored(repo, 1), timeout=120, what="the good article stored")
                letters = await read_topic(settings.bootstrap, f"{settings.topic_prefix}{DEAD_LETTERS.name}",
                                           at_least=3, timeout=60)
                await wait_for(lambda: _no_pending(ledger), timeout=30, what="the ledger to empty")
                # A few more polls: the feed is unchanged (304) and nothing is emitted again.
                await wait_for(lambda: _polled_times(server, outlet.feed_url, 3), timeout=30, what="3 polls")
            state = await registry.state(feed.id)
            items = await read_topic(settings.bootstrap, f"{settings.topic_prefix}{FEED_ITEMS.name}",
                                     at_least=4, timeout=10)

    stored = await _articles(settings)
    assert [a.title for a in stored] == ["Storm breaches Port Elwin breakwater"]
    article = stored[0]
    assert article.url == good and article.outlet == "Harbour Gazette" and article.language == "en"
    assert "Maren Tolvik" in article.text and "Related" not in article.text
    assert any(e.key == "person:maren tolvik" for e in article.entities)

    dead = {DeadLetter.model_validate_json(r.value).key: DeadLetter.model_validate_json(r.value) for r in letters}
    assert set(dead) == {garbage_url, missing_url, paywall_url}
    assert all(d.stage == "extractor" for d in dead.values())
    assert dead[missing_url].error_type == "UpstreamRejected"
    assert "404" in dead[missing_url].error
    assert dead[garbage_url].error_type == "ExtractionFailed"
    assert dead[paywall_url].error_type == "NotAnArticle" and "paywall stub" in dead[paywall_url].error
    assert _dead_letters("NotAnArticle") == paywalls_before + 1, "counted by stage and error type"
    assert FeedItem.model_validate_json(items[0].value).feed_id == feed.id
    assert len(items) == 4, "each item emitted once, however often the feed is polled"
    assert state.last_status in (200, 304) and state.last_error is None and state.items_total == 4


PAYWALL_PAGE = (
    '<html><head><title>Subscribers only</title><script type="application/ld+json">{"@type": "NewsArticle", '
    '"isAccessibleForFree": false, "datePublished": "2026-01-01T10:00:00Z"}</script></head><body><article>'
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS[:1])
    + "<p>Subscribe to continue reading this story and everything else we publish.</p></article></body></html>"
)


def _dead_letters(error_type: str) -> float:
    return REGISTRY.get_sample_value("wirewatch_dead_letters_total",
                                     {"stage": "extractor", "error": error_type}) or 0.0


async def _stored(repo: Repository, n: int) -> bool:
    return (await repo.stats())["articles"] >= n


async def _no_pending(ledger: Ledger) -> bool:
    return await ledger.pending_count() == 0


async def _polled_times(server: OutletServer, url: str, n: int) -> bool:
    await asyncio.sleep(0)
    return server.hit_count(url) >= n


async def _articles(settings: Settings) -> list:  # type: ignore[type-arg]
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        return await repo.articles(await repo.recent_articles(limit=100))
