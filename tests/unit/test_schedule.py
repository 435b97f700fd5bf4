"""Adaptive polling intervals, server hints, backoff, and a poll's outcome turned into the next state (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import UpstreamRejected
from services.common.http import UpstreamBusy
from services.fetcher.parse import ParsedEntry
from services.fetcher.poll import PollOutcome
from services.fetcher.registry import FeedState
from services.fetcher.schedule import (
    Policy,
    adaptive_interval,
    cache_hint_s,
    items_per_day,
    next_poll_after_failure,
    next_poll_after_success,
    next_state,
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


def entries(*hours_ago: float) -> tuple[ParsedEntry, ...]:
    return tuple(ParsedEntry(url=f"https://news.example/{n}", title=None, summary=None, author=None,
                             published=NOW - timedelta(hours=h)) for n, h in enumerate(hours_ago))


FAILING = FeedState(etag='"v1"', body_hash="h1", items_per_day=24.0, interval_s=900.0, consecutive_errors=2,
                    failing_since=T - 3600, last_error="UpstreamTimeout: slow", failure_class="timeout",
                    items_total=5, polls_total=7)


def test_an_answer_with_a_new_body_records_validators_rate_and_resets_the_failures() -> None:
    outcome = PollOutcome(status=200, changed=True, entries=entries(*range(20)), etag='"v2"', last_modified="lm",
                          body_hash="h2", headers={"cache-control": "max-age=600"})
    state = next_state(FAILING, outcome, T, POLICY, emitted=3)
    assert (state.etag, state.last_modified, state.body_hash) == ('"v2"', "lm", "h2")
    assert state.items_per_day == pytest.approx(20 * 24 / 19, rel=0.01)
    assert state.interval_s == pytest.approx(855, rel=0.01)  # polled four times per gap between items
    assert state.next_poll is not None and state.next_poll - T >= 600  # the server's max-age
    assert (state.last_status, state.last_poll, state.last_success) == (200, T, T)
    assert (state.consecutive_errors, state.failing_since, state.last_error, state.failure_class) == (0, None, None,
                                                                                                       None)
    assert (state.items_total, state.polls_total) == (8, 8)


def test_nothing_new_keeps_the_validators_and_the_rate_measured_before() -> None:
    state = next_state(FAILING, PollOutcome(status=304), T, POLICY)
    assert (state.etag, state.body_hash, state.items_per_day) == ('"v1"', "h1", 24.0)
    assert state.interval_s == pytest.approx(900)  # an item an hour, from the earlier estimate
    assert state.last_status == 304 and state.consecutive_errors == 0 and state.items_total == 5
    assert state.next_poll is not None and 0.9 * 900 <= state.next_poll - T <= 1.1 * 900


def test_a_hub_that_pushes_leaves_polling_at_the_longest_interval() -> None:
    state = next_state(FeedState(), PollOutcome(status=200, changed=True, entries=entries(1, 2)), T, POLICY,
                       emitted=2, pushing=True)
    assert state.interval_s == POLICY.max_interval_s


def test_a_failure_extends_the_run_backs_off_and_honours_retry_after() -> None:
    busy = UpstreamBusy("x: HTTP 503", status=503, retry_after_s=7200.0)
    outcome = PollOutcome(status=503, error=busy, failure_class="http_5xx", retry_after_s=7200.0)
    state = next_state(FAILING, outcome, T, POLICY)
    assert (state.consecutive_errors, state.failing_since, state.failure_class) == (3, T - 3600, "http_5xx")
    assert state.last_error == "UpstreamBusy: x: HTTP 503" and state.last_status == 503
    assert state.interval_s == 900 and (state.etag, state.items_per_day) == ('"v1"', 24.0)  # kept
    assert state.last_success is None and not state.disabled and state.polls_total == 8
    assert state.next_poll is not None and state.next_poll - T >= 7200


def test_a_feed_failing_for_days_is_disabled_and_revived_by_its_next_answer() -> None:
    gone = PollOutcome(status=410, error=UpstreamRejected("x: HTTP 410", status=410), failure_class="http_4xx")
    first = next_state(FeedState(), gone, T, POLICY)
    assert first.failing_since == T and first.consecutive_errors == 1 and not first.disabled
    disabled = next_state(first, gone, T + 3 * 86400, POLICY)
    assert disabled.disabled and disabled.failing_since == T
    assert disabled.next_poll is not None and disabled.next_poll - (T + 3 * 86400) >= 0.9 * 86400
    revived = next_state(disabled, PollOutcome(status=200, changed=True, entries=entries(1)), T + 4 * 86400, POLICY,
                         emitted=1)
    assert not revived.disabled and revived.failing_since is None and revived.items_total == 1
