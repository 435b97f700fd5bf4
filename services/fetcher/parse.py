"""Feed bytes -> entries (pure). RSS 0.9x/1.0/2.0 and Atom via feedparser."""

from __future__ import annotations

import calendar
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser

from services.common.errors import InvalidUrl, Permanent
from services.common.urls import canonical_url


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
    """A parsed feed: its title and entries (entries without a usable link are dropped)."""

    title: str | None
    entries: list[ParsedEntry]


def parse_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """Parse a feed body; FeedParseError if it is not a feed.

    The body goes in as BytesIO: given a str, feedparser fetches URLs itself
    (no SSRF guard, no size cap) and opens strings that name local files.
    """
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": feed_url})
    version = parsed.get("version") or ""
    if not parsed.entries and (parsed.get("bozo") or not version):
        reason = parsed.get("bozo_exception")
        raise FeedParseError(f"not a feed: {type(reason).__name__ if reason else 'no entries'}: {reason}")
    entries: list[ParsedEntry] = []
    for entry in parsed.entries:
        link = entry.get("link") or _first_alternate(entry)
        if not link:
            continue
        try:
            url = canonical_url(link, base=feed_url)
        except InvalidUrl:
            continue
        entries.append(
            ParsedEntry(
                url=url,
                title=_clean(entry.get("title")),
                summary=_clean(entry.get("summary")),
                author=_clean(entry.get("author")),
                published=_date(entry.get("published_parsed") or entry.get("updated_parsed")),
            )
        )
    return ParsedFeed(title=_clean(parsed.feed.get("title")), entries=entries)


def _first_alternate(entry: dict[str, object]) -> str | None:
    links = entry.get("links")
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict) and link.get("rel", "alternate") == "alternate" and link.get("href"):
                return str(link["href"])
    return None


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _date(value: object) -> datetime | None:
    # feedparser normalises dates to UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None
