"""One poll as data: conditional GETs, unchanged bodies, sitemap indexes, failure classes, parsing off the loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    WirewatchError,
)
from services.common.http import HttpResponse, UpstreamBusy
from services.fetcher import parse
from services.fetcher import poll as poll_module
from services.fetcher.parse import FeedParseError, ParsedFeed
from services.fetcher.politeness import RobotsDisallowed
from services.fetcher.poll import FAILURE_CLASSES, SITEMAP_CHILDREN, PollOutcome, failure_class, poll_feed
from services.fetcher.registry import Feed, FeedState

FEED = Feed(id="f1", url="https://news.example/feed.xml", name="News", added_at=datetime(2026, 11, 1, tzinfo=UTC))
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title><ttl>30</ttl>
<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" href="https://hub.example/"/>
<item><title>One</title><link>https://news.example/1</link><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>
<item><title>Two</title><link>https://news.example/2</link></item>
</channel></rss>"""


def urlset(*paths: str) -> bytes:
    urls = "".join(f"<url><loc>https://news.example{p}</loc></url>" for p in paths)
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


class FakeClient:
    """Answers GETs from a table (a response or an error per URL) and records what was asked."""

    def __init__(self, answers: Mapping[str, HttpResponse | WirewatchError]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, str]]] = []

    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        self.asked.append((url, dict(headers or {})))
        answer = self.answers[url]
        if isinstance(answer, WirewatchError):
            raise answer
        return answer


def ok(url: str, body: bytes, status: int = 200, headers: Mapping[str, str] | None = None, **named: str,
       ) -> HttpResponse:
    return HttpResponse(url=url, status=status, headers={**(headers or {}), **named}, body=body, content_type=None,
                        charset=None)


async def test_a_new_body_is_parsed_into_entries_validators_and_hints() -> None:
    headers = {"last-modified": "Tue, 24 Nov 2026 10:00:00 GMT", "cache-control": "max-age=600"}
    client = FakeClient({FEED.url: ok(FEED.url, RSS, etag='"v2"', headers=headers)})
    outcome = await poll_feed(client, FEED, FeedState(etag='"v1"', last_modified="Mon, 23 Nov 2026 10:00:00 GMT"))
    assert client.asked == [(FEED.url, {"If-None-Match": '"v1"', "If-Modified-Since": "Mon, 23 Nov 2026 10:00:00 GMT"})]
    assert outcome.ok and outcome.changed and outcome.status == 200
    assert [e.url for e in outcome.entries] == ["https://news.example/1", "https://news.example/2"]
    assert outcome.etag == '"v2"' and outcome.last_modified == "Tue, 24 Nov 2026 10:00:00 GMT"
    assert outcome.body_hash is not None and len(outcome.body_hash) == 32
    assert outcome.ttl_minutes == 30 and outcome.headers["cache-control"] == "max-age=600"
    assert outcome.hub == "https://hub.example/"


async def test_a_304_and_the_same_body_again_are_nothing_new(monkeypatch: pytest.MonkeyPatch) -> None:
    first = await poll_feed(FakeClient({FEED.url: ok(FEED.url, RSS)}), FEED, FeedState())
    parsed: list[str] = []
    real_parse = parse.parse_feed

    def counting(body: bytes, url: str) -> ParsedFeed:
        parsed.append(url)
        return real_parse(body, url)

    monkeypatch.setattr(poll_module, "parse_feed", counting)
    state = FeedState(body_hash=first.body_hash)
    same = await poll_feed(FakeClient({FEED.url: ok(FEED.url, RSS)}), FEED, state)
    not_modified = await poll_feed(FakeClient({FEED.url: ok(FEED.url, b"", status=304)}), FEED, state)
    assert parsed == []
    for outcome in (same, not_modified):
        assert outcome.ok and not outcome.changed and outcome.entries == () and outcome.body_hash is None
    assert (same.status, not_modified.status) == (200, 304)


async def test_a_sitemap_index_is_read_through_its_newest_children_and_a_failing_child_is_skipped() -> None:
    children = [f"https://news.example/sitemap-{n}.xml" for n in range(SITEMAP_CHILDREN + 1)]
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             + "".join(f"<sitemap><loc>{c}</loc><lastmod>2026-11-{24 - n:02d}</lastmod></sitemap>"
                       for n, c in enumerate(children)) + "</sitemapindex>").encode()
    client = FakeClient({FEED.url: ok(FEED.url, index), children[0]: ok(children[0], urlset("/a", "/b")),
                         children[1]: UpstreamRejected("gone", status=410)})
    outcome = await poll_feed(client, FEED, FeedState())
    assert outcome.ok and [e.url for e in outcome.entries] == ["https://news.example/a", "https://news.example/b"]
    assert [url for url, _ in client.asked] == [FEED.url, *children[:SITEMAP_CHILDREN]]  # not the archive


async def test_a_failure_is_an_outcome_with_its_class_status_and_retry_after() -> None:
    busy = await poll_feed(FakeClient({FEED.url: UpstreamBusy("HTTP 429", status=429, retry_after_s=120.0)}),
                           FEED, FeedState())
    assert not busy.ok and isinstance(busy.error, UpstreamBusy)
    assert (busy.status, busy.failure_class, busy.retry_after_s) == (429, "rate_limited", 120.0)
    wall = b"<html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"
    walled = await poll_feed(FakeClient({FEED.url: ok(FEED.url, wall)}), FEED, FeedState())
    assert isinstance(walled.error, FeedParseError) and walled.failure_class == "bot_wall"
    assert walled.status is None and not walled.changed  # a parse error carries no HTTP status


async def test_parsing_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10 MB feed takes seconds to parse: the loop's own thread must never do it (heartbeats, other polls)."""
    loop_thread = threading.current_thread()
    parsed_on: list[threading.Thread] = []
    real_parse = parse.parse_feed

    def recording(body: bytes, url: str) -> ParsedFeed:
        parsed_on.append(threading.current_thread())
        return real_parse(body, url)

    monkeypatch.setattr(poll_module, "parse_feed", recording)
    child = "https://news.example/sitemap-1.xml"
    index = (f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{child}</loc>'
             "</sitemap></sitemapindex>").encode()
    outcome = await poll_feed(FakeClient({FEED.url: ok(FEED.url, index), child: ok(child, urlset("/a"))}),
                              FEED, FeedState())
    assert len(outcome.entries) == 1
    assert len(parsed_on) == 2 and loop_thread not in parsed_on  # the index and its child


def test_an_outcome_without_error_is_ok() -> None:
    assert PollOutcome(status=304).ok
    assert not PollOutcome(status=None, error=UpstreamTimeout("slow"), failure_class="timeout").ok


@pytest.mark.parametrize(("error", "body", "kind"), [
    (UpstreamTimeout("slow"), None, "timeout"),
    (UpstreamUnavailable("cannot resolve nowhere.example: Name or service not known"), None, "dns"),
    (UpstreamUnavailable("x: [SSL: CERTIFICATE_VERIFY_FAILED]"), None, "tls"),
    (UpstreamUnavailable("connection refused"), None, "network"),
    (UpstreamBusy("x: HTTP 503", status=503), None, "http_5xx"),
    (UpstreamBusy("x: HTTP 429", status=429, retry_after_s=60), None, "rate_limited"),
    (UpstreamRejected("x: HTTP 404", status=404), None, "http_4xx"),
    (UpstreamRejected("x: redirect loop", status=302), None, "redirect"),
    (FeedParseError("not a feed"), b"<html><title>Just a moment...</title>cf-chl</html>", "bot_wall"),
    (FeedParseError("not a feed"), b"<html><p>hello</p></html>", "parse"),
    (RobotsDisallowed("no"), None, "robots"),
    (BlockedAddress("ssrf"), None, "blocked"),
    (ResponseTooLarge("big"), None, "too_large"),
    (InvalidUrl("bad"), None, "invalid_url"),
])
def test_failure_classes(error: Exception, body: bytes | None, kind: str) -> None:
    assert failure_class(error, body) == kind
    assert kind in FAILURE_CLASSES, "every class is one the feed health documents"
