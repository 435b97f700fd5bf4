"""WebSub against a fake hub, the real API and a real Redis: subscribe, verification of intent, signed pushes
that make the feed due now, unsigned ones ignored, lease renewal, and polling relaxed while the hub pushes."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.bus import Bus
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.redis import open_redis
from services.common.settings import Settings
from services.fetcher.politeness import HostGate
from services.fetcher.registry import FeedRegistry
from services.fetcher.service import Fetcher
from services.fetcher.websub import WebSubStore
from tests.support.outlets import OutletServer

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

TEXT = "The harbour authority said the breakwater was breached overnight. " * 8


class FakeHub:
    """A WebSub hub that records subscription requests and answers 202."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                hub.requests.append({k: v[0] for k, v in parse_qs(body).items()})
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    yield fake
    fake.close()


@asynccontextmanager
async def fetcher_for(settings: Settings) -> AsyncIterator[tuple[Fetcher, FeedRegistry, WebSubStore]]:
    async with open_redis(settings) as redis, SafeHttpClient.from_settings(settings) as http, \
            Bus(settings, client_id="test-websub") as bus:
        keys = Keys(settings.key_prefix)
        registry = FeedRegistry(redis, keys)
        yield (Fetcher(settings, registry=registry, ledger=Ledger(redis, keys, seen_ttl_s=3600), http=http, bus=bus,
                       gate=HostGate(redis, keys, concurrency=2, min_delay_s=0)),
               registry, WebSubStore(redis, keys))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_subscribe_verify_push_and_renew(settings: Settings, hub: FakeHub) -> None:
    settings = settings.model_copy(update={"websub_callback_url": "https://wirewatch.example/",
                                           "poll_interval_s": 60.0, "poll_min_interval_s": 60.0,
                                           "poll_max_interval_s": 3600.0})
    with OutletServer() as server:
        outlet = server.add_outlet("pushy", "Pushy", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        self_url = f"{server.base_url}/pushy/push.xml"
        rss = outlet.render_feed().replace(
            b"<channel>", f'<channel><atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" href="{hub.url}"/>'
            f'<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="self" href="{self_url}"/>'.encode(), 1)
        server.add_raw("/pushy/push.xml", rss, "application/rss+xml")
        async with fetcher_for(settings) as (fetcher, registry, websub):
            feed = await registry.add(self_url, "Pushy")
            await fetcher.poll(feed)
            assert len(hub.requests) == 1
            asked = hub.requests[0]
            assert asked["hub.mode"] == "subscribe" and asked["hub.topic"] == self_url
            assert asked["hub.callback"] == f"https://wirewatch.example/v1/websub/{feed.id}"
            assert len(asked["hub.secret"]) == 64 and int(asked["hub.lease_seconds"]) == 10 * 86400
            await fetcher.poll(feed)
            assert len(hub.requests) == 1, "a request awaiting verification is not repeated at once"

            with TestClient(create_app(settings)) as api:
                path = f"/v1/websub/{feed.id}"
                wrong = api.get(path, params={"hub.mode": "subscribe", "hub.topic": "https://evil.example/",
                                              "hub.challenge": "c1"})
                assert wrong.status_code == 404
                assert api.post(path, content=b"x", headers={"X-Hub-Signature": sign(asked["hub.secret"], b"x")},
                                ).status_code == 404, "no push before the hub verified the subscription"
                verified = api.get(path, params={"hub.mode": "subscribe", "hub.topic": self_url,
                                                 "hub.challenge": "c2", "hub.lease_seconds": str(10 * 86400)})
                assert verified.status_code == 200 and verified.text == "c2"

                later = time.time() + 3000
                await registry.record_poll(feed.id, await registry.state(feed.id), later)
                forged = api.post(path, content=rss, headers={"X-Hub-Signature": sign("not-the-secret", rss)})
                assert forged.status_code == 202
                assert (await registry.state(feed.id)).next_poll == pytest.approx(later), "a forged push is ignored"
                pushed = api.post(path, content=rss, headers={"X-Hub-Signature": sign(asked["hub.secret"], rss)})
                assert pushed.status_code == 202
                due = (await registry.state(feed.id)).next_poll
                assert due is not None and due <= time.time(), "a signed push makes the feed due now"
                assert api.post("/v1/websub/unknown", content=b"x").status_code == 404

            await fetcher.poll(feed)
            state = await registry.state(feed.id)
            assert state.interval_s == 3600.0, "while the hub pushes, polling is only a safety net"
            assert len(hub.requests) == 1

            # A day before the lease ends the subscription is renewed.
            subscription = await websub.get(feed.id)
            assert subscription is not None and subscription.state == "active"
            await websub.save(subscription.model_copy(update={"lease_expires": time.time() + 3600}))
            await fetcher.poll(feed)
            assert len(hub.requests) == 2
            assert hub.requests[1]["hub.secret"] == asked["hub.secret"], "a renewal keeps the secret"
            renewing = await websub.get(feed.id)
            assert renewing is not None and renewing.state == "active", "pushes still count until re-verified"


async def test_without_a_callback_url_feeds_are_only_polled(settings: Settings, hub: FakeHub) -> None:
    with OutletServer() as server:
        outlet = server.add_outlet("plain", "Plain", "rss")
        outlet.add_article("a", "A story", TEXT, datetime.now(UTC))
        rss = outlet.render_feed().replace(
            b"<channel>", f'<channel><atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="hub" '
            f'href="{hub.url}"/>'.encode(), 1)
        url = server.add_raw("/plain/hubbed.xml", rss, "application/rss+xml")
        async with fetcher_for(settings) as (fetcher, registry, websub):
            feed = await registry.add(url, "Plain")
            assert await fetcher.poll(feed) == 1
            assert await websub.get(feed.id) is None
    assert hub.requests == []
