"""Feed parsing: RSS and Atom, relative links, tracking parameters, hostile bodies."""

from __future__ import annotations

import time

import pytest

from services.fetcher.parse import FeedParseError, parse_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Outlet A</title><link>https://a.example/</link>
<item><title>First  story</title><link>/news/1?utm_source=rss&amp;id=7#top</link>
<pubDate>Wed, 23 Dec 2015 10:00:00 +0300</pubDate><author>x@a.example (Ann)</author></item>
<item><title>No link</title></item>
<item><title>Second</title><link>https://A.example:443/news/2</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Outlet B</title><id>urn:b</id><updated>2015-12-23T10:00:00Z</updated>
<entry><title>Atom story</title><id>urn:b:1</id><link rel="alternate" href="https://b.example/s/1"/>
<updated>2015-12-23T09:30:00-05:00</updated><summary>Short &lt;b&gt;summary&lt;/b&gt;</summary></entry>
</feed>"""


def test_rss_items_get_canonical_absolute_links_and_utc_dates() -> None:
    feed = parse_feed(RSS, "https://a.example/feed.xml")
    assert feed.title == "Outlet A"
    assert [e.url for e in feed.entries] == ["https://a.example/news/1?id=7", "https://a.example/news/2"]
    first = feed.entries[0]
    assert first.title == "First story"
    assert first.published is not None and first.published.isoformat() == "2015-12-23T07:00:00+00:00"


def test_atom_entries_are_read() -> None:
    feed = parse_feed(ATOM, "https://b.example/atom")
    assert [e.url for e in feed.entries] == ["https://b.example/s/1"]
    assert feed.entries[0].published is not None and feed.entries[0].published.hour == 14


@pytest.mark.parametrize("body", [
    b"<html><body><h1>Not a feed</h1></body></html>",
    b"\x00\x01\x02 binary garbage \xff",
    b"",
    b"/etc/hostname",  # given a str/bytes path, feedparser would open the local file
])
def test_bodies_that_are_not_feeds_are_a_clear_error(body: bytes) -> None:
    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(body, "https://a.example/feed")


def test_billion_laughs_is_refused_quickly() -> None:
    lol = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>
<rss version="2.0"><channel><title>&h;</title><item><title>&h;</title><link>https://a.example/1</link></item>
</channel></rss>"""
    started = time.monotonic()
    try:
        feed = parse_feed(lol, "https://a.example/feed")
        assert all(len(e.title or "") < 10_000 for e in feed.entries)
    except FeedParseError:
        pass
    assert time.monotonic() - started < 2


def test_malformed_xml_with_items_still_yields_them() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>unclosed")
    feed = parse_feed(broken, "https://a.example/feed.xml")
    assert "https://a.example/news/2" in [e.url for e in feed.entries]
