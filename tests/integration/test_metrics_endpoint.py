"""`/metrics` answers without a redirect and counts what an operator alerts on (issue 18, point 8): polls and
failures by class, items emitted, consumer lag per group, per-stage latency, stories and articles stored,
webhook deliveries by outcome. The whole pipeline runs in this process, as under `wirewatch up`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.api.app import create_app
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.demo.outlets import OutletServer
from services.extractor import service as extractor
from services.fetcher import service as fetcher
from services.fetcher.registry import FeedRegistry
from services.notifier import service as notifier
from services.notifier.subscriptions import Query, SubscriptionStore, subscribe
from services.notifier.webhooks import DeliveryQueue
from services.store import service as store
from tests.support.running import running, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

TEXT = ("The harbour authority of Port Elwin said on Tuesday that the northern breakwater had been breached by the "
        "storm surge overnight, flooding the fish market and two warehouses near the quay.\n\n"
        "Engineers from the regional water board inspected the damage on Wednesday, and the authority's director, "
        "Maren Tolvik, said repairs could take several months and would cost the town millions of kroner.")


class _Hooks(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def hook_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Hooks(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200, "no redirect to /metrics/"
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(value for (n, found), value in samples.items()
               if n == name and set(labels.items()) <= set(found))


async def test_metrics_count_the_pipeline_from_poll_to_webhook(settings: Settings, hook_url: str) -> None:
    now = datetime.now(UTC)
    with OutletServer() as outlets, TestClient(create_app(settings)) as api:
        outlet = outlets.add_outlet("harbour", "Harbour Gazette", "rss")
        outlet.add_article("breakwater", "Storm breaches Port Elwin breakwater", TEXT, now - timedelta(minutes=3))
        before = scrape(api)
        async with open_redis(settings) as redis:
            keys = Keys(settings.key_prefix)
            registry = FeedRegistry(redis, keys)
            await registry.add(outlet.feed_url, "Harbour Gazette")
            await registry.add(outlets.base_url + "/gone/feed.xml", "Gone")  # answers 404
            subscriptions = SubscriptionStore(redis, keys)
            await subscribe(subscriptions, DeliveryQueue(redis, keys), hook_url, Query(keywords=["breakwater"]))

            async def delivered() -> float:
                return total(scrape(api), "wirewatch_webhook_deliveries_total", outcome="delivered") - total(
                    before, "wirewatch_webhook_deliveries_total", outcome="delivered")

            async with running(store.main, settings), running(extractor.main, settings), \
                    running(fetcher.main, settings), running(notifier.main, settings):
                # The test ping and the alert about the story.
                await wait_for(lambda: _at_least(delivered, 2), timeout=120, what="two webhooks delivered")
                after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("wirewatch_feed_polls_total", outcome="changed") >= 1
    assert grew("wirewatch_feed_polls_total", outcome="failed") >= 1
    assert grew("wirewatch_feed_poll_failures_total", failure_class="http_4xx") >= 1
    assert grew("wirewatch_feed_items_emitted_total") >= 1
    assert grew("wirewatch_articles_stored_total") >= 1
    assert grew("wirewatch_story_events_total", event="created") >= 1
    for stage in ("extracted", "stored", "story", "delivered"):
        assert grew("wirewatch_stage_latency_seconds_count", stage=stage) >= 1, stage
    groups = {dict(labels)["group"] for name, labels in after if name == "wirewatch_consumer_lag"}
    assert {f"{settings.topic_prefix}{g}" for g in ("extractor", "store", "notifier")} <= groups
    assert total(after, "wirewatch_articles") >= 1 and total(after, "wirewatch_stories") >= 1
    assert total(after, "wirewatch_entities") >= 1  # the article's people and places, in the alias table


async def _at_least(count: object, n: float) -> bool:
    return bool(await count() >= n)  # type: ignore[operator]
