"""Fetcher scheduling and politeness against a local outlet server, a real broker and a real Redis:
adaptive intervals, server hints, failure classes, auto-disable, robots.txt, per-host delay."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from services.common.bus import Bus
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.redis import open_redis
from services.common.settings import Settings
from services.fetcher import parse as fetcher_parse
from services.fetcher import poll as fetcher_poll
from services.fetcher.politeness import HostGate
from services.fetcher.registry import FeedRegistry
from services.fetcher.service import Fetcher
from tests.support.outlets import OutletServer
from tests.support.running import wait_for

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

TEXT = "The harbour authority said the breakwater was breached overnight. " * 8


@asynccontextmanager
async def fetcher_for(settings: Settings, *, min_delay_s: float = 0.0) -> AsyncIterator[tuple[Fetcher, FeedRegistry]]:
    """A Fetcher wired to the test's Redis and broker, polled by hand."""
    async with open_redis(settings) as redis, SafeHttpClient.from_settings(settings) as http, \
            Bus(settings, client_id="test-fetcher") as bus:
        keys = Keys(settings.key_prefix)
        registry = FeedRegistry(redis, keys)
        gate = HostGate(redis, keys, concurrency=2, min_delay_s=min_delay_s)
        yield Fetcher(settings, registry=registry, ledger=Ledger(redis, keys, seen_ttl_s=3600), http=http, bus=bus,
                      gate=gate), registry


def wide(settings: Settings) -> Settings:
    """Settings whose bounds let the adaptive interval show (tests' own settings keep it at seconds)."""
    return settings.model_copy(update={"poll_interval_s": 60.0, "poll_min_interval_s": 60.0,
                                       "poll_max_interval_s": 3600.0})


async def test_the_interval_follows_the_publishing_rate_and_cache_headers(settings: Settings) -> None:
    now = datetime.now(UTC)
    with OutletServer() as server:
        busy = server.add_outlet("busy", "Busy Wire", "rss")
        for n in range(30):  # an item every two minutes: ~720 a day
            busy.add_article(f"b{n}", f"Busy story {n}", TEXT, now - timedelta(minutes=2 * n))
        sleepy = server.add_outlet("sleepy", "Sleepy Weekly", "atom")
        for n in range(5):  # an item a week
            sleepy.add_article(f"s{n}", f"Sleepy story {n}", TEXT, now - timedelta(days=7 * n + 1))
        cached = server.add_outlet("cached", "Cached Daily", "rss")
        cached.add_article("c0", "Cached story", TEXT, now - timedelta(minutes=5))
        cached.add_article("c1", "Cached story two", TEXT, now - timedelta(minutes=1))
        body = server.add_raw("/cached/cached.xml", cached.render_feed(), "application/rss+xml",
                              headers={"Cache-Control": "public, max-age=1800"})
        async with fetcher_for(wide(settings)) as (fetcher, registry):
            feeds = [await registry.add(o.feed_url, o.name) for o in (busy, sleepy)]
            feeds.append(await registry.add(body, "Cached Daily"))
            for feed in feeds:
                assert await fetcher.poll(feed) > 0
            states = [await registry.state(f.id) for f in feeds]
    busy_state, sleepy_state, cached_state = states
    assert busy_state.items_per_day is not None and busy_state.items_per_day > 500
    assert busy_state.interval_s == 60.0  # the floor
    assert sleepy_state.interval_s == 3600.0  # nothing this week: the ceiling
    assert cached_state.interval_s is not None and cached_state.interval_s < 1800
    assert cached_state.next_poll is not None and cached_state.next_poll - time.time() > 1790  # max-age honoured


async def test_failures_are_classified_backed_off_and_retry_after_is_honoured(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("flaky", "Flaky", "rss")
        gone = server.add_raw("/flaky/gone.xml", b"gone", "text/plain", status=404)
        busy = server.add_raw("/flaky/busy.xml", b"busy", "text/plain", status=503, headers={"Retry-After": "900"})
        wall = server.add_raw("/flaky/wall.xml", b"<html><head><title>Just a moment...</title></head><body>"
                              b"<script src='/cdn-cgi/challenge-platform/h/b/orchestrate'></script></body></html>",
                              "text/html")
        broken = server.add_raw("/flaky/broken.xml", b"<html><body><p>hello</p></body></html>", "text/html")
        async with fetcher_for(wide(settings)) as (fetcher, registry):
            feeds = {name: await registry.add(url, name) for name, url in
                     (("gone", gone), ("busy", busy), ("wall", wall), ("broken", broken))}
            for feed in feeds.values():
                assert await fetcher.poll(feed) == 0
            states = {name: await registry.state(f.id) for name, f in feeds.items()}
        assert outlet.feed_url  # the outlet itself is untouched
    assert {n: s.failure_class for n, s in states.items()} == {
        "gone": "http_4xx", "busy": "http_5xx", "wall": "bot_wall", "broken": "parse"}
    assert all(s.consecutive_errors == 1 and s.failing_since and not s.disabled for s in states.values())
    assert states["busy"].next_poll is not None and states["busy"].next_poll - time.time() >= 890
    assert states["gone"].last_status == 404 and "404" in (states["gone"].last_error or "")


async def test_a_feed_failing_for_days_is_disabled_then_revived(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("dead", "Dead Feed", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC) - timedelta(hours=1))
        server.set_status(outlet.feed_url, 500)
        async with fetcher_for(wide(settings)) as (fetcher, registry):
            feed = await registry.add(outlet.feed_url, "Dead Feed")
            await fetcher.poll(feed)
            state = await registry.state(feed.id)
            # As if it had been failing for four days.
            await registry.record_poll(feed.id, state.model_copy(update={"failing_since": time.time() - 4 * 86400}),
                                       time.time())
            await fetcher.poll(feed)
            disabled = await registry.state(feed.id)
            server.set_status(outlet.feed_url, None)
            await fetcher.poll(feed)
            revived = await registry.state(feed.id)
    assert disabled.disabled and disabled.failure_class == "http_5xx"
    assert disabled.next_poll is not None and disabled.next_poll - time.time() > 0.8 * 86400  # slow retries only
    assert not revived.disabled and revived.failing_since is None and revived.consecutive_errors == 0
    assert revived.items_total == 1


async def test_robots_txt_is_honoured(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("private", "Private", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        server.add_raw("/robots.txt", b"User-agent: wirewatch\nDisallow: /private/\n", "text/plain")
        async with fetcher_for(settings) as (fetcher, registry):
            feed = await registry.add(outlet.feed_url, "Private")
            assert await fetcher.poll(feed) == 0
            state = await registry.state(feed.id)
            no_robots = settings.model_copy(update={"respect_robots": False})
        async with fetcher_for(no_robots) as (unrestricted, _):
            assert await unrestricted.poll(feed) == 1
        assert server.hit_count("/robots.txt") == 1
    assert state.failure_class == "robots" and "robots.txt" in (state.last_error or "")


async def test_an_unchanged_body_is_not_parsed_again(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_parse = fetcher_parse.parse_feed

    def counting(body: bytes, url: str) -> object:
        calls.append(url)
        return real_parse(body, url)

    monkeypatch.setattr(fetcher_poll, "parse_feed", counting)
    with OutletServer() as server:
        outlet = server.add_outlet("static", "Static", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        # No ETag, no Last-Modified: the server can only answer 200 with the same bytes.
        url = server.add_raw("/static/plain.xml", outlet.render_feed(), "application/rss+xml")
        async with fetcher_for(settings) as (fetcher, registry):
            feed = await registry.add(url, "Static")
            for _ in range(3):
                await fetcher.poll(feed)
            state = await registry.state(feed.id)
    assert len(calls) == 1
    assert state.polls_total == 3 and state.items_total == 1 and state.last_status == 200


async def test_the_minimum_delay_per_host_holds_across_fetchers(settings: Settings) -> None:
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        gates = [HostGate(redis, keys, concurrency=4, min_delay_s=0.2) for _ in range(2)]  # two fetchers
        started: list[float] = []

        async def request(gate: HostGate, url: str) -> None:
            async with gate.turn(url):
                started.append(time.monotonic())

        await asyncio.gather(*(request(gates[i % 2], "http://news.example/feed.xml") for i in range(5)),
                             request(gates[0], "http://other.example/feed.xml"))
    starts = sorted(started)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 6
    # five requests to one host need at least four gaps of 0.2 s; the other host does not wait
    assert starts[-1] - starts[0] >= 0.75
    assert min(gaps) < 0.15


async def test_a_sitemap_index_is_read_through_its_newest_children(settings: Settings) -> None:
    now = datetime.now(UTC)
    with OutletServer() as server:
        base = server.base_url

        def urlset(*slugs: str) -> bytes:
            urls = "".join(f"<url><loc>{base}/news/{s}.html</loc><lastmod>{now.isoformat()}</lastmod></url>"
                           for s in slugs)
            return (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}'
                    "</urlset>").encode()

        server.add_raw("/sitemaps/today.xml", urlset("a", "b"), "application/xml")
        server.add_raw("/sitemaps/yesterday.xml", urlset("c"), "application/xml")
        server.add_raw("/sitemaps/archive.xml", urlset("old1", "old2", "old3"), "application/xml")
        children = [("today", now), ("archive", now - timedelta(days=400)), ("yesterday", now - timedelta(days=1))]
        index = ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                 + "".join(f"<sitemap><loc>{base}/sitemaps/{name}.xml</loc><lastmod>{when.isoformat()}</lastmod>"
                           "</sitemap>" for name, when in children) + "</sitemapindex>")
        url = server.add_raw("/sitemap-index.xml", index.encode(), "application/xml")
        async with fetcher_for(settings) as (fetcher, registry):
            feed = await registry.add(url, "Sitemap outlet")
            assert await fetcher.poll(feed) == 3  # a, b from today, c from yesterday; not the archive
        assert server.hit_count("/sitemaps/archive.xml") == 0


async def test_an_rss_ttl_is_honoured(settings: Settings) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("ttl", "TTL", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        # The outlet server writes a <ttl> of its own: this feed asks for 45 minutes instead.
        own = re.sub(rb"\s*<ttl>\d+</ttl>", b"", outlet.render_feed())
        rss = own.replace(b"<channel>", b"<channel><ttl>45</ttl>", 1)
        url = server.add_raw("/ttl/ttl.xml", rss, "application/rss+xml")
        async with fetcher_for(wide(settings)) as (fetcher, registry):
            feed = await registry.add(url, "TTL")
            await fetcher.poll(feed)
            state = await registry.state(feed.id)
    assert state.next_poll is not None and state.next_poll - time.time() >= 45 * 60 - 5


async def test_feed_health_shows_the_failure_class_rate_and_interval(settings: Settings) -> None:
    from services.api.schemas import feed_public

    with OutletServer() as server:
        outlet = server.add_outlet("health", "Health", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC) - timedelta(hours=2))
        gone = server.add_raw("/health/gone.xml", b"gone", "text/plain", status=410)
        async with fetcher_for(wide(settings)) as (fetcher, registry):
            good, bad = await registry.add(outlet.feed_url, "Health"), await registry.add(gone, "Gone")
            await fetcher.poll(good)
            await fetcher.poll(bad)
            good_health = feed_public(good, await registry.state(good.id)).health
            bad_health = feed_public(bad, await registry.state(bad.id)).health
    assert good_health.failure_class is None and good_health.polls_total == 1 and good_health.items_total == 1
    assert good_health.items_per_day > 0 and good_health.poll_interval_s is not None
    assert bad_health.failure_class == "http_4xx" and bad_health.failing_since is not None
    assert bad_health.last_status == 410 and not bad_health.disabled


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
                     for i in range(1, 10))
          + b']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>')


async def test_hostile_and_broken_feeds_each_fail_alone_with_a_clear_class(settings: Settings) -> None:
    """Every hostile or broken feed of the catalogue gets its own failure class; the good feed beside them
    is polled as if nothing happened."""
    settings = settings.model_copy(update={"http_timeout_s": 2.0, "max_feed_bytes": 2_000_000})
    with OutletServer() as server:
        good = server.add_outlet("good", "Good", "rss")
        good.add_article("a", "A story", TEXT, datetime.now(UTC))
        mirror = server.add_outlet("mirror", "Mirror", "rss")  # its feed is served below under odd routes
        mirror.add_article("m", "A story", TEXT, datetime.now(UTC))
        feed_bytes = mirror.render_feed()
        base = "/bad"
        routes: dict[str, tuple[bytes, str, int, dict[str, str]]] = {
            "malformed": (b"<rss><channel><title>x</title><item><title>y</ti", "application/rss+xml", 200, {}),
            "html": (b"<!DOCTYPE html><html><body><p>Welcome to our site</p></body></html>", "text/html", 200, {}),
            "laughs": (LAUGHS, "application/rss+xml", 200, {}),
            "bomb": (gzip.compress(b"\0" * 60_000_000), "application/rss+xml", 200, {"Content-Encoding": "gzip"}),
            "loop": (b"", "text/plain", 302, {"Location": f"{server.base_url}{base}/loop.xml"}),
            "metadata": (b"", "text/plain", 302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
            "gone": (b"gone", "text/plain", 410, {}),
            "missing": (b"missing", "text/plain", 404, {}),
            "throttled": (b"slow down", "text/plain", 429, {"Retry-After": "120"}),
            "broken": (b"oops", "text/plain", 500, {}),
            "slow": (feed_bytes, "application/rss+xml", 200, {}),
            # Survivable: a feed served with the wrong type, and one with invalid bytes in it.
            "wrong_type": (feed_bytes, "image/png", 200, {}),
            "bad_bytes": (feed_bytes.replace(b"A story", b"A st\xff\xfeory"), "application/rss+xml", 200, {}),
        }
        urls = {name: server.add_raw(f"{base}/{name}.xml", body, ctype, status=status, headers=headers)
                for name, (body, ctype, status, headers) in routes.items()}
        server.set_delay(urls["slow"], 5.0)
        async with fetcher_for(settings) as (fetcher, registry):
            feeds = {name: await registry.add(url, name) for name, url in urls.items()}
            good_feed = await registry.add(good.feed_url, "Good")
            started = time.monotonic()
            await asyncio.gather(*(fetcher.poll(f) for f in feeds.values()))
            assert time.monotonic() - started < 10  # the slow one ended at the deadline, the bomb early
            assert await fetcher.poll(good_feed) == 1
            states = {name: await registry.state(f.id) for name, f in feeds.items()}
    classes = {name: s.failure_class for name, s in states.items()}
    assert classes == {
        "malformed": "parse", "html": "parse", "laughs": "parse", "bomb": "too_large", "loop": "redirect",
        "metadata": "blocked", "gone": "http_4xx", "missing": "http_4xx", "throttled": "rate_limited",
        "broken": "http_5xx", "slow": "timeout", "wrong_type": None, "bad_bytes": None,
    }
    for name, state in states.items():
        if classes[name] is not None:
            assert state.last_error and state.consecutive_errors == 1, name
    assert states["throttled"].next_poll is not None and states["throttled"].next_poll - time.time() >= 110


@pytest.mark.parametrize("feed_format", ["rss", "atom", "jsonfeed", "sitemap", "newssitemap"])
async def test_every_feed_format_is_polled_and_emitted_once(settings: Settings, feed_format: str) -> None:
    now = datetime.now(UTC)
    with OutletServer() as server:
        outlet = server.add_outlet("fmt", f"Outlet {feed_format}", feed_format)  # type: ignore[arg-type]
        for n in range(3):
            outlet.add_article(f"s{n}", f"Story {n}", TEXT, now - timedelta(hours=n + 1))
        async with fetcher_for(settings) as (fetcher, registry):
            feed = await registry.add(outlet.feed_url, outlet.name)
            assert await fetcher.poll(feed) == 3
            outlet.add_article("s3", "Story 3", TEXT, now)
            assert await fetcher.poll(feed) == 1  # only the new one
            assert await fetcher.poll(feed) == 0
            state = await registry.state(feed.id)
    assert state.failure_class is None and state.items_total == 4 and state.items_per_day is not None


async def test_a_cancelled_schedule_leaves_no_poll_running(settings: Settings) -> None:
    """When another task of the fetcher fails, its task group cancels the schedule: the polls under way end
    with it, before main's exit stack closes the clients they use."""
    with OutletServer() as server:
        outlet = server.add_outlet("slow", "Slow", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        server.set_delay(outlet.feed_url, 5.0)
        async with fetcher_for(settings) as (fetcher, registry):
            await registry.add(outlet.feed_url, "Slow")
            schedule = asyncio.create_task(fetcher.run_schedule(asyncio.Event()))

            async def polling() -> bool:
                return server.hit_count(outlet.feed_url) == 1

            await wait_for(polling, timeout=5, what="the poll under way", every=0.02)
            schedule.cancel()
            with pytest.raises(asyncio.CancelledError):
                await schedule
            polls = [t for t in asyncio.all_tasks()
                     if getattr(t.get_coro(), "__qualname__", "") == "Fetcher._poll_guarded"]
    assert polls == []
