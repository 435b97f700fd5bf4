"""When to poll a feed next, and what kind of failure a poll met (pure: no I/O).

The interval adapts to how often the feed publishes: a feed is polled about
POLLS_PER_ITEM_GAP times per average gap between its items (from the publication
dates of the entries it lists, over the last week), between the configured
bounds. Servers are listened to: a poll is never scheduled before the response's
Cache-Control max-age / Expires or the feed's own <ttl>, nor before a Retry-After.
Failures back off exponentially with jitter; a feed failing for `disable_after_s`
is disabled and only retried every `revive_interval_s` until it answers again.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from services.common.settings import Settings
from services.fetcher.parse import FeedParseError
from services.fetcher.politeness import RobotsDisallowed

POLLS_PER_ITEM_GAP = 4
RATE_WINDOW_S = 7 * 86400.0
MAX_BACKOFF_FACTOR = 32

#: What went wrong with a poll, as recorded per feed (feed health).
FAILURE_CLASSES = ("dns", "tls", "timeout", "network", "redirect", "http_4xx", "http_5xx", "rate_limited", "parse",
                   "bot_wall", "robots", "blocked", "too_large", "invalid_url")

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_BOT_WALL = re.compile(
    rb"(?:cf-chl|challenge-platform|just a moment\.\.\.|attention required|captcha|px-captcha|_incapsula_|"
    rb"ddos protection by|are you a robot|verify you are human)", re.IGNORECASE)


@dataclass(frozen=True)
class Policy:
    """The scheduling bounds, from the settings."""

    initial_interval_s: float
    min_interval_s: float
    max_interval_s: float
    disable_after_s: float
    revive_interval_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the settings describe (the minimum defaults to the initial interval)."""
        low = settings.poll_min_interval_s or settings.poll_interval_s
        return cls(initial_interval_s=settings.poll_interval_s, min_interval_s=low,
                   max_interval_s=max(low, settings.poll_max_interval_s),
                   disable_after_s=settings.feed_disable_after_hours * 3600.0,
                   revive_interval_s=settings.feed_revive_interval_hours * 3600.0)


def items_per_day(published: Iterable[datetime | None], now: float) -> float | None:
    """How many items a day the feed published over the last week, from its entries' dates.

    None when no entry carries a date (the caller keeps its earlier estimate). A feed only lists its
    latest entries; when they all fall inside the week the rate is measured over the span they cover.
    """
    stamps = sorted((d.timestamp() for d in published if d is not None), reverse=True)
    if not stamps:
        return None
    recent = [s for s in stamps if now - RATE_WINDOW_S <= s <= now + 3600]
    if not recent:
        return 0.0
    if len(recent) == len(stamps) and len(recent) > 1:
        # The feed's list is shorter than a week: its oldest entry bounds the window.
        span = max(3600.0, now - recent[-1])
        return len(recent) * 86400.0 / span
    return len(recent) * 86400.0 / RATE_WINDOW_S


def adaptive_interval(rate_per_day: float | None, policy: Policy) -> float:
    """Seconds between polls for a feed publishing `rate_per_day` items (None: not known yet)."""
    if rate_per_day is None:
        interval = policy.initial_interval_s
    elif rate_per_day <= 0:
        interval = policy.max_interval_s
    else:
        interval = 86400.0 / rate_per_day / POLLS_PER_ITEM_GAP
    return min(policy.max_interval_s, max(policy.min_interval_s, interval))


def cache_hint_s(headers: Mapping[str, str], now: float, ttl_minutes: float | None = None) -> float | None:
    """Seconds the server (Cache-Control max-age, else Expires) or the feed (<ttl>) asks us to wait."""
    hints: list[float] = []
    cache_control = headers.get("cache-control", "")
    match = _MAX_AGE.search(cache_control)
    if match:
        hints.append(float(match.group(1)))
    elif headers.get("expires"):
        try:
            hints.append(parsedate_to_datetime(headers["expires"]).timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if ttl_minutes:
        hints.append(ttl_minutes * 60.0)
    positive = [h for h in hints if h > 0]
    return max(positive) if positive else None


def next_poll_after_success(now: float, interval_s: float, hint_s: float | None, policy: Policy) -> float:
    """When to poll a feed that just answered: the adaptive interval, never before the server's hint,
    jittered so feeds added together drift apart."""
    wait = interval_s * random.uniform(0.9, 1.1)
    if hint_s is not None:  # jittered only upwards: never sooner than the server asked
        wait = max(wait, min(hint_s, policy.max_interval_s) * random.uniform(1.0, 1.1))
    return now + wait


def next_poll_after_failure(now: float, interval_s: float, consecutive_errors: int, retry_after_s: float | None,
                            disabled: bool, policy: Policy) -> float:
    """When to retry a feed whose poll failed: exponential backoff with full jitter on top of its interval,
    never before Retry-After; a disabled feed only every revive interval."""
    if disabled:
        return now + policy.revive_interval_s * random.uniform(0.9, 1.1)
    factor = float(min(2 ** max(0, consecutive_errors - 1), MAX_BACKOFF_FACTOR))
    wait = min(interval_s * factor, max(policy.max_interval_s, interval_s)) * random.uniform(0.5, 1.0)
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    return now + wait


def should_disable(failing_since: float | None, now: float, policy: Policy) -> bool:
    """Whether a feed has failed for long enough to be disabled (and only retried slowly)."""
    return failing_since is not None and now - failing_since >= policy.disable_after_s


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
