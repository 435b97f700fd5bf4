"""When to poll a feed next (pure: no I/O and no clock; only the jitter is random).

`next_state` is the one rule: what a poll found (services.fetcher.poll.PollOutcome) and the feed's
previous state give the feed's next state, its health and when to poll it next.

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

from services.common.settings import Settings
from services.fetcher.poll import PollOutcome
from services.fetcher.registry import FeedState

POLLS_PER_ITEM_GAP = 4
RATE_WINDOW_S = 7 * 86400.0
MAX_BACKOFF_FACTOR = 32

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


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


def next_state(previous: FeedState, outcome: PollOutcome, now: float, policy: Policy, *, emitted: int = 0,
               pushing: bool = False) -> FeedState:
    """The feed's state after a poll that started at `now` and found `outcome`, `next_poll` included.

    `emitted` is how many of the outcome's entries were new (published); `pushing` whether the feed's
    WebSub hub pushes its updates, which leaves polling as a safety net at the longest interval.
    An answer resets the run of failures (and revives a disabled feed); a failure extends it, backs
    off, and disables the feed once it has lasted `policy.disable_after_s`.
    """
    interval = previous.interval_s or policy.initial_interval_s
    update: dict[str, object] = {"last_poll": now, "polls_total": previous.polls_total + 1,
                                 "last_status": outcome.status}
    if outcome.ok:
        rate = previous.items_per_day
        if outcome.changed:
            measured = items_per_day((entry.published for entry in outcome.entries), now)
            if measured is not None:
                rate = update["items_per_day"] = measured
            update.update(etag=outcome.etag, last_modified=outcome.last_modified, body_hash=outcome.body_hash)
        interval = policy.max_interval_s if pushing else adaptive_interval(rate, policy)
        update.update(last_success=now, last_error=None, failure_class=None, failing_since=None, disabled=False,
                      consecutive_errors=0, items_total=previous.items_total + emitted, interval_s=interval,
                      next_poll=next_poll_after_success(now, interval, cache_hint_s(outcome.headers, now,
                                                                                    outcome.ttl_minutes), policy))
    else:
        failing_since = previous.failing_since or now
        disabled = should_disable(failing_since, now, policy)
        errors = previous.consecutive_errors + 1
        update.update(last_error=f"{type(outcome.error).__name__}: {outcome.error}",
                      failure_class=outcome.failure_class, failing_since=failing_since, disabled=disabled,
                      consecutive_errors=errors, interval_s=interval,
                      next_poll=next_poll_after_failure(now, interval, errors, outcome.retry_after_s, disabled, policy))
    return previous.model_copy(update=update)
