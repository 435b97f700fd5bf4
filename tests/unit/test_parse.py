"""Feed parsing: every format outlets publish, relative links, time zones, caps and hostile bodies."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pytest
from lxml import etree

import services.fetcher.parse as parse_module
from services.fetcher.parse import MAX_ENTRIES, FeedParseError, ParsedFeed, parse_feed


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# RSS and Atom
# ---------------------------------------------------------------------------------------------

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

RSS_091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old Outlet</title><link>http://old.example/</link>
<description>News since 1999</description><language>en-us</language>
<item><title>Caf\xe9 opens</title><link>http://old.example/cafe.html</link>
<description>A new caf\xe9 &amp; bar.</description></item>
<item><title>Relative</title><link>story/2.html</link></item>
</channel></rss>"""

RSS_10 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example/"><title>RDF Outlet</title><link>https://rdf.example/</link>
<description>d</description><items><rdf:Seq><rdf:li rdf:resource="https://rdf.example/a"/></rdf:Seq></items></channel>
<item rdf:about="https://rdf.example/a"><title>RDF story</title><link>https://rdf.example/a</link>
<description>RDF summary</description><dc:creator>Dora Creator</dc:creator>
<dc:date>2015-12-23T10:00:00+02:00</dc:date></item>
</rdf:RDF>"""

ATOM_03 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xml:base="https://old-atom.example/blog/">
<title>Atom 0.3 Outlet</title><link rel="alternate" type="text/html" href="https://old-atom.example/"/>
<modified>2015-12-23T10:00:00Z</modified>
<entry><title>Old Atom story</title><link rel="alternate" type="text/html" href="2015/12/story"/>
<id>tag:old-atom.example,2015:1</id><issued>2015-12-23T10:00:00+01:00</issued>
<modified>2015-12-23T12:00:00+01:00</modified><author><name>Olga Author</name></author>
<summary>Atom 0.3 summary</summary></entry>
</feed>"""

ATOM_XML_BASE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://cdn.example/news/"><title>Based</title><id>urn:x</id>
<updated>2015-12-23T10:00:00Z</updated>
<entry><title>Relative</title><id>urn:x:1</id><link href="world/story.html"/>
<updated>2015-12-23T10:00:00Z</updated></entry>
<entry xml:base="/other/"><title>Rebased</title><id>urn:x:2</id><link href="s2"/>
<updated>2015-12-23T10:00:00Z</updated></entry>
</feed>"""

RSS_MEDIA = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Pods</title><link>https://p.example/</link>
<item><title>With media</title><link>https://p.example/story</link>
<enclosure url="https://cdn.p.example/audio.mp3" length="123" type="audio/mpeg"/>
<media:content url="https://cdn.p.example/photo.jpg" medium="image" width="1200"/>
<media:thumbnail url="https://cdn.p.example/thumb.jpg"/>
<pubDate>Wed, 23 Dec 2015 10:00:00 EST</pubDate></item>
<item><title>Only audio</title><enclosure url="https://cdn.p.example/only.mp3" length="1" type="audio/mpeg"/></item>
</channel></rss>"""


def test_rss_items_get_canonical_absolute_links_and_utc_dates() -> None:
    feed = parse_feed(RSS, "https://a.example/feed.xml")
    assert feed.title == "Outlet A"
    assert feed.sitemaps == []
    assert [e.url for e in feed.entries] == ["https://a.example/news/1?id=7", "https://a.example/news/2"]
    first = feed.entries[0]
    assert first.title == "First story"
    assert first.published is not None and first.published.isoformat() == "2015-12-23T07:00:00+00:00"


def test_atom_entries_are_read() -> None:
    feed = parse_feed(ATOM, "https://b.example/atom")
    assert [e.url for e in feed.entries] == ["https://b.example/s/1"]
    assert feed.entries[0].published == utc(2015, 12, 23, 14, 30)


def test_rss_091_with_netscape_doctype() -> None:
    feed = parse_feed(RSS_091, "http://old.example/rss.xml")
    assert feed.title == "Old Outlet"
    assert [e.url for e in feed.entries] == ["http://old.example/cafe.html", "http://old.example/story/2.html"]
    first = feed.entries[0]
    assert (first.title, first.summary, first.published) == ("Café opens", "A new café & bar.", None)


def test_rss_10_rdf() -> None:
    feed = parse_feed(RSS_10, "https://rdf.example/index.rdf")
    assert feed.title == "RDF Outlet"
    (entry,) = feed.entries
    assert (entry.url, entry.title, entry.summary, entry.author) == (
        "https://rdf.example/a",
        "RDF story",
        "RDF summary",
        "Dora Creator",
    )
    assert entry.published == utc(2015, 12, 23, 8)


def test_atom_03() -> None:
    feed = parse_feed(ATOM_03, "https://old-atom.example/atom.xml")
    assert feed.title == "Atom 0.3 Outlet"
    (entry,) = feed.entries
    assert entry.url == "https://old-atom.example/blog/2015/12/story"
    assert (entry.title, entry.summary, entry.author) == ("Old Atom story", "Atom 0.3 summary", "Olga Author")
    # <issued> is the publication date; <modified> only a fallback.
    assert entry.published == utc(2015, 12, 23, 9)


def test_atom_relative_links_follow_xml_base() -> None:
    feed = parse_feed(ATOM_XML_BASE, "https://based.example/atom.xml")
    assert [e.url for e in feed.entries] == [
        "https://cdn.example/news/world/story.html",
        "https://cdn.example/other/s2",
    ]


def test_enclosures_and_media_are_ignored() -> None:
    feed = parse_feed(RSS_MEDIA, "https://p.example/rss")
    # The item's link is the article; an item with only an enclosure has no article to read.
    assert [e.url for e in feed.entries] == ["https://p.example/story"]
    assert feed.entries[0].published == utc(2015, 12, 23, 15)


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Wed, 23 Dec 2015 10:00:00 GMT", utc(2015, 12, 23, 10)),
        ("Wed, 23 Dec 2015 10:00:00 +0530", utc(2015, 12, 23, 4, 30)),
        ("Wed, 23 Dec 2015 01:00:00 PST", utc(2015, 12, 23, 9)),
        ("2015-12-23T10:00:00-03:00", utc(2015, 12, 23, 13)),
        ("not a date", None),
    ],
)
def test_rss_dates_with_time_zones_become_utc(pub_date: str, expected: datetime | None) -> None:
    body = RSS.replace(b"Wed, 23 Dec 2015 10:00:00 +0300", pub_date.encode())
    published = parse_feed(body, "https://a.example/feed.xml").entries[0].published
    assert published == expected
    assert published is None or published.tzinfo == UTC


PHP_WARNING = b"Warning: Cannot modify header information - headers already sent in /var/www/feed.php on line 3\n"


def test_feed_after_junk_is_still_read() -> None:
    feed = parse_feed(PHP_WARNING + RSS, "https://a.example/feed.xml")
    assert [e.url for e in feed.entries] == ["https://a.example/news/1?id=7", "https://a.example/news/2"]


def test_malformed_xml_with_items_still_yields_them() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>unclosed")
    feed = parse_feed(broken, "https://a.example/feed.xml")
    assert "https://a.example/news/2" in [e.url for e in feed.entries]


# ---------------------------------------------------------------------------------------------
# JSON Feed
# ---------------------------------------------------------------------------------------------


def json_feed(items: list[object], **top: object) -> bytes:
    doc: dict[str, object] = {"version": "https://jsonfeed.org/version/1.1", "title": "JSON Outlet", **top}
    doc["items"] = items
    return json.dumps(doc).encode()


JSON_FEED_10 = b"""{
  "version": "https://jsonfeed.org/version/1",
  "title": "Old JSON Outlet",
  "home_page_url": "https://j10.example/blog/",
  "feed_url": "https://j10.example/feed.json",
  "author": {"name": "Feed Author"},
  "items": [
    {"id": "1", "url": "2015/12/first?utm_campaign=x", "title": "First",
     "content_text": "Full  text\\nof the first.", "date_published": "2015-12-23T10:00:00+02:00",
     "author": {"name": "Item Author", "url": "https://j10.example/about"}},
    {"id": "2", "url": "https://j10.example/second", "content_html": "<p>html only</p>",
     "date_published": "2015-12-23T10:00:00Z"}
  ]
}"""


def test_json_feed_10() -> None:
    feed = parse_feed(JSON_FEED_10, "https://j10.example/feed.json")
    assert feed.title == "Old JSON Outlet"
    first, second = feed.entries
    # Relative to home_page_url, tracking parameters removed.
    assert first.url == "https://j10.example/blog/2015/12/first"
    assert (first.title, first.summary, first.author) == ("First", "Full text of the first.", "Item Author")
    assert first.published == utc(2015, 12, 23, 8)
    # The feed's author is the item's when the item names none.
    assert (second.url, second.title, second.summary, second.author) == (
        "https://j10.example/second",
        None,
        None,
        "Feed Author",
    )
    assert second.published == utc(2015, 12, 23, 10)


def test_json_feed_11() -> None:
    body = json_feed(
        [
            {
                "id": "a",
                "url": "https://j11.example/a",
                "title": "Two authors",
                "summary": "The summary wins",
                "content_text": "over the text",
                "authors": [{"name": "Ann One"}, {"url": "https://x.example/no-name"}, {"name": "Bob Two"}],
                "date_published": "2015-12-23T10:00:00.123456-05:00",
            },
            {"id": "b", "external_url": "https://elsewhere.example/linked", "date_modified": "2015-12-24T01:02:03Z"},
            {"id": "https://j11.example/from-id", "title": "Permalink only in the id"},
            {"id": "no-link", "title": "Dropped: no URL anywhere"},
            {"id": "bad", "url": "javascript:alert(1)"},
            "not an object",
            {"id": "c", "url": "https://j11.example/c", "date_published": "23 Dec 2015 10:00:00 +0100"},
        ],
        authors=[{"name": "Desk"}],
    )
    feed = parse_feed(body, "https://j11.example/feed.json")
    assert feed.title == "JSON Outlet"
    assert [e.url for e in feed.entries] == [
        "https://j11.example/a",
        "https://elsewhere.example/linked",
        "https://j11.example/from-id",
        "https://j11.example/c",
    ]
    a, b, from_id, c = feed.entries
    assert (a.title, a.summary, a.author) == ("Two authors", "The summary wins", "Ann One, Bob Two")
    assert a.published == datetime(2015, 12, 23, 15, 0, 0, 123456, tzinfo=UTC)
    assert (b.author, b.published) == ("Desk", utc(2015, 12, 24, 1, 2, 3))
    assert from_id.title == "Permalink only in the id"
    assert c.published == utc(2015, 12, 23, 9)


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"home_page_url": "https://home.example/site/", "feed_url": "https://feeds.example/f/feed.json"},
         "https://home.example/site/posts/1"),
        ({"feed_url": "https://feeds.example/f/feed.json"}, "https://feeds.example/f/posts/1"),
        ({"home_page_url": "javascript:void(0)"}, "https://fetched.example/x/posts/1"),
        ({}, "https://fetched.example/x/posts/1"),
    ],
)
def test_json_feed_relative_urls_resolve_against_home_page_then_feed_url_then_fetched_url(
    top: dict[str, object], expected: str
) -> None:
    body = json_feed([{"id": "1", "url": "posts/1"}], **top)
    assert [e.url for e in parse_feed(body, "https://fetched.example/x/feed.json").entries] == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-12-23T10:00:00Z", utc(2015, 12, 23, 10)),
        ("2015-12-23T10:00:00+09:00", utc(2015, 12, 23, 1)),
        ("2015-12-23T10:00:00", utc(2015, 12, 23, 10)),  # no offset: UTC
        ("2015-12-23", utc(2015, 12, 23)),
        ("Wed, 23 Dec 2015 10:00:00 -0800", utc(2015, 12, 23, 18)),
        ("yesterday", None),
        ("", None),
        (1450864800, None),
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
    ],
)
def test_json_feed_dates(value: object, expected: datetime | None) -> None:
    body = json_feed([{"id": "1", "url": "https://j.example/1", "date_published": value}])
    assert parse_feed(body, "https://j.example/feed.json").entries[0].published == expected


def test_json_feed_with_bom_and_leading_whitespace() -> None:
    body = b"\xef\xbb\xbf \n" + json_feed([{"id": "1", "url": "https://j.example/1"}])
    assert [e.url for e in parse_feed(body, "https://j.example/feed.json").entries] == ["https://j.example/1"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "malformed JSON"),
        (b"{'single': 'quotes'}", "malformed JSON"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "\xff\xfe"}', "malformed JSON"),
        (b"[" * 5000 + b"]" * 5000, "malformed JSON"),  # nesting beyond orjson's 1024 levels
        (b'{"data": [1, 2, 3]}', "not a JSON Feed"),
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b'{"version": "1.1", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "no items"}', "without an 'items' list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {"a": 1}}', "without an 'items' list"),
    ],
)
def test_json_that_is_not_a_json_feed_is_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, "https://j.example/feed.json")


def test_json_container_bomb_is_refused_before_decoding() -> None:
    bomb = b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b"{}," * 1_000_000 + b"{}]}"
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="objects and arrays"):
        parse_feed(bomb, "https://j.example/feed.json")
    assert time.monotonic() - started < 1


def test_json_feed_empty_items_is_an_empty_feed() -> None:
    assert parse_feed(json_feed([]), "https://j.example/feed.json") == ParsedFeed(title="JSON Outlet", entries=[])


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>New Outlet</title><link>https://n.example/</link>'
    b"</channel></rss>",
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>New Outlet</title></feed>',
])
def test_an_rss_or_atom_feed_without_items_yet_is_an_empty_feed(body: bytes) -> None:
    # A new outlet's feed: registering it must not fail as "not a feed" (issue 18).
    parsed = parse_feed(body, "https://n.example/feed.xml")
    assert (parsed.title, parsed.entries) == ("New Outlet", [])


# ---------------------------------------------------------------------------------------------
# Sitemaps
# ---------------------------------------------------------------------------------------------

SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc>https://s.example/news/one.html?utm_source=sitemap</loc><lastmod>2015-12-23T10:00:00+01:00</lastmod>
    <changefreq>daily</changefreq><priority>0.8</priority>
    <image:image><image:loc>https://cdn.s.example/one.jpg</image:loc></image:image></url>
  <!-- a comment between entries -->
  <url><loc>
      /news/two.html
  </loc><lastmod>2015-12-22</lastmod></url>
  <url><lastmod>2015-12-22</lastmod></url>
  <url><loc>ftp://s.example/not-http</loc></url>
  <url><loc>https://s.example/news/three.html</loc><lastmod>2015-12-21T08:30+05:30</lastmod></url>
  <url><loc>https://s.example/news/four.html</loc></url>
</urlset>"""

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://n.example/2015/12/23/putin-soleimani.html</loc>
    <lastmod>2015-12-24T00:00:00Z</lastmod>
    <news:news>
      <news:publication><news:name>The Northern Times</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2015-12-23T10:00:00-05:00</news:publication_date>
      <news:title><![CDATA[Putin & Soleimani   meet]]></news:title>
      <news:keywords>Russia, Iran</news:keywords>
    </news:news>
  </url>
  <url>
    <loc>https://n.example/2015/12/22/other.html</loc>
    <news:news>
      <news:publication><news:name>The Northern Times</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2015-12-22</news:publication_date>
      <news:title>Other story</news:title>
    </news:news>
  </url>
</urlset>"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://i.example/sitemaps/2015-11.xml</loc><lastmod>2015-11-30T23:00:00Z</lastmod></sitemap>
  <sitemap><loc>https://i.example/sitemaps/pages.xml</loc></sitemap>
  <sitemap><loc>/sitemaps/2015-12.xml?page=1&amp;utm_source=x</loc><lastmod>2015-12-23T10:00:00+01:00</lastmod></sitemap>
  <sitemap><loc>https://i.example/sitemaps/2015-11.xml</loc></sitemap>
  <sitemap><loc>https://i.example/sitemaps/news.xml</loc><lastmod>2015-12-23T10:00:00Z</lastmod></sitemap>
  <sitemap><loc>javascript:alert(1)</loc></sitemap>
  <sitemap><lastmod>2015-12-23T10:00:00Z</lastmod></sitemap>
</sitemapindex>"""


def test_sitemap_urls_and_lastmod() -> None:
    feed = parse_feed(SITEMAP, "https://s.example/sitemap.xml")
    assert feed.title is None and feed.sitemaps == []
    # The image's <image:loc> is no entry; an entry without a usable <loc> is dropped.
    assert [e.url for e in feed.entries] == [
        "https://s.example/news/one.html",
        "https://s.example/news/two.html",
        "https://s.example/news/three.html",
        "https://s.example/news/four.html",
    ]
    assert [e.published for e in feed.entries] == [
        utc(2015, 12, 23, 9),
        utc(2015, 12, 22),
        utc(2015, 12, 21, 3),
        None,
    ]
    assert all(e.title is None and e.summary is None and e.author is None for e in feed.entries)


def test_google_news_sitemap() -> None:
    feed = parse_feed(NEWS_SITEMAP, "https://n.example/news-sitemap.xml")
    assert feed.title == "The Northern Times"
    first, second = feed.entries
    assert first.url == "https://n.example/2015/12/23/putin-soleimani.html"
    assert first.title == "Putin & Soleimani meet"
    # The news publication date, not <lastmod>, is when the article appeared.
    assert first.published == utc(2015, 12, 23, 15)
    assert (second.title, second.published) == ("Other story", utc(2015, 12, 22))


def test_sitemap_without_namespace_is_read() -> None:
    body = b"<urlset><url><loc>https://s.example/a</loc></url></urlset>"
    assert [e.url for e in parse_feed(body, "https://s.example/sitemap.xml").entries] == ["https://s.example/a"]


def test_sitemap_index_lists_child_sitemaps_newest_first() -> None:
    feed = parse_feed(SITEMAP_INDEX, "https://i.example/sitemap_index.xml")
    assert feed.entries == [] and feed.title is None
    # Child sitemaps are fetched as named: resolved and normalised, but their query is kept as it is.
    assert feed.sitemaps == [
        "https://i.example/sitemaps/news.xml",  # 10:00 UTC
        "https://i.example/sitemaps/2015-12.xml?page=1&utm_source=x",  # 10:00+01:00 is 09:00 UTC
        "https://i.example/sitemaps/2015-11.xml",
        "https://i.example/sitemaps/pages.xml",
    ]


def test_truncated_sitemap_yields_the_entries_before_the_break() -> None:
    cut = SITEMAP.index(b"<url><loc>https://s.example/news/three.html")
    feed = parse_feed(SITEMAP[: cut + 30], "https://s.example/sitemap.xml")
    assert [e.url for e in feed.entries][:2] == ["https://s.example/news/one.html", "https://s.example/news/two.html"]


def test_sitemap_entry_cap() -> None:
    urls = b"".join(b"<url><loc>https://s.example/a/%d</loc></url>" % i for i in range(MAX_ENTRIES + 50))
    body = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + urls + b"</urlset>"
    feed = parse_feed(body, "https://s.example/sitemap.xml")
    assert len(feed.entries) == MAX_ENTRIES
    assert feed.entries[0].url == "https://s.example/a/0"
    assert feed.entries[-1].url == f"https://s.example/a/{MAX_ENTRIES - 1}"


def test_sitemap_index_cap() -> None:
    children = b"".join(b"<sitemap><loc>https://s.example/s/%d.xml</loc></sitemap>" % i for i in range(MAX_ENTRIES + 5))
    feed = parse_feed(b"<sitemapindex>" + children + b"</sitemapindex>", "https://s.example/index.xml")
    assert len(feed.sitemaps) == MAX_ENTRIES
    assert feed.sitemaps[-1] == f"https://s.example/s/{MAX_ENTRIES - 1}.xml"


def test_feed_and_json_feed_entry_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_module, "MAX_ENTRIES", 3)
    items = "".join(f"<item><title>{i}</title><link>https://a.example/{i}</link></item>" for i in range(10))
    rss = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    assert [e.title for e in parse_feed(rss, "https://a.example/rss").entries] == ["0", "1", "2"]
    body = json_feed([{"id": str(i), "url": f"https://j.example/{i}"} for i in range(10)])
    expected = [f"https://j.example/{i}" for i in range(3)]
    assert [e.url for e in parse_feed(body, "https://j.example/f").entries] == expected


# ---------------------------------------------------------------------------------------------
# Not feeds, hostile bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body><h1>Not a feed</h1></body></html>", "HTML page"),
        (b"\n<!doctype html>\n<html lang=en><head><title>Home</title></head><body><p>x&nbsp;y</body></html>",
         "HTML page"),
        (b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "HTML page"),
        (b'<?xml version="1.0"?><opml version="2.0"><head/><body/></opml>', "XML with root <opml>"),
        (b"\x00\x01\x02 binary garbage \xff", "not a feed"),
        (b"", "empty body"),
        (b" \r\n\t", "empty body"),
        (b"/etc/hostname", "not a feed"),  # given a str/bytes path, feedparser would open the local file
        (b"plain text, no markup at all", "not a feed"),
    ],
)
def test_bodies_that_are_not_feeds_are_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message) as caught:
        parse_feed(body, "https://a.example/feed")
    assert str(caught.value).startswith("not a feed")


def laughs(root: bytes, content: bytes) -> bytes:
    """A billion-laughs document: &h; expands to 10^8 'lol's (300 MB)."""
    decls = b'<!ENTITY a "lol">' + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([name]), (b"&%s;" % bytes([name - 1])) * 10) for name in range(ord("b"), ord("i"))
    )
    return b'<?xml version="1.0"?>\n<!DOCTYPE ' + root + b" [" + decls + b"]>\n" + content


@pytest.mark.parametrize(
    "body",
    [
        laughs(b"rss", b'<rss version="2.0"><channel><title>&h;</title><item><title>&h;</title>'
                       b"<link>https://a.example/1</link></item></channel></rss>"),
        laughs(b"urlset", b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                          b"<url><loc>https://a.example/&h;</loc></url></urlset>"),
        laughs(b"feed", b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&h;</title></feed>'),
        laughs(b"sitemapindex", b"<sitemapindex><sitemap><loc>https://a.example/&h;</loc></sitemap></sitemapindex>"),
        # Junk before the document (a PHP warning): lxml finds no feed root, refused all the same.
        PHP_WARNING + laughs(b"rss", b"<rss><channel><title>&h;</title></channel></rss>"),
        b"<br />\n<b>Warning</b>: headers sent<br />\n"
        + laughs(b"rss", b"<rss><channel><title>&h;</title></channel></rss>"),
        laughs(b"rss", b"<rss version='2.0'><channel><title>&h;</title></channel></rss>").decode().encode("utf-16"),
    ],
)
def test_billion_laughs_is_refused_quickly(body: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(FeedParseError, match=r"refused: .*entities"):
        parse_feed(body, "https://a.example/feed")
    assert time.monotonic() - started < 1


class Tripwire:
    """A named pipe standing in for a secret file: records whether anything opened it.

    A writer thread blocks in open() until a reader opens the other end, so "opened" is set if and
    only if something tried to read the file. It serves every reader (libxml2 may open a file twice)
    until the context exits, then is released: a parser that reads the file never hangs the test.
    """

    SECRET = b"TOP-SECRET-CONTENT"

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"secret-{id(self)}"
        os.mkfifo(self.path)
        self._opened = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def _serve(self) -> None:
        while True:
            try:
                with open(self.path, "wb") as pipe:
                    if self._closing.is_set():
                        return
                    self._opened.set()
                    pipe.write(self.SECRET)
            except OSError:
                pass  # the reader went away first

    def was_opened(self) -> bool:
        return self._opened.wait(0.3)

    def __enter__(self) -> Tripwire:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        # Opening the read end releases the writer blocked in open(); it sees _closing and returns.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread.join(timeout=2)
        os.close(fd)


@pytest.fixture
def tripwire(tmp_path: Path) -> Iterator[Tripwire]:
    with Tripwire(tmp_path) as wire:
        yield wire


def test_tripwire_notices_a_parser_that_reads_external_entities(tmp_path: Path) -> None:
    # The XXE tests below pass only if nothing opens the file; show that an unsafe parser would.
    with Tripwire(tmp_path) as wire:
        payload = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "{wire.uri}">]><r>&xxe;</r>'.encode()
        unsafe = etree.XMLParser(resolve_entities=True, load_dtd=True)
        assert Tripwire.SECRET.decode() in (etree.fromstring(payload, unsafe).text or "")
        assert wire.was_opened()


@pytest.mark.parametrize(
    "template",
    [
        # a general external entity in a sitemap's <loc>
        '<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "{uri}">]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a.example/&xxe;</loc></url>'
        "</urlset>",
        # an external parameter entity, expanded inside the DTD itself
        '<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY % ext SYSTEM "{uri}"> %ext;]>'
        "<urlset><url><loc>https://a.example/x</loc></url></urlset>",
        # the same in a news sitemap title
        '<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "{uri}">]>'
        '<urlset xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://a.example/x</loc>'
        "<news:news><news:title>&xxe;</news:title></news:news></url></urlset>",
        # in an RSS feed
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>'
        '<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title>'
        "<link>https://a.example/1</link></item></channel></rss>",
    ],
)
def test_xxe_is_refused_without_reading_the_file(tripwire: Tripwire, template: str) -> None:
    body = template.replace("{uri}", tripwire.uri).encode()
    started = time.monotonic()
    with pytest.raises(FeedParseError, match="refused") as caught:
        parse_feed(body, "https://a.example/sitemap.xml")
    assert time.monotonic() - started < 1
    assert Tripwire.SECRET.decode() not in str(caught.value)
    assert not tripwire.was_opened()


@pytest.mark.parametrize(
    "template",
    [
        '<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "{uri}">'
        "<urlset><url><loc>https://a.example/x</loc></url></urlset>",
        '<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{uri}">'
        '<rss version="2.0"><channel><title>t</title><item><link>https://a.example/x</link></item></channel></rss>',
    ],
)
def test_an_external_dtd_is_never_loaded(tripwire: Tripwire, template: str) -> None:
    feed = parse_feed(template.replace("{uri}", tripwire.uri).encode(), "https://a.example/feed.xml")
    assert [e.url for e in feed.entries] == ["https://a.example/x"]
    assert not tripwire.was_opened()


SAMPLES = [RSS, ATOM, RSS_091, RSS_10, ATOM_03, RSS_MEDIA, JSON_FEED_10, SITEMAP, NEWS_SITEMAP, SITEMAP_INDEX]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s[:40].decode("latin-1"))
def test_truncated_and_corrupted_bodies_give_a_feed_or_feed_parse_error(sample: bytes) -> None:
    cuts = sorted({len(sample) * i // 23 for i in range(23)})
    bodies = [sample[:cut] for cut in cuts]
    bodies += [sample[:cut] + b"\x00\xff<&;]}" + sample[cut:] for cut in cuts[::3]]
    for body in bodies:
        try:
            result = parse_feed(body, "https://a.example/feed")
        except FeedParseError:
            continue
        assert isinstance(result, ParsedFeed)
        assert all(e.url.startswith(("http://", "https://")) for e in result.entries)


@pytest.mark.parametrize(("ttl", "minutes"), [("<ttl>45</ttl>", 45.0), ("<ttl> 60 </ttl>", 60.0),
                                               ("<ttl>soon</ttl>", None), ("<ttl>-5</ttl>", None), ("", None)])
def test_rss_ttl_is_read_when_sane(ttl: str, minutes: float | None) -> None:
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{ttl}'
            "<item><title>a</title><link>https://x.example/a</link></item></channel></rss>").encode()
    assert parse_feed(body, "https://x.example/feed.xml").ttl_minutes == minutes


def test_broken_xml_that_leaves_no_usable_entry_is_an_error() -> None:
    body = b"<rss><channel><title>x</title><item><title>y</ti"
    with pytest.raises(FeedParseError, match="malformed feed"):
        parse_feed(body, "https://x.example/feed.xml")


def test_websub_hub_and_self_links_are_read_from_rss_atom_and_json_feed() -> None:
    rss = (b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>T'
           b'</title><atom:link rel="hub" href="https://hub.example/"/><atom:link rel="self" href="/feed.xml"/>'
           b"<item><title>a</title><link>https://x.example/a</link></item></channel></rss>")
    parsed = parse_feed(rss, "https://x.example/rss")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/", "https://x.example/feed.xml")
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
            b'<link rel="hub" href="https://hub.example/"/><entry><title>a</title><id>1</id>'
            b'<link href="https://x.example/a"/><updated>2026-01-01T00:00:00Z</updated></entry></feed>')
    assert parse_feed(atom, "https://x.example/atom").hub == "https://hub.example/"
    json_feed = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "feed_url": "https://x.example/f.json",'
                 b' "hubs": [{"type": "WebSub", "url": "https://hub.example/"}], "items": [{"id": "1", "url": "/a"}]}')
    parsed = parse_feed(json_feed, "https://x.example/f.json")
    assert (parsed.hub, parsed.self_url) == ("https://hub.example/", "https://x.example/f.json")
    plain = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><link>https://x.example/a</link></item></channel></rss>'
    assert parse_feed(plain, "https://x.example/rss").hub is None
