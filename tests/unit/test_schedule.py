"""Adaptive polling intervals, server hints, backoff and failure classes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from services.common.http import UpstreamBusy
from services.fetcher.parse import FeedParseError
from services.fetcher.politeness import RobotsDisallowed
from services.fetcher.schedule import (
    FAILURE_CLASSES,
    Policy,
    adaptive_interval,
    cache_hint_s,
    failure_class,
    items_per_day,
    next_poll_after_failure,
    next_poll_after_success,
    should_disable,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
T = NOW.timestamp()
POLICY = Policy(initial_interval_s=60, min_interval_s=60, max_interval_s=3600, disable_after_s=3 * 86400,
                revive_interval_s=86400)


def test_rate_from_entry_dates_over_the_last_week() -> None:
    hourly = [NOW - timedelta(hours=h) for h in range(20)]
    assert items_per_day(hourly, T) == pytest.approx(20 * 24 / 19, rel=0.01)  # 20 items over 19 hours
    daily = [NOW - timedelta(days=d) for d in range(30)]  # a month listed: only the last week counts
    assert items_per_day(daily, T) == pytest.approx(8 / 7, rel=0.01)
    assert items_per_day([NOW - timedelta(days=40)], T) == 0.0
    assert items_per_day([None, None], T) is None


def test_interval_adapts_between_the_bounds() -> None:
    assert adaptive_interval(None, POLICY) == 60  # unknown: the initial interval
    assert adaptive_interval(1000, POLICY) == 60  # busy feed: the floor
    assert adaptive_interval(24, POLICY) == pytest.approx(900)  # an item an hour: polled 4 times an hour
    assert adaptive_interval(1, POLICY) == 3600  # a daily feed: the ceiling
    assert adaptive_interval(0.0, POLICY) == 3600


def test_cache_control_expires_and_ttl_are_honoured() -> None:
    assert cache_hint_s({"cache-control": "public, max-age=600"}, T) == 600
    expires = (NOW + timedelta(minutes=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert cache_hint_s({"expires": expires}, T) == pytest.approx(1800)
    assert cache_hint_s({"cache-control": "max-age=60", "expires": expires}, T) == 60  # max-age wins
    assert cache_hint_s({}, T, ttl_minutes=15) == 900
    assert cache_hint_s({"expires": "garbage"}, T) is None
    assert cache_hint_s({"cache-control": "no-cache"}, T) is None
    # never before the hint, but a hint beyond the ceiling is capped
    assert all(next_poll_after_success(T, 60, 600, POLICY) - T >= 600 for _ in range(50))
    assert next_poll_after_success(T, 60, 10 * 86400, POLICY) - T <= 3600 * 1.1


def test_failures_back_off_with_jitter_and_respect_retry_after() -> None:
    waits = [next_poll_after_failure(T, 60, n, None, False, POLICY) - T for n in (1, 2, 3, 4, 5, 6, 7, 8)]
    assert 30 <= waits[0] <= 60
    assert all(w <= 3600 for w in waits)
    assert max(waits[5:]) > 60 * 8 / 2  # grows with each failure
    assert next_poll_after_failure(T, 60, 1, 7200.0, False, POLICY) - T >= 7200
    revive = next_poll_after_failure(T, 60, 50, None, True, POLICY) - T
    assert 0.9 * 86400 <= revive <= 1.1 * 86400


def test_a_feed_is_disabled_after_failing_for_days() -> None:
    assert not should_disable(None, T, POLICY)
    assert not should_disable(T - 86400, T, POLICY)
    assert should_disable(T - 3 * 86400, T, POLICY)


@pytest.mark.parametrize(("error", "body", "kind"), [
    (UpstreamTimeout("slow"), None, "timeout"),
    (UpstreamUnavailable("cannot resolve nowhere.example: Name or service not known"), None, "dns"),
    (UpstreamUnavailable("x: [SSL: CERTIFICATE_VERIFY_FAILED]"), None, "tls"),
    (UpstreamUnavailable("connection refused"), None, "network"),
    (UpstreamBusy("x: HTTP 503", status=503), None, "http_5xx"),
    (UpstreamBusy("x: HTTP 429", status=429, retry_after_s=60), None, "rate_limited"),
    (UpstreamRejected("x: HTTP 404", status=404), None, "http_4xx"),
    (UpstreamRejected("x: redirect loop", status=302), None, "redirect"),
    (FeedParseError("not a feed"), b"<html><title>Just a moment...</title>cf-chl</html>", "bot_wall"),
    (FeedParseError("not a feed"), b"<html><p>hello</p></html>", "parse"),
    (RobotsDisallowed("no"), None, "robots"),
    (BlockedAddress("ssrf"), None, "blocked"),
    (ResponseTooLarge("big"), None, "too_large"),
    (InvalidUrl("bad"), None, "invalid_url"),
])
def test_failure_classes(error: Exception, body: bytes | None, kind: str) -> None:
    assert failure_class(error, body) == kind
    assert kind in FAILURE_CLASSES, "every class is one the feed health documents"
