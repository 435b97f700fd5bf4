"""Unit tests for the local outlet server (tests/support/outlets.py): pure stdlib HTTP, no Kafka/Redis."""

from __future__ import annotations

import calendar
import html
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from typing import get_args
from xml.etree import ElementTree

import feedparser
import pytest

from services.fetcher.parse import parse_feed
from tests.support.outlets import FeedFormat, Outlet, OutletServer, load_seed, seed_outlets, seeds_dir

SEEDS = seeds_dir()
needs_seeds = pytest.mark.skipif(SEEDS is None, reason="../shared/seeds (the seed articles) is not present")

T0 = datetime(2015, 12, 16, 9, 0, tzinfo=UTC)
TEXT = "First paragraph of the story.\n\nSecond paragraph, with “quotes” & an ampersand.\nThird line."


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """GET a URL; return (status, headers, body) without raising on 3xx/4xx/5xx."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture
def srv() -> Iterator[OutletServer]:
    with OutletServer() as server:
        yield server


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_feed_lists_items_newest_first_with_absolute_tracked_links(srv: OutletServer, fmt: str) -> None:
    outlet = srv.add_outlet("daily", "The Daily", fmt)  # type: ignore[arg-type]
    old = outlet.add_article("older", "Older story", TEXT, T0, author="A. Writer")
    new = outlet.add_article("newer", "Newer story", TEXT, T0 + timedelta(minutes=5))
    assert outlet.feed_url == f"{srv.base_url}/daily/feed.xml"
    assert old == f"{srv.base_url}/daily/articles/older.html"

    status, headers, body = get(outlet.feed_url)
    assert status == 200
    assert ("atom" if fmt == "atom" else "rss") in headers["Content-Type"]
    feed = feedparser.parse(io.BytesIO(body))
    assert not feed.bozo
    assert feed.version == ("atom10" if fmt == "atom" else "rss20")
    assert feed.feed.title == "The Daily"
    assert [e.title for e in feed.entries] == ["Newer story", "Older story"]
    assert [e.link for e in feed.entries] == [
        new + "?utm_source=rss&utm_medium=feed",
        old + "?utm_source=rss&utm_medium=feed",
    ]
    published = feed.entries[1].published_parsed
    assert datetime.fromtimestamp(calendar.timegm(published), tz=UTC) == T0
    assert feed.entries[1].get("author") == "A. Writer"


def test_article_page_is_realistic(srv: OutletServer) -> None:
    outlet = srv.add_outlet("daily", "The Daily", "rss")
    url = outlet.add_article("story", "A headline", TEXT, T0, author="A. Writer")
    status, headers, body = get(url + "?utm_source=rss&utm_medium=feed")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode("utf-8")
    assert page.lower().startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in page
    assert "<title>A headline | The Daily</title>" in page
    assert f'<link rel="canonical" href="{url}">' in page
    assert f'<meta property="og:url" content="{url}">' in page
    assert '<meta property="og:site_name" content="The Daily">' in page
    assert '<meta property="article:published_time" content="2015-12-16T09:00:00Z">' in page
    assert re.search(r"<article[^>]*>.*<h1[^>]*>A headline</h1>.*</article>", page, re.S)
    for para in ("First paragraph of the story.", "Second paragraph, with “quotes” &amp; an ampersand.", "Third line."):
        assert f"<p>{para}</p>" in page
    assert "A. Writer" in page and "Related stories" in page and "cookie" in page.lower()
    related = page.split("Related stories", 1)[1]
    assert len(re.findall(r"<a [^>]*href=", related.split("</ul>")[0].split("</ol>")[0])) >= 5
    assert "<footer" in page and ("©" in page or "&copy;" in page or "Copyright" in page)


def test_outlets_use_different_templates(srv: OutletServer) -> None:
    pages = []
    for i in range(3):
        outlet = srv.add_outlet(f"o{i}", f"Outlet {i}", "rss")
        pages.append(get(outlet.add_article("s", "Same title", TEXT, T0))[2])
    assert len({outlet.template for outlet in srv.outlets}) == 3
    classes = [frozenset(re.findall(rb'class="([^"]+)"', p)) for p in pages]
    assert classes[0] != classes[1] != classes[2] != classes[0]


def test_conditional_get_answers_304_and_counts_hits(srv: OutletServer) -> None:
    outlet = srv.add_outlet("daily", "The Daily", "rss")
    outlet.add_article("one", "One", TEXT, T0)
    path = "/daily/feed.xml"

    status, headers, _ = get(outlet.feed_url)
    assert status == 200
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert etag and last_modified

    assert get(outlet.feed_url, {"If-None-Match": etag})[0] == 304
    assert get(outlet.feed_url, {"If-Modified-Since": last_modified})[0] == 304
    assert get(outlet.feed_url, {"If-None-Match": '"something-else"'})[0] == 200
    assert srv.hits[path] == 4
    assert srv.hit_count(outlet.feed_url + "?x=1") == 4

    outlet.add_article("two", "Two", TEXT, T0 + timedelta(minutes=1))
    status, headers2, body = get(outlet.feed_url, {"If-None-Match": etag})
    assert status == 200 and headers2["ETag"] != etag
    assert [e.title for e in feedparser.parse(io.BytesIO(body)).entries] == ["Two", "One"]
    # The change moved Last-Modified forward, so the old date no longer yields 304.
    assert get(outlet.feed_url, {"If-Modified-Since": last_modified})[0] == 200
    assert srv.hits[path] == 6
    srv.reset_hits()
    assert srv.hits[path] == 0


def test_add_raw_serves_arbitrary_bytes(srv: OutletServer) -> None:
    outlet = srv.add_outlet("bad", "Bad Outlet", "rss")
    poison = b"\x00\xff<html><body>" + b"A" * 1000
    url = outlet.add_raw(
        "articles/poison.html", poison, "text/html; charset=utf-8", headers={"X-Test": "1", "Cache-Control": "no-store"}
    )
    assert url == f"{srv.base_url}/bad/articles/poison.html"
    status, headers, body = get(url)
    assert (status, body, headers["X-Test"], headers["Content-Type"]) == (200, poison, "1", "text/html; charset=utf-8")
    assert headers["Cache-Control"] == "no-store"

    # A raw route replaces the generated feed: broken XML.
    outlet.add_raw("feed.xml", b"<rss><channel><item><title>unclosed", "application/rss+xml")
    status, _, body = get(outlet.feed_url)
    assert status == 200 and feedparser.parse(io.BytesIO(body)).bozo

    gone = srv.add_raw("/elsewhere/gone", b"gone", "text/plain", status=410)
    assert get(gone)[0] == 410
    srv.remove_raw("/elsewhere/gone")
    assert get(gone)[0] == 404


def test_set_status_fails_and_recovers(srv: OutletServer) -> None:
    outlet = srv.add_outlet("flaky", "Flaky", "atom")
    url = outlet.add_article("one", "One", TEXT, T0)
    srv.set_status(outlet.feed_url, 500)
    srv.set_status("/flaky/articles/one.html", 503)
    assert get(outlet.feed_url)[0] == 500
    assert get(url)[0] == 503
    srv.set_status(outlet.feed_url, None)
    srv.set_status(url, None)
    assert get(outlet.feed_url)[0] == 200
    assert get(url)[0] == 200
    assert srv.hits["/flaky/feed.xml"] == 2


def test_unknown_paths_404_and_naive_dates_rejected(srv: OutletServer) -> None:
    outlet = srv.add_outlet("daily", "The Daily", "rss")
    assert get(f"{srv.base_url}/nope/feed.xml")[0] == 404
    assert get(outlet.article_url("missing"))[0] == 404
    with pytest.raises(ValueError):
        outlet.add_article("x", "X", TEXT, datetime(2015, 12, 16, 9, 0))
    with pytest.raises(ValueError):
        srv.add_outlet("daily", "Again", "rss")


def test_concurrent_requests(srv: OutletServer) -> None:
    outlet = srv.add_outlet("busy", "Busy", "rss")
    urls = [outlet.add_article(f"a{i}", f"Story {i}", TEXT, T0 + timedelta(minutes=i)) for i in range(5)]
    targets = [outlet.feed_url, *urls] * 8
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda u: get(u)[0], targets))
    assert statuses == [200] * len(targets)
    assert srv.hits["/busy/feed.xml"] == 8
    assert all(srv.hit_count(u) == 8 for u in urls)


def test_start_stop_explicit() -> None:
    server = OutletServer().start()
    try:
        assert get(server.base_url + "/")[0] == 200
    finally:
        server.stop()
        server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = server.base_url


@needs_seeds
def test_seed_outlets_publish_each_seed(srv: OutletServer) -> None:
    assert SEEDS is not None
    files = sorted(SEEDS.glob("*.txt"))
    pairs = seed_outlets(srv, SEEDS)
    assert len(pairs) == len(files) >= 3
    outlets = [o for o, _ in pairs]
    assert len({o.name for o in outlets}) == len(outlets)
    assert [o.feed_format for o in outlets[:3]] == ["rss", "atom", "rss"]
    assert len({o.template for o in outlets[:3]}) == 3

    published = []
    for (outlet, page_url), path in zip(pairs, files, strict=True):
        seed = load_seed(path)
        assert seed.title and seed.paragraphs
        feed = feedparser.parse(io.BytesIO(get(outlet.feed_url)[2]))
        assert not feed.bozo
        (entry,) = feed.entries
        assert entry.title == seed.title
        assert entry.link.split("?")[0] == page_url
        published.append(datetime.fromtimestamp(calendar.timegm(entry.published_parsed), tz=UTC))

        status, _, body = get(entry.link)
        assert status == 200
        page = body.decode("utf-8")
        for para in seed.paragraphs:
            assert f"<p>{html.escape(para, quote=False)}</p>" in page, para[:60]
        assert f'<link rel="canonical" href="{page_url}">' in page
    assert published == sorted(published) and len(set(published)) == len(published)


@needs_seeds
def test_load_seed_headers() -> None:
    assert SEEDS is not None
    seeds = {p.name[:3]: load_seed(p) for p in SEEDS.glob("*.txt")}
    if not {"000", "003", "004"} <= seeds.keys():
        pytest.skip("the seed set differs from the three known seed files")
    toi, reuters, breitbart = seeds["000"], seeds["003"], seeds["004"]
    assert toi.title.startswith("Putin said to host") and toi.summary and toi.title_from_file
    assert toi.paragraphs[0].startswith("The commander of the Al-Quds force")
    assert reuters.section == "World News"
    assert reuters.title == "Iranian commander Soleimani meets Putin in Moscow"
    assert reuters.paragraphs[0].startswith("DUBAI (Reuters)")
    assert not breitbart.title_from_file and breitbart.author == "Adelle Nazarian"
    assert breitbart.paragraphs[0].startswith("Reports have surfaced")
    assert {s.outlet_name for s in seeds.values()} == {"The Times of Israel", "Reuters", "Breitbart News"}


@needs_seeds
def test_seed_outlets_historical_dates(srv: OutletServer) -> None:
    assert SEEDS is not None
    pairs = seed_outlets(srv, SEEDS, base=T0, spacing=timedelta(minutes=3))
    dates = [o.articles[0].published for o, _ in pairs]
    assert dates[0] == T0 and all(d.tzinfo is not None for d in dates)
    assert dates[1] - dates[0] == timedelta(minutes=3)


# ---------------------------------------------------------------------------------------------
# Every feed format, read back with the fetcher's parser
# ---------------------------------------------------------------------------------------------

FORMATS: tuple[FeedFormat, ...] = get_args(FeedFormat)
FEED_FILES = {
    "rss": "feed.xml",
    "atom": "feed.xml",
    "jsonfeed": "feed.json",
    "sitemap": "sitemap.xml",
    "newssitemap": "news-sitemap.xml",
}
CONTENT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "jsonfeed": "application/feed+json",
    "sitemap": "application/xml",
    "newssitemap": "application/xml",
}


def publish_three(srv: OutletServer, fmt: FeedFormat) -> Outlet:
    outlet = srv.add_outlet("daily", "The Daily", fmt)
    outlet.add_article("older", "Older & wiser", TEXT, T0, author="A. Writer", summary="The older one.")
    # Another time zone: every format must carry the instant, whatever the offset it is written in.
    eastern = timezone(timedelta(hours=-5))
    outlet.add_article("newer", "Newer <story>", TEXT, T0.astimezone(eastern) + timedelta(hours=2))
    outlet.add_article("newest", "Newest", TEXT, T0 + timedelta(hours=3), author="B. Reporter", section="World")
    return outlet


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_parses_back_to_the_outlets_articles(srv: OutletServer, fmt: FeedFormat) -> None:
    outlet = publish_three(srv, fmt)
    assert outlet.feed_url == f"{srv.base_url}/daily/{FEED_FILES[fmt]}"
    status, headers, body = get(outlet.feed_url)
    assert status == 200
    assert headers["Content-Type"] == f"{CONTENT_TYPES[fmt]}; charset=utf-8"

    feed = parse_feed(body, outlet.feed_url)
    articles = outlet.articles
    assert [a.slug for a in articles] == ["newest", "newer", "older"]
    assert feed.sitemaps == []
    # Tracking parameters (RSS, Atom, JSON Feed) are gone once canonicalised: every link is the page's.
    assert [e.url for e in feed.entries] == [outlet.article_url(a.slug) for a in articles]
    assert [e.published for e in feed.entries] == [a.published for a in articles]
    assert all(e.published is not None and e.published.tzinfo == UTC for e in feed.entries)
    if fmt == "sitemap":
        # A plain sitemap names pages and dates only.
        assert feed.title is None
        assert all(e.title is None and e.summary is None and e.author is None for e in feed.entries)
        return
    assert feed.title == "The Daily"
    assert [e.title for e in feed.entries] == [a.title for a in articles]
    if fmt == "newssitemap":
        return
    assert [e.summary for e in feed.entries] == [outlet._description(a) for a in articles]
    # Atom names the outlet when an article has no author.
    no_author = "The Daily" if fmt == "atom" else None
    assert [e.author for e in feed.entries] == ["B. Reporter", no_author, "A. Writer"]


@pytest.mark.parametrize("fmt", ["jsonfeed", "sitemap", "newssitemap"])
def test_new_formats_are_what_they_claim(srv: OutletServer, fmt: FeedFormat) -> None:
    outlet = publish_three(srv, fmt)
    body = get(outlet.feed_url)[2]
    if fmt == "jsonfeed":
        doc = json.loads(body)
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        assert (doc["home_page_url"], doc["feed_url"]) == (outlet.base_url, outlet.feed_url)
        first = doc["items"][0]
        assert first["id"] == outlet.article_url("newest")
        assert first["url"] == outlet.article_url("newest", tracking=True)
        assert first["authors"] == [{"name": "B. Reporter"}] and first["tags"] == ["World"]
        assert first["content_text"].startswith("First paragraph of the story.")
        assert all(item.get("content_text") for item in doc["items"])
        return
    root = ElementTree.fromstring(body)
    sm = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    news = "{http://www.google.com/schemas/sitemap-news/0.9}"
    assert root.tag == f"{sm}urlset"
    urls = root.findall(f"{sm}url")
    # Sitemaps list canonical links, without the feed's tracking parameters.
    assert [u.findtext(f"{sm}loc") for u in urls] == [outlet.article_url(s) for s in ("newest", "newer", "older")]
    assert urls[0].findtext(f"{sm}lastmod") == "2015-12-16T12:00:00Z"
    if fmt == "sitemap":
        assert root.find(f".//{news}news") is None
        return
    assert urls[0].findtext(f"{news}news/{news}publication/{news}name") == "The Daily"
    assert urls[0].findtext(f"{news}news/{news}publication/{news}language") == "en"
    assert urls[0].findtext(f"{news}news/{news}publication_date") == "2015-12-16T12:00:00Z"
    assert urls[1].findtext(f"{news}news/{news}title") == "Newer <story>"


@pytest.mark.parametrize("fmt", ["jsonfeed", "sitemap", "newssitemap"])
def test_new_formats_answer_conditional_gets(srv: OutletServer, fmt: FeedFormat) -> None:
    outlet = srv.add_outlet("daily", "The Daily", fmt)
    outlet.add_article("one", "One", TEXT, T0)
    status, headers, _ = get(outlet.feed_url)
    assert status == 200
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert get(outlet.feed_url, {"If-None-Match": etag})[0] == 304
    assert get(outlet.feed_url, {"If-Modified-Since": last_modified})[0] == 304

    outlet.add_article("two", "Two", TEXT, T0 + timedelta(minutes=1))
    status, headers2, body = get(outlet.feed_url, {"If-None-Match": etag})
    assert status == 200 and headers2["ETag"] != etag
    assert get(outlet.feed_url, {"If-Modified-Since": last_modified})[0] == 200
    urls = [e.url for e in parse_feed(body, outlet.feed_url).entries]
    assert urls == [outlet.article_url("two"), outlet.article_url("one")]
    assert srv.hit_count(outlet.feed_url) == 5
    # The feed lives at its own file name only.
    assert get(outlet.url("feed.xml"))[0] == 404


def test_pages_announce_feeds_but_not_sitemaps(srv: OutletServer) -> None:
    json_outlet = srv.add_outlet("jf", "JSON Daily", "jsonfeed")
    map_outlet = srv.add_outlet("sm", "Map Daily", "sitemap")
    json_page = get(json_outlet.add_article("a", "A", TEXT, T0))[2].decode()
    map_page = get(map_outlet.add_article("a", "A", TEXT, T0))[2].decode()
    announce = f'<link rel="alternate" type="application/feed+json" title="JSON Daily" href="{json_outlet.feed_url}">'
    assert announce in json_page
    assert announce in get(json_outlet.base_url)[2].decode()
    assert 'rel="alternate"' not in map_page
    assert 'rel="alternate"' not in get(map_outlet.base_url)[2].decode()


def test_unknown_feed_format_is_refused(srv: OutletServer) -> None:
    with pytest.raises(ValueError, match="feed_format"):
        srv.add_outlet("daily", "The Daily", "opml")  # type: ignore[arg-type]
