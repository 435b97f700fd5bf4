"""One poll of one feed, as data: a polite conditional GET, the body parsed, a PollOutcome.

`poll_feed` writes nothing and emits nothing. What a feed or its server does wrong (any
`WirewatchError`) is not raised but returned: a failed outcome with its failure class (one of
FAILURE_CLASSES, what the feed's health shows). The service publishes the outcome's entries and
`schedule.next_state` turns it into the feed's next state and next poll.

Parsing runs off the event loop. A body of up to `max_feed_bytes` (10 MB) with up to
MAX_ENTRIES entries takes feedparser or lxml seconds of CPU, and the loop must keep sending the
producer's acknowledgements, the heartbeat and the other polls' requests meanwhile. The parse goes
to a thread of the loop's default executor (`asyncio.to_thread`), not to a process pool: the fetcher
waits on the network far more than it computes, so what is needed is a loop that is not held, not
a second core; a thread shares the body without copying 10 MB to a worker and 10,000 entries
back, and needs no pool to start and stop. feedparser is pure Python and holds the GIL, but the
interpreter hands it to the loop's thread every switch interval (5 ms), so the loop stays
responsive. Hashing the body stays on the loop: sha256 reads 10 MB in about 10 ms.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    WirewatchError,
)
from services.common.http import HttpResponse
from services.common.logging import get_logger
from services.fetcher.parse import FeedParseError, ParsedEntry, parse_feed
from services.fetcher.politeness import RobotsDisallowed
from services.fetcher.registry import Feed, FeedState

log = get_logger(__name__)

#: Child sitemaps of a sitemap index read per poll, newest first: news lives in the newest ones, the
#: rest of an index is the archive.
SITEMAP_CHILDREN = 2

#: What went wrong with a poll, as recorded per feed (feed health).
FAILURE_CLASSES = ("dns", "tls", "timeout", "network", "redirect", "http_4xx", "http_5xx", "rate_limited", "parse",
                   "bot_wall", "robots", "blocked", "too_large", "invalid_url")

_BOT_WALL = re.compile(
    rb"(?:cf-chl|challenge-platform|just a moment\.\.\.|attention required|captcha|px-captcha|_incapsula_|"
    rb"ddos protection by|are you a robot|verify you are human)", re.IGNORECASE)


class Getter(Protocol):
    """How a poll GETs a feed (services.fetcher.politeness.PoliteClient)."""

    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """The response to a GET of `url`, or a WirewatchError."""
        ...


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a feed found."""

    status: int | None
    """The HTTP status (304 included); for a failure, the status the error carries, if any."""
    changed: bool = False
    """A new body was read and parsed: not a 304, and not the same bytes as last time."""
    entries: tuple[ParsedEntry, ...] = ()
    """The new body's entries (a sitemap index's: its newest children's); empty unless `changed`."""
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    """The validators of the new body, for the next conditional GET; None unless `changed`."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The response's headers (lower-case names): the schedule reads Cache-Control and Expires in them."""
    ttl_minutes: float | None = None
    """The feed's own <ttl>, when the new body gives one."""
    hub: str | None = None
    topic: str | None = None
    """The WebSub hub the new body advertises, and the topic URL it names itself by."""
    error: WirewatchError | None = None
    """Why the poll failed; None when the server answered with a feed (or with nothing new)."""
    failure_class: str | None = None
    """The error's class, one of FAILURE_CLASSES."""
    retry_after_s: float | None = None
    """The server's Retry-After, when it refused with one."""

    @property
    def ok(self) -> bool:
        """Whether the feed answered (with new entries or with nothing new)."""
        return self.error is None


async def poll_feed(client: Getter, feed: Feed, state: FeedState) -> PollOutcome:
    """Poll `feed` once through `client`: a conditional GET with the validators in `state`, the body parsed
    when it changed, a sitemap index read through its newest children."""
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    body: bytes | None = None  # what the server sent, once it is known not to be the last body again
    try:
        response = await client.get(feed.url, headers)
        if response.status == 304:
            return PollOutcome(status=304, headers=response.headers)
        digest = hashlib.sha256(response.body).hexdigest()[:32]
        if digest == state.body_hash:
            # An unchanged body is a 304 the server did not know how to send.
            return PollOutcome(status=response.status, headers=response.headers)
        body = response.body
        parsed = await asyncio.to_thread(parse_feed, body, response.url)
        entries = list(parsed.entries)
        if parsed.sitemaps:
            entries += await _sitemap_children(client, feed, parsed.sitemaps[:SITEMAP_CHILDREN])
    except WirewatchError as exc:
        return PollOutcome(status=getattr(exc, "status", None), error=exc, failure_class=failure_class(exc, body),
                           retry_after_s=getattr(exc, "retry_after_s", None))
    return PollOutcome(status=response.status, changed=True, entries=tuple(entries), etag=response.headers.get("etag"),
                       last_modified=response.headers.get("last-modified"), body_hash=digest,
                       headers=response.headers, ttl_minutes=parsed.ttl_minutes, hub=parsed.hub,
                       topic=parsed.self_url)


async def _sitemap_children(client: Getter, feed: Feed, urls: list[str]) -> list[ParsedEntry]:
    """The entries of a sitemap index's newest child sitemaps (each fetched as politely as a feed).

    A child that fails is logged and skipped: the index itself answered, and the other children count.
    """
    entries: list[ParsedEntry] = []
    for url in urls:
        try:
            response = await client.get(url)
            entries += (await asyncio.to_thread(parse_feed, response.body, response.url)).entries
        except WirewatchError as exc:
            log.warning("feed.sitemap_failed", feed_id=feed.id, url=url, error=str(exc), failure=failure_class(exc))
    return entries


def failure_class(error: BaseException, body: bytes | None = None) -> str:
    """The failure class of a poll's error (one of FAILURE_CLASSES). `body` is what the server sent when
    it was not a feed: a bot wall's challenge page is told apart from a broken feed by it."""
    message = str(error).lower()
    if isinstance(error, RobotsDisallowed):
        return "robots"
    if isinstance(error, FeedParseError):
        return "bot_wall" if body is not None and _BOT_WALL.search(body[:65536]) else "parse"
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, BlockedAddress):
        return "blocked"
    if isinstance(error, ResponseTooLarge):
        return "too_large"
    if isinstance(error, InvalidUrl):
        return "invalid_url"
    if isinstance(error, UpstreamRejected):
        rejected = error.status or 0
        if 300 <= rejected < 400:
            return "redirect"  # a loop, too many hops, a downgrade or a redirect without Location
        return "http_4xx" if 400 <= rejected < 500 else "network"
    if isinstance(error, UpstreamUnavailable):
        status: int | None = getattr(error, "status", None)
        if status == 429:
            return "rate_limited"
        if status is not None and status >= 500:
            return "http_5xx"
        if "resolve" in message or "name or service" in message:
            return "dns"
        if "ssl" in message or "tls" in message or "certificate" in message:
            return "tls"
        return "network"
    return "network"
