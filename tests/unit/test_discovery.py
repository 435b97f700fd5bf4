"""Feed auto-discovery: <link rel="alternate"> feeds found and resolved; a feed URL is its own answer."""

from __future__ import annotations

import pytest

from services.common.http import HttpResponse
from services.fetcher.discovery import discover_feeds, find_feed_links, looks_like_feed

PAGE = "https://news.example/section/index.html"


def test_relative_hrefs_resolve_against_the_page_url() -> None:
    html = """<!DOCTYPE html><html><head><title>News</title>
    <link rel="alternate" type="application/rss+xml" title="RSS" href="/rss.xml">
    <link rel="alternate" type="application/atom+xml" href="atom.xml">
    <link rel="alternate" type="application/feed+json" href="//cdn.news.example/feed.json">
    </head><body></body></html>"""

    assert find_feed_links(html, PAGE) == [
        "https://news.example/rss.xml",
        "https://news.example/section/atom.xml",
        "https://cdn.news.example/feed.json",
    ]


def test_base_href_wins_over_the_page_url() -> None:
    html = '<head><base href="https://static.news.example/feeds/"><link rel=alternate type=application/rss+xml ' \
           'href="main.xml"></head>'

    assert find_feed_links(html, PAGE) == ["https://static.news.example/feeds/main.xml"]


def test_rel_and_type_are_matched_as_tokens_case_insensitively() -> None:
    html = """<head>
    <LINK REL="Alternate home" TYPE="Application/RSS+XML; charset=utf-8" HREF="/a.xml">
    <link rel="alternate" type="text/html" href="/print.html">
    <link rel="stylesheet" type="application/rss+xml" href="/not-alternate.xml">
    <link rel="alternate" hreflang="fr" href="/fr/">
    <link rel="alternate" type="application/atom+xml" href="">
    <link rel="alternate" type="application/atom+xml" href="/a.xml">
    <link rel="alternate" type="application/atom+xml" href="javascript:alert(1)">
    <link rel="alternate" type="application/atom+xml" href="https://user:pw@evil.example/feed">
    </head>"""

    assert find_feed_links(html, PAGE) == ["https://news.example/a.xml"]


def test_links_after_the_head_are_not_feeds_of_the_page() -> None:
    html = """<html><head><title>x</title></head><body>
    <link rel="alternate" type="application/rss+xml" href="/comments.xml"></body></html>"""

    assert find_feed_links(html, PAGE) == []


def test_no_feed_links_and_broken_html() -> None:
    assert find_feed_links("<html><head><title>Plain</title></head><body>hi</body></html>", PAGE) == []
    assert find_feed_links("", PAGE) == []
    assert find_feed_links("<head><link rel='alternate' type='application/rss+xml' href='/x.xml'", PAGE) == []
    assert find_feed_links("<<<>>> <link rel=alternate type=application/rss+xml href=/y.xml>", PAGE) == [
        "https://news.example/y.xml"]


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b"<html></html>", "application/rss+xml; charset=utf-8", True),
    (b'<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl"?>\n<rss version="2.0">', "text/xml", True),
    (b'\xef\xbb\xbf<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">', "application/xml", True),
    (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">', None, True),
    (b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1.1", "items": []}', "application/json", True),
    (b'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml">', "text/html", False),
    (b'{"hello": "world"}', "application/json", False),
    (b"", None, False),
])
def test_looks_like_feed(body: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_feed(body, content_type) is expected


class FakeHttp:
    """Answers every GET with one canned response (discover_feeds only calls `get`)."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response
        self.requested: list[str] = []

    async def get(self, url: str, *, max_bytes: int) -> HttpResponse:
        self.requested.append(url)
        return self.response


def _response(url: str, body: bytes, content_type: str) -> HttpResponse:
    return HttpResponse(url=url, status=200, headers={}, body=body, content_type=content_type, charset="utf-8")


async def test_discover_feeds_resolves_against_the_final_url() -> None:
    page = b'<html><head><link rel="alternate" type="application/rss+xml" href="feed.xml"></head></html>'
    http = FakeHttp(_response("https://www.news.example/home/", page, "text/html; charset=utf-8"))

    found = await discover_feeds(http, "http://news.example/", max_bytes=1000)  # type: ignore[arg-type]

    assert found == ["https://www.news.example/home/feed.xml"]
    assert http.requested == ["http://news.example/"]


async def test_a_feed_url_discovers_itself() -> None:
    http = FakeHttp(_response("https://news.example/rss", b'<rss version="2.0"><channel/></rss>', "text/xml"))

    assert await discover_feeds(http, "https://news.example/rss", max_bytes=1000) == [  # type: ignore[arg-type]
        "https://news.example/rss"]


async def test_a_page_without_feeds_discovers_nothing() -> None:
    http = FakeHttp(_response("https://news.example/", b"<html><head></head><body>no feeds</body></html>",
                              "text/html"))

    assert await discover_feeds(http, "https://news.example/", max_bytes=1000) == []  # type: ignore[arg-type]
