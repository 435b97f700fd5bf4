"""Registering a feed that explains itself (the API's `POST /v1/feeds` and `wirewatch feeds add`).

The URL is fetched once, now, through the SSRF-safe client and read by the fetcher's own code
(services.fetcher.discovery.probe_feed): a feed is registered under its own title, a site's page
under the feed it advertises, and anything else is refused with the reason, before it could fail
quietly at its first poll. `force` registers what cannot be fetched today (a feed that is down),
with the reason as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api.schemas import FeedRegistered, feed_public
from services.common.errors import BlockedAddress, InvalidUrl, WirewatchError
from services.common.http import SafeHttpClient
from services.common.settings import Settings
from services.common.urls import canonical_url
from services.fetcher.discovery import NotAFeed, probe_feed
from services.fetcher.registry import Feed, FeedRegistry


class RegistrationRefused(Exception):
    """The URL is not a feed wirewatch can poll (the message says why and what to do)."""


@dataclass(frozen=True)
class Registration:
    """What registering a URL did."""

    feed: Feed
    created: bool
    discovered_from: str | None = None
    other_feeds: tuple[str, ...] = ()
    warning: str | None = None

    @property
    def message(self) -> str:
        """One sentence for people: added, or already registered (and under which name)."""
        if not self.created:
            return f"already registered as {self.feed.name!r} (left as it was)"
        found = f", discovered on {self.discovered_from}" if self.discovered_from else ""
        return f"added feed {self.feed.url} as {self.feed.name!r}{found}"


async def register_feed(registry: FeedRegistry, settings: Settings, url: str, *, name: str | None = None,
                        force: bool = False) -> Registration:
    """Fetch `url` once and register the feed it is (or advertises); a URL already registered is left as it is.

    Raises InvalidUrl for a URL wirewatch never fetches, and RegistrationRefused (unless `force`) when the URL
    cannot be fetched or read as a feed now.
    """
    canonical_url(url)  # InvalidUrl before anything is fetched
    existing = await registry.find(url)
    if existing is not None:
        return Registration(existing, created=False)
    try:
        async with SafeHttpClient.from_settings(settings) as http:
            probe = await probe_feed(http, url, max_bytes=settings.max_feed_bytes)
    except WirewatchError as exc:
        reason = refusal(url, exc)
        if not force:
            raise RegistrationRefused(reason) from exc
        return Registration(await registry.add(url, name), created=True, warning=reason)
    if probe.discovered_from is not None:
        existing = await registry.find(probe.url)
        if existing is not None:
            return Registration(existing, created=False, discovered_from=probe.discovered_from,
                                other_feeds=probe.other_feeds)
    feed = await registry.add(probe.url, name or probe.title, title=probe.title, html_url=probe.discovered_from)
    return Registration(feed, created=True, discovered_from=probe.discovered_from, other_feeds=probe.other_feeds)


def refusal(url: str, error: WirewatchError) -> str:
    """Why `url` cannot be registered, and what would change that."""
    if isinstance(error, BlockedAddress | NotAFeed):
        return str(error)  # the guard's refusal names WIREWATCH_ALLOW_NETWORKS; NotAFeed says what the URL is
    if isinstance(error, InvalidUrl):
        return f"invalid feed URL: {error}"
    return (f"cannot fetch {url}: {error}; if the feed is only down today, register it anyway with force "
            "(API: \"force\": true; CLI: --force)")


async def registered_public(registry: FeedRegistry, registration: Registration) -> FeedRegistered:
    """The registration as the API and the CLI's --json show it."""
    public: dict[str, Any] = feed_public(registration.feed, await registry.state(registration.feed.id)).model_dump()
    return FeedRegistered(**public, already_registered=not registration.created, message=registration.message,
                          discovered_from=registration.discovered_from, other_feeds=list(registration.other_feeds),
                          warning=registration.warning)
