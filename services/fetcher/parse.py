"""Feed bytes -> entries (pure: no I/O, nothing fetched).

Reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 (feedparser), JSON Feed 1.0/1.1, XML sitemaps, Google News
sitemaps and sitemap index files. The format is detected from the body only: Content-Type headers
and URL suffixes are too often wrong to trust.

Hostile bodies:

* XML is read by lxml with entity substitution, DTD loading and network access off and without
  ``huge_tree``; a document whose DTD declares entities (billion laughs, XXE) is refused as soon as
  its prolog has been read, before any of its content. Sitemaps are read as a stream, one ``<url>``
  at a time, so a large one never sits in memory as a whole tree.
* JSON is read by orjson (which refuses nesting deeper than 1024 levels) after a cap on the number
  of objects and arrays, which bounds the memory a small body can expand into.
* At most ``MAX_ENTRIES`` entries (or child sitemaps) are read from one document.
* Every failure is a FeedParseError: the fetcher records it as the feed's error and backs off.
"""

from __future__ import annotations

import calendar
import io
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import orjson
from lxml import etree

from services.common.errors import InvalidUrl, Permanent
from services.common.urls import canonical_url, normalize_url

__all__ = ["MAX_ENTRIES", "MAX_JSON_CONTAINERS", "FeedParseError", "ParsedEntry", "ParsedFeed", "parse_feed"]

#: Entries (or child sitemaps of an index) read from one document; the rest are ignored. A sitemap
#: may list 50,000 URLs, and a fetcher that emits them all on one poll floods the extractor.
MAX_ENTRIES = 10_000

#: A JSON body with more '{' and '[' than this is refused before it is decoded: 10 MB of "{}," would
#: otherwise become over 3 million dicts (200+ MB). A real JSON Feed needs a few per item.
MAX_JSON_CONTAINERS = 200_000

# lxml is fed this much at a time, so reading stops early (root found, entry cap reached).
_XML_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_FEED_ROOTS = frozenset({"rss", "RDF", "feed", "urlset", "sitemapindex"})
# Looked for only when lxml finds no feed root; UTF-16 spells it differently.
_ENTITY_DECLARATION_MARKERS = tuple("<!ENTITY".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be"))
_NEWS_NS_PREFIX = "http://www.google.com/schemas/sitemap-news/"
_JSON_FEED_VERSION = "jsonfeed.org/version/"


class FeedParseError(Permanent):
    """The body is not a feed we can read."""


@dataclass(frozen=True)
class ParsedEntry:
    """One feed entry, its link canonicalised."""

    url: str
    title: str | None
    summary: str | None
    author: str | None
    published: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: its title and entries (entries without a usable link are dropped).

    ``sitemaps`` is filled for a sitemap index only: the URLs of its child sitemaps, for the
    caller to poll (newest ``<lastmod>`` first, undated ones after them in document order);
    ``entries`` is then empty. ``ttl_minutes`` is an RSS feed's own ``<ttl>`` (how long it may
    be cached), when it gives one. ``hub`` and ``self_url`` are the WebSub hub the feed advertises
    (``<link rel="hub">``, JSON Feed ``hubs``) and the topic URL it names itself by.
    """

    title: str | None
    entries: list[ParsedEntry]
    sitemaps: list[str] = field(default_factory=list)
    ttl_minutes: float | None = None
    hub: str | None = None
    self_url: str | None = None


def parse_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """Parse a feed body fetched from ``feed_url``; FeedParseError if it is not a feed we can read.

    Relative links resolve against the feed (JSON Feed: its ``home_page_url``, else its
    ``feed_url``, else ``feed_url`` as fetched); entry links are canonicalised; dates are UTC.
    """
    try:
        return _parse(body, feed_url)
    except FeedParseError:
        raise
    except Exception as exc:
        # A hostile body that trips a library in an unforeseen way must still be recorded as this
        # feed's error (and backed off), not crash the poll.
        raise FeedParseError(f"not a feed: unreadable body: {type(exc).__name__}: {exc}") from exc


def _parse(body: bytes, feed_url: str) -> ParsedFeed:
    head = body.removeprefix(_BOM).lstrip(b" \t\r\n")
    if not head:
        raise FeedParseError("not a feed: empty body")
    if head[:1] in (b"{", b"["):
        return _parse_json_feed(head, feed_url)
    if _HTML_START.match(head):
        raise FeedParseError("not a feed: an HTML page")
    root = _xml_root(head)
    if root is not None and root.declares_entities:
        raise FeedParseError("refused: the DTD declares XML entities (entity expansion or XXE)")
    if (root is None or root.name not in _FEED_ROOTS) and any(m in body for m in _ENTITY_DECLARATION_MARKERS):
        # lxml did not find a feed where the document starts (junk before it, a broken prolog); the
        # forgiving feedparser may still find items, but never in a document declaring entities.
        raise FeedParseError("refused: the document declares XML entities (entity expansion or XXE)")
    if root is None:
        return _parse_with_feedparser(body, feed_url, root_name=None)
    if root.name == "urlset":
        return _parse_sitemap(head, feed_url)
    if root.name == "sitemapindex":
        return _parse_sitemap_index(head, feed_url)
    if root.name == "html":
        raise FeedParseError("not a feed: an HTML page")
    return _parse_with_feedparser(body, feed_url, root_name=root.name)


# ---------------------------------------------------------------------------------------------
# XML: detection and sitemaps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _XmlRoot:
    name: str
    declares_entities: bool


def _xml_parser(events: tuple[str, ...]) -> etree.XMLPullParser:
    # recover: sitemaps are as often slightly broken as feeds are, and feedparser forgives too.
    return etree.XMLPullParser(
        events=events,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def _xml_root(body: bytes) -> _XmlRoot | None:
    """The root element's local name and whether the DTD declares entities; None if not XML.

    Reading stops at the root's start tag: the DTD (if any) has been read by then, its entities
    declared but never expanded.
    """
    parser = _xml_parser(events=("start",))
    try:
        for offset in range(0, len(body), _XML_CHUNK):
            parser.feed(body[offset : offset + _XML_CHUNK])
            for _event, element in parser.read_events():
                dtd = element.getroottree().docinfo.internalDTD
                declares = dtd is not None and any(True for _ in dtd.iterentities())
                return _XmlRoot(etree.QName(element).localname, declares)
    except etree.LxmlError:
        return None
    return None


def _root_children(body: bytes) -> Iterator[Any]:
    """The root element's children, each complete, in document order.

    Each child is cleared and dropped once the consumer moves on, so memory stays flat however
    long the document is. Stops quietly where a broken document stops making sense.
    """
    parser = _xml_parser(events=("end",))
    try:
        for offset in range(0, len(body), _XML_CHUNK):
            parser.feed(body[offset : offset + _XML_CHUNK])
            for _event, element in parser.read_events():
                parent = element.getparent()
                if parent is None or parent.getparent() is not None:
                    continue
                yield element
                element.clear()
                while element.getprevious() is not None:
                    del parent[0]
        parser.close()
    except etree.LxmlError:
        return


def _parse_sitemap(body: bytes, feed_url: str) -> ParsedFeed:
    """A sitemaps.org ``<urlset>``, with Google News extensions when present."""
    entries: list[ParsedEntry] = []
    publication: str | None = None
    for element in _root_children(body):
        if len(entries) >= MAX_ENTRIES:
            break
        if _local_name(element) != "url":
            continue
        fields = _sitemap_fields(element)
        url = _canonical(fields.get("loc"), feed_url)
        if url is None:
            continue
        publication = publication or fields.get("news_name")
        entries.append(
            ParsedEntry(
                url=url,
                title=fields.get("news_title"),
                summary=None,
                author=None,
                # A news sitemap dates the article; a plain sitemap only says when the page last changed.
                published=_iso_date(fields.get("news_date")) or _iso_date(fields.get("lastmod")),
            )
        )
    return ParsedFeed(title=publication, entries=entries)


def _sitemap_fields(url: Any) -> dict[str, str]:
    """The texts of one ``<url>``: loc, lastmod and the news:news fields (image/video extensions ignored)."""
    namespace = etree.QName(url).namespace
    found: dict[str, str] = {}
    for child in url:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace == namespace and name.localname in ("loc", "lastmod"):
            _put(found, name.localname, child.text)
        elif name.localname == "news" and (name.namespace or "").startswith(_NEWS_NS_PREFIX):
            for part in child.iter():
                if not isinstance(part.tag, str):
                    continue
                local = etree.QName(part).localname
                if local == "name":
                    _put(found, "news_name", part.text)
                elif local == "publication_date":
                    _put(found, "news_date", part.text)
                elif local == "title":
                    _put(found, "news_title", part.text)
    return found


def _put(found: dict[str, str], key: str, text: str | None) -> None:
    cleaned = _clean(text)
    if cleaned and key not in found:
        found[key] = cleaned


def _parse_sitemap_index(body: bytes, feed_url: str) -> ParsedFeed:
    """A ``<sitemapindex>``: its child sitemaps' URLs (normalised, not canonicalised: they are fetched as named)."""
    dated: list[tuple[datetime, int, str]] = []
    undated: list[str] = []
    seen: set[str] = set()
    for element in _root_children(body):
        if len(seen) >= MAX_ENTRIES:
            break
        if _local_name(element) != "sitemap":
            continue
        fields = _sitemap_fields(element)
        loc = fields.get("loc")
        if loc is None:
            continue
        try:
            url = normalize_url(loc, base=feed_url)
        except InvalidUrl:
            continue
        if url in seen:
            continue
        seen.add(url)
        lastmod = _iso_date(fields.get("lastmod"))
        if lastmod is None:
            undated.append(url)
        else:
            # The position breaks ties in document order (sorted newest first, so negated).
            dated.append((lastmod, -len(seen), url))
    dated.sort(reverse=True)
    return ParsedFeed(title=None, entries=[], sitemaps=[url for _, _, url in dated] + undated)


def _local_name(element: Any) -> str | None:
    return etree.QName(element).localname if isinstance(element.tag, str) else None


# ---------------------------------------------------------------------------------------------
# RSS and Atom
# ---------------------------------------------------------------------------------------------


def _parse_with_feedparser(body: bytes, feed_url: str, root_name: str | None) -> ParsedFeed:
    """RSS 0.9x/1.0/2.0 and Atom 0.3/1.0.

    The body goes in as BytesIO: given a str, feedparser fetches URLs itself (no SSRF guard, no
    size cap) and opens strings that name local files.
    """
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": feed_url})
    version = parsed.get("version") or ""
    bozo = parsed.get("bozo_exception")
    # No Content-Type is passed on purpose (the body decides), so feedparser always notes that one: it is
    # no flaw of the feed, and a well-formed feed without items yet (a new outlet's) is an empty feed.
    flawed = bozo is not None and not isinstance(bozo, feedparser.NonXMLContentType)
    if not parsed.entries and (flawed or not version):
        reasons = [f"XML with root <{root_name}>"] if root_name else []
        if flawed:
            reasons.append(f"{type(bozo).__name__}: {bozo}")
        raise FeedParseError(f"not a feed: {'; '.join(reasons) or 'no entries'}")
    entries: list[ParsedEntry] = []
    for entry in parsed.entries:
        if len(entries) >= MAX_ENTRIES:
            break
        url = _canonical(entry.get("link") or _first_alternate(entry), feed_url)
        if url is None:
            continue
        entries.append(
            ParsedEntry(
                url=url,
                title=_clean(entry.get("title")),
                summary=_clean(entry.get("summary")),
                author=_clean(entry.get("author")),
                published=_struct_date(entry.get("published_parsed") or _own(entry, "updated_parsed")),
            )
        )
    bozo = parsed.get("bozo_exception")
    if not entries and parsed.entries and bozo is not None and not isinstance(bozo, feedparser.NonXMLContentType):
        # Broken XML that left only entries without links: an error on the feed, not a quiet empty poll.
        raise FeedParseError(f"malformed feed, no usable entry: {type(bozo).__name__}: {bozo}")
    links = [link for link in parsed.feed.get("links") or [] if isinstance(link, dict) and link.get("href")]
    hub = next((str(link["href"]) for link in links if link.get("rel") == "hub"), None)
    self_url = next((str(link["href"]) for link in links if link.get("rel") == "self"), None)
    return ParsedFeed(title=_clean(parsed.feed.get("title")), entries=entries,
                      ttl_minutes=_ttl(parsed.feed.get("ttl")), hub=_http_url(hub, feed_url),
                      self_url=_http_url(self_url, feed_url))


def _first_alternate(entry: Mapping[str, object]) -> str | None:
    links = entry.get("links")
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and link.get("rel", "alternate") == "alternate" and link.get("href"):
                return str(link["href"])
    return None


def _own(entry: dict[str, object], key: str) -> object:
    # FeedParserDict.get("updated_parsed") falls back to published_parsed with a DeprecationWarning.
    return dict.get(entry, key)


def _struct_date(value: object) -> datetime | None:
    # feedparser normalises dates to UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


# ---------------------------------------------------------------------------------------------
# JSON Feed
# ---------------------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1)."""
    if body.count(b"{") + body.count(b"[") > MAX_JSON_CONTAINERS:
        raise FeedParseError(f"not a feed: JSON with more than {MAX_JSON_CONTAINERS} objects and arrays")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(f"not a feed: malformed JSON: {exc}") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or _JSON_FEED_VERSION not in version:
        raise FeedParseError("not a feed: JSON but not a JSON Feed (no 'version' of https://jsonfeed.org/version/1.1)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedParseError("not a feed: JSON Feed without an 'items' list")
    base = _json_base(doc, feed_url)
    # JSON Feed: an item without authors has the feed's.
    feed_author = _json_authors(doc)
    entries: list[ParsedEntry] = []
    for item in items:
        if len(entries) >= MAX_ENTRIES:
            break
        if not isinstance(item, dict):
            continue
        url = _canonical(_json_link(item), base)
        if url is None:
            continue
        entries.append(
            ParsedEntry(
                url=url,
                title=_clean(item.get("title")),
                summary=_clean(item.get("summary")) or _clean(item.get("content_text")),
                author=_json_authors(item) or feed_author,
                published=_iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")),
            )
        )
    hubs = [h for h in doc.get("hubs") or [] if isinstance(h, dict) and str(h.get("type", "")).lower() == "websub"]
    hub = _http_url(str(hubs[0].get("url") or ""), feed_url) if hubs else None
    self_url = _http_url(doc.get("feed_url") if isinstance(doc.get("feed_url"), str) else None, feed_url)
    return ParsedFeed(title=_clean(doc.get("title")), entries=entries, hub=hub, self_url=self_url)


def _json_base(doc: Mapping[str, object], feed_url: str) -> str:
    """What relative item links resolve against: home_page_url, else the feed's feed_url, else the fetched URL."""
    for key in ("home_page_url", "feed_url"):
        value = doc.get(key)
        if isinstance(value, str):
            try:
                return normalize_url(value, base=feed_url)
            except InvalidUrl:
                continue
    return feed_url


def _json_link(item: Mapping[str, object]) -> str | None:
    for key in ("url", "external_url"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value
    # Some feeds put the permalink only in the id, which JSON Feed allows to be a URL.
    ident = item.get("id")
    if isinstance(ident, str) and ident.strip().lower().startswith(("http://", "https://")):
        return ident
    return None


def _json_authors(obj: Mapping[str, object]) -> str | None:
    """Author names: ``authors`` (1.1) or ``author`` (1.0), comma-joined."""
    authors = obj.get("authors")
    candidates = authors if isinstance(authors, list) else [obj.get("author")]
    names = [_clean(author.get("name")) for author in candidates if isinstance(author, dict)]
    return ", ".join(name for name in names if name) or None


# ---------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------


def _canonical(link: object, base: str) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    try:
        return canonical_url(link, base=base)
    except InvalidUrl:
        return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _iso_date(value: object) -> datetime | None:
    """An RFC 3339 / W3C datetime (JSON Feed, sitemaps) in UTC; an RFC 822 date is read too, as feeds mix them up."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        # Both formats require an offset; one left out is nearly always UTC (feedparser assumes so too).
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _ttl(value: object) -> float | None:
    """An RSS <ttl> in minutes, if it is a sane positive number (a week at most)."""
    try:
        minutes = float(str(value).strip())
    except ValueError:
        return None
    return minutes if 0 < minutes <= 7 * 24 * 60 else None


def _http_url(value: str | None, base: str) -> str | None:
    """An http(s) URL resolved against `base`, normalised; None for anything else."""
    if not value:
        return None
    try:
        return normalize_url(value, base=base)
    except InvalidUrl:
        return None
