"""Feed auto-discovery: a site's home page -> the feeds it advertises.

A page advertises its feeds with `<link rel="alternate" type="application/rss+xml" href="...">`
(or `application/atom+xml`, `application/feed+json`) in its head. The hrefs are resolved against
the page's `<base href>` if it has one, else against the page URL (after redirects), and each must
be a URL wirewatch can fetch (`services.common.urls.normalize_url`).

`find_feed_links` and `looks_like_feed` are pure; `discover_feeds` fetches one page through the
SSRF-safe client and applies them. `probe_feed` is what registering a feed asks first: is this URL a
feed wirewatch reads (and what is its title), or a page whose advertised feed is one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from services.common.errors import InvalidUrl, Permanent
from services.common.http import HttpResponse, SafeHttpClient
from services.common.urls import normalize_url
from services.fetcher.parse import FeedParseError, ParsedFeed, parse_feed

__all__ = ["FEED_TYPES", "FeedProbe", "NotAFeed", "discover_feeds", "find_feed_links", "looks_like_feed",
           "probe_feed"]

#: Media types of the feeds a page may advertise: RSS, Atom and JSON Feed.
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})

# Sniffing looks only at the start of a body: a feed's root element comes first.
_SNIFF_BYTES = 2048
# The first element name after the XML declaration, comments and DOCTYPE (those start with "<?" or "<!").
_FIRST_ELEMENT = re.compile(rb"<([a-z][a-z0-9:._-]*)")
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf:rdf"})


def find_feed_links(html: str, page_url: str) -> list[str]:
    """Absolute URLs of the feeds `html` advertises, in document order, without duplicates.

    Links that do not resolve to an http(s) URL wirewatch would fetch are skipped.
    """
    parser = _LinkParser()
    try:
        parser.feed(html)
        parser.close()
    except _EndOfHead:
        pass
    base = page_url
    if parser.base_href:
        try:
            base = normalize_url(parser.base_href, base=page_url)
        except InvalidUrl:
            pass  # a broken <base> is ignored, as browsers do
    found: list[str] = []
    for href in parser.hrefs:
        try:
            url = normalize_url(href, base=base)
        except InvalidUrl:
            continue
        if url not in found:
            found.append(url)
    return found


def looks_like_feed(body: bytes, content_type: str | None) -> bool:
    """True when a response is itself a feed: by its media type, else by its first bytes.

    The sniff is deliberately simple: an XML document whose first element is <rss>, <feed> or
    <rdf:RDF>, or a JSON object naming a jsonfeed.org version URL.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in FEED_TYPES:
        return True
    start = body[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"{"):
        return b"jsonfeed.org" in start  # the version URL, whose "/" JSON may escape
    first = _FIRST_ELEMENT.search(start)
    return first is not None and first.group(1) in _FEED_ROOTS


async def discover_feeds(http: SafeHttpClient, url: str, *, max_bytes: int) -> list[str]:
    """The feed URLs behind `url`: `[url]` when it is a feed itself, else the feeds its page advertises.

    An empty list means the page advertises none. Fetch failures raise the
    `services.common.errors` errors of `SafeHttpClient.get` (InvalidUrl, BlockedAddress, ...).
    """
    response = await http.get(url, max_bytes=max_bytes)
    if looks_like_feed(response.body, response.content_type):
        return [url]
    # A wrong guess at the charset can only garble non-ASCII text, and feed links are URLs.
    html = response.body.decode(response.charset or "utf-8", errors="replace")
    return find_feed_links(html, response.url)


class NotAFeed(Permanent):
    """The URL answers, but with neither a feed wirewatch reads nor a page that advertises one."""


@dataclass(frozen=True)
class FeedProbe:
    """What one fetch at registration found behind a URL."""

    url: str
    """The feed to register: the URL itself, or the first feed the page at it advertises."""
    title: str | None
    """The feed's own title (None for sitemaps and untitled feeds)."""
    discovered_from: str | None = None
    """The page the feed was discovered on; None when the URL is the feed itself."""
    other_feeds: tuple[str, ...] = ()
    """Further feeds the page advertises (not registered)."""


async def probe_feed(http: SafeHttpClient, url: str, *, max_bytes: int) -> FeedProbe:
    """Fetch `url` once and read it as the fetcher will (services.fetcher.parse): a feed, with its title; else
    a page, whose first advertised feed is fetched and read in turn.

    Raises NotAFeed with the reason when neither is the case, and the fetch errors of `SafeHttpClient.get`
    (BlockedAddress, UpstreamRejected for a 404, ...) as they come.
    """
    response = await http.get(url, max_bytes=max_bytes)
    try:
        return FeedProbe(url=url, title=(await _parse(response)).title)
    except FeedParseError as exc:
        if looks_like_feed(response.body, response.content_type):
            raise NotAFeed(f"{url} looks like a feed, but wirewatch cannot read it ({exc})") from exc
        # A wrong guess at the charset can only garble non-ASCII text, and feed links are URLs.
        links = find_feed_links(response.body.decode(response.charset or "utf-8", errors="replace"), response.url)
        if not links:
            raise NotAFeed(f"{url} is not a feed ({exc}) and advertises no feed (no <link rel=\"alternate\"> to "
                           "RSS, Atom or JSON Feed): give the feed's own URL") from exc
    feed = await http.get(links[0], max_bytes=max_bytes)
    try:
        parsed = await _parse(feed)
    except FeedParseError as exc:
        raise NotAFeed(f"{url} advertises {links[0]}, which wirewatch cannot read as a feed ({exc})") from exc
    return FeedProbe(url=links[0], title=parsed.title, discovered_from=url, other_feeds=tuple(links[1:]))


async def _parse(response: HttpResponse) -> ParsedFeed:
    """The response read as a feed, off the event loop (a large feed takes a while: services.fetcher.poll)."""
    return await asyncio.to_thread(parse_feed, response.body, response.url)


class _EndOfHead(Exception):
    """Raised by the parser at the end of the head: alternate links belong there (HTML: not body-ok)."""


class _LinkParser(HTMLParser):
    """Collects the hrefs of feed `<link rel="alternate">` elements and the first `<base href>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base_href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _EndOfHead
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base_href is None and values.get("href"):
            self.base_href = values["href"]
        elif tag == "link":
            rels = values.get("rel", "").lower().split()
            media_type = values.get("type", "").split(";", 1)[0].strip().lower()
            href = values.get("href", "").strip()
            if "alternate" in rels and media_type in FEED_TYPES and href:
                self.hrefs.append(href)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            raise _EndOfHead
