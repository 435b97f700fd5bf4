"""The Prometheus metrics every service counts, defined once (the API serves them at `/metrics`; a service run
alone serves them on WIREWATCH_METRICS_PORT). `deploy/prometheus/alerts.yml` and
`deploy/grafana/wirewatch.json` are written against these names (tests/unit/test_deploy_monitoring.py).

The stages of an article's way, each timed from the step before it (`wirewatch_stage_latency_seconds`):

    extracted   feed item first seen by the fetcher -> its article extracted (fetch, extraction, tagging)
    stored      article extracted -> stored by the store (the articles topic, placement)
    story       article stored -> its story event published
    delivered   webhook queued for a subscriber (on the story event) -> delivered (retries included)
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ARTICLES", "ARTICLES_STORED", "CONSUMER_LAG", "DEAD_LETTERED", "FEED_ITEMS_EMITTED", "FEED_POLLS",
    "FEED_POLL_FAILURES", "MESSAGES", "STAGES", "STAGE_LATENCY", "STORIES", "STORY_EVENTS", "WEBHOOK_DELIVERIES",
    "count_delivery", "count_poll", "count_stored", "observe_stage",
]

# --- the bus ---------------------------------------------------------------------------------------------
MESSAGES = Counter("wirewatch_messages_total", "Messages handled, by stage and outcome (ok, dead_letter)",
                   ["stage", "outcome"])
DEAD_LETTERED = Counter("wirewatch_dead_letters_total", "Messages sent to dead letters, by stage and error type",
                        ["stage", "error"])
CONSUMER_LAG = Gauge("wirewatch_consumer_lag", "Messages behind the partitions' high-water marks, per consumer "
                     "group and topic (this process's share of the partitions)", ["group", "topic"])

# --- fetcher ---------------------------------------------------------------------------------------------
FEED_POLLS = Counter("wirewatch_feed_polls_total", "Feed polls, by outcome: changed (a new body read), unchanged "
                     "(304 or the same bytes), failed", ["outcome"])
FEED_POLL_FAILURES = Counter("wirewatch_feed_poll_failures_total", "Failed feed polls, by failure class (dns, tls, "
                             "timeout, network, redirect, http_4xx, http_5xx, rate_limited, parse, bot_wall, robots, "
                             "blocked, too_large, invalid_url)", ["failure_class"])
FEED_ITEMS_EMITTED = Counter("wirewatch_feed_items_emitted_total", "Feed items emitted for extraction (each URL once)")

# --- extractor: the entity alias table --------------------------------------------------------------------
ENTITIES = Gauge("wirewatch_entities", "Entities the alias table holds (read by the API when scraped)")
ENTITIES_FORGOTTEN = Counter("wirewatch_entities_forgotten_total", "Entities the alias table forgot: no article "
                             "named them within the retention (WIREWATCH_RETENTION_DAYS)")

# --- store -----------------------------------------------------------------------------------------------
ARTICLES_STORED = Counter("wirewatch_articles_stored_total", "Articles stored (new ones and new revisions)")
STORY_EVENTS = Counter("wirewatch_story_events_total", "Story events published, by event (created, updated, "
                       "merged)", ["event"])
ARTICLES = Gauge("wirewatch_articles", "Articles held in Redis (read by the API when scraped)")
STORIES = Gauge("wirewatch_stories", "Stories held in Redis (read by the API when scraped)")

# --- notifier --------------------------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter("wirewatch_webhook_deliveries_total", "Webhook delivery attempts, by outcome: delivered, "
                             "retrying (scheduled again), failed (attempts used up: the endpoint is paused), dropped "
                             "(the claim had expired)", ["outcome"])

# --- latency ---------------------------------------------------------------------------------------------
STAGES = ("extracted", "stored", "story", "delivered")
STAGE_LATENCY = Histogram(
    "wirewatch_stage_latency_seconds", "Seconds each stage of an article's way took (see services.common.metrics)",
    ["stage"],
    # From a story event published in milliseconds to a webhook retried over hours.
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 14400),
)


def observe_stage(stage: str, since: datetime | float, until: datetime | float) -> None:
    """Record that `stage` took from `since` to `until` (datetimes, or Unix times); clock skew is clipped to 0."""
    start = since.timestamp() if isinstance(since, datetime) else since
    end = until.timestamp() if isinstance(until, datetime) else until
    STAGE_LATENCY.labels(stage).observe(max(0.0, end - start))


def count_poll(*, failure_class: str | None, changed: bool, emitted: int) -> None:
    """Count one feed poll (failed when it has a failure class) and the items it emitted."""
    if failure_class is not None:
        FEED_POLLS.labels("failed").inc()
        FEED_POLL_FAILURES.labels(failure_class).inc()
    else:
        FEED_POLLS.labels("changed" if changed else "unchanged").inc()
    FEED_ITEMS_EMITTED.inc(emitted)


def count_stored(*, fetched_at: datetime, stored_at: datetime, published_at: datetime, revision: int) -> None:
    """Count an article stored, timing its `stored` stage (extracted -> stored) and its `story` stage (stored ->
    story event published at `published_at`); a later revision keeps its first `stored_at`, so it is not timed."""
    ARTICLES_STORED.inc()
    if revision <= 1:
        observe_stage("stored", fetched_at, stored_at)
        observe_stage("story", stored_at, published_at)


#: A delivery's state after an attempt -> the outcome counted.
_DELIVERY_OUTCOMES = {"delivered": "delivered", "pending": "retrying", "failed": "failed"}


def count_delivery(state: str | None, *, queued_at: float, now: float) -> None:
    """Count one webhook attempt by the state it left the delivery in (None: the claim had expired), timing the
    `delivered` stage when it was delivered."""
    WEBHOOK_DELIVERIES.labels("dropped" if state is None else _DELIVERY_OUTCOMES.get(state, state)).inc()
    if state == "delivered":
        observe_stage("delivered", queued_at, now)
