"""Webhook delivery against a real Redis and a local receiver: signed once per id, retries through an
outage, give-up and pause, replay, concurrent senders, duplicate enqueues and a slow receiver."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.notifier.webhooks import Deliverer, DeliveryQueue, WebhookDelivery, generate_secret, verify

pytestmark = pytest.mark.integration

SECRET = generate_secret()
#: Hours made into fractions of a second: every test sees the whole schedule.
FAST_SCHEDULE = (0.05, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)


@dataclass
class Received:
    path: str
    msg_id: str
    valid: bool
    answered: int
    at: float
    body: bytes


class _Server(ThreadingHTTPServer):
    """The receiver's server: a backlog for bursts of concurrent webhooks (the default of 5 resets them)."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class Receiver:
    """A local webhook endpoint. `modes[path]`: "ok" (200), "fail" (500), "gone" (410) or "slow:<s>"
    (sleeps, then 200); default "ok". Records every request it answers."""

    port: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                mode = receiver.modes.get(self.path, "ok")
                status = {"fail": 500, "gone": 410}.get(mode, 200)
                if mode.startswith("slow:"):
                    time.sleep(float(mode.split(":", 1)[1]))
                with receiver.lock:
                    receiver.received.append(Received(
                        path=self.path, msg_id=self.headers.get("webhook-id", ""),
                        valid=verify(SECRET, dict(self.headers.items()), body)
                        and self.headers.get("content-type") == "application/json",
                        answered=status, at=time.monotonic(), body=body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self, path: str | None = None) -> Counter[str]:
        """2xx answers per webhook-id."""
        with self.lock:
            return Counter(r.msg_id for r in self.received
                           if r.answered == 200 and (path is None or r.path == path))

    def requests(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    async with open_redis(settings) as client:
        yield client


def _queue(redis: Redis, settings: Settings, **options: object) -> DeliveryQueue:
    options.setdefault("schedule", FAST_SCHEDULE)
    return DeliveryQueue(redis, Keys(settings.key_prefix), **options)  # type: ignore[arg-type]


def _delivery(msg_id: str, url: str, sub: str = "sub1") -> WebhookDelivery:
    # Raw UTF-8 and a "/" on purpose: Lua's cjson (replay) re-encodes records, the body must survive byte-exact.
    body = json.dumps({"type": "story.created", "id": msg_id, "note": "Tête-à-tête in Moscow / Тегеран"},
                      ensure_ascii=False)
    return WebhookDelivery(id=msg_id, subscription_id=sub, target_url=url, secret=SECRET, body=body.encode())


@asynccontextmanager
async def running(queue: DeliveryQueue, settings: Settings, **options: object) -> AsyncIterator[Deliverer]:
    """A Deliverer running in the background for the duration of the block."""
    options.setdefault("timeout_s", 5.0)
    options.setdefault("poll_interval_s", 0.02)
    stop = asyncio.Event()
    async with SafeHttpClient.from_settings(settings) as http:
        deliverer = Deliverer(queue, http, **options)  # type: ignore[arg-type]
        task = asyncio.create_task(deliverer.run(stop))
        try:
            yield deliverer
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def wait_for_state(queue: DeliveryQueue, msg_id: str, state: str, timeout: float = 10.0) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while True:
        found = await queue.get(msg_id)
        if found is not None and found.state == state:
            return found
        assert time.monotonic() < deadline, f"{msg_id} is {found.state if found else 'missing'}, not {state}"
        await asyncio.sleep(0.02)


async def test_delivered_once_signed_and_logged(settings: Settings, redis: Redis, receiver: Receiver) -> None:
    queue = _queue(redis, settings)
    first = _delivery("msg_one", receiver.url("/hook"))
    assert await queue.enqueue(first)
    assert not await queue.enqueue(first)  # the same webhook-id again: nothing queued
    async with running(queue, settings):
        done = await wait_for_state(queue, "msg_one", "delivered")
        assert not await queue.enqueue(first)  # nor after success
        await asyncio.sleep(0.3)
    [req] = receiver.requests()
    assert req.valid and req.msg_id == "msg_one"
    assert req.body == first.body.encode()  # the exact bytes that were signed
    assert done.attempts == 1 and done.last_status == 200
    [entry] = await queue.log("sub1")
    assert (entry.delivery_id, entry.attempt, entry.status, entry.state) == ("msg_one", 1, 200, "delivered")
    assert entry.next_attempt_at is None and entry.latency_ms >= 0
    assert await queue.undelivered("sub1") == []


async def test_receiver_down_then_up_every_delivery_arrives_once(settings: Settings, redis: Redis) -> None:
    # Refusing connections first (nothing listens on the port), then answering 500, then 200.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = Receiver(port=port, modes={"/hook": "fail"})
    # A schedule that outlasts the outage: a delivery that used up FAST_SCHEDULE's 13 jittered attempts
    # (often under 2 s) while the receiver refused or failed pauses the endpoint, as it should, and the
    # rest then wait for a replay (seen once on a slow Redis Cluster run: "msg_0 is pending").
    queue = _queue(redis, settings, pause_after=10_000, schedule=(0.05, 0.1, 0.2) + (0.3,) * 60)
    ids = [f"msg_{i}" for i in range(20)]
    for msg_id in ids:
        assert await queue.enqueue(_delivery(msg_id, receiver.url("/hook")))
    try:
        async with running(queue, settings):
            await asyncio.sleep(0.4)
            receiver.start()
            await wait_for(lambda: len(receiver.requests()) >= 10)
            receiver.modes["/hook"] = "ok"
            for msg_id in ids:
                await wait_for_state(queue, msg_id, "delivered")
            await asyncio.sleep(0.3)
    finally:
        receiver.stop()
    delivered = receiver.delivered()
    assert set(delivered) == set(ids)
    assert max(delivered.values()) == 1  # none accepted twice
    assert all(r.valid for r in receiver.requests())
    log = await queue.log("sub1", limit=500)
    assert any(e.status is None and e.error for e in log)  # refused: no status, an error
    assert any(e.status == 500 and e.next_attempt_at for e in log)
    assert sum(e.state == "delivered" for e in log) == len(ids)
    assert await queue.paused("sub1") is None


async def test_always_500_retried_on_schedule_then_failed_paused_and_replayed(
        settings: Settings, redis: Redis, receiver: Receiver) -> None:
    receiver.modes["/hook"] = "fail"
    schedule = (0.1, 0.2, 0.4)
    queue = _queue(redis, settings, schedule=schedule, pause_after=10_000)
    await queue.enqueue(_delivery("msg_a", receiver.url("/hook")))
    async with running(queue, settings):
        failed = await wait_for_state(queue, "msg_a", "failed")
        assert failed.attempts == len(schedule) + 1 and failed.last_status == 500
        pause = await queue.paused("sub1")
        assert pause is not None and "failed all 4 attempts" in pause.reason
        # Attempts spaced by the jittered schedule: each gap at most its step (plus polling slack).
        times = [r.at for r in receiver.requests()]
        assert len(times) == 4
        for gap, step in zip((b - a for a, b in itertools.pairwise(times)), schedule, strict=True):
            assert gap <= step + 0.3
        # A new delivery to the paused endpoint is kept, not sent.
        await queue.enqueue(_delivery("msg_b", receiver.url("/hook")))
        await asyncio.sleep(0.4)
        assert len(receiver.requests()) == 4
        assert {d.id for d in await queue.undelivered("sub1")} == {"msg_a", "msg_b"}
        log = await queue.log("sub1")
        assert [e.attempt for e in log] == [4, 3, 2, 1]  # newest first
        assert log[0].state == "failed" and log[0].next_attempt_at is None
        assert all(e.status == 500 for e in log) and all(e.next_attempt_at for e in log[1:])
        # Fixed: replay sends both, and the endpoint is no longer paused.
        receiver.modes["/hook"] = "ok"
        assert await queue.replay("sub1") == 2
        assert await queue.paused("sub1") is None
        await wait_for_state(queue, "msg_a", "delivered")
        await wait_for_state(queue, "msg_b", "delivered")
    assert receiver.delivered() == Counter({"msg_a": 1, "msg_b": 1})
    assert all(r.valid and r.body == _delivery(r.msg_id, "").body.encode() for r in receiver.requests())
    assert await queue.undelivered("sub1") == []
    # A deleted subscription leaves nothing undelivered behind.
    await queue.enqueue(_delivery("msg_c", receiver.url("/hook")))
    [(claimed, token)] = await queue.claim_due(1)
    await queue.record_result(claimed, token, status=410, error="HTTP 410", latency_ms=1, pause_reason="by hand")
    assert await queue.paused("sub1") is not None
    assert await queue.forget("sub1") == 1
    assert await queue.get("msg_c") is None and await queue.log("sub1") == []
    assert await queue.paused("sub1") is None


async def test_failures_in_a_row_and_410_pause_the_endpoint(
        settings: Settings, redis: Redis, receiver: Receiver) -> None:
    receiver.modes.update({"/flaky": "fail", "/gone": "gone"})
    queue = _queue(redis, settings, schedule=(30.0,) * 3, pause_after=3)
    for i in range(3):
        await queue.enqueue(_delivery(f"msg_f{i}", receiver.url("/flaky"), sub="flaky"))
    await queue.enqueue(_delivery("msg_g", receiver.url("/gone"), sub="gone"))
    async with running(queue, settings):
        await wait_for(lambda: len(receiver.requests()) >= 4)
        await asyncio.sleep(0.2)
    flaky, gone = await queue.paused("flaky"), await queue.paused("gone")
    assert flaky is not None and "3 failed attempts in a row" in flaky.reason
    assert gone is not None and "410" in gone.reason
    kept = await queue.get("msg_g")
    assert kept is not None and kept.state == "pending" and kept.last_status == 410  # kept for a replay


async def test_claims_are_exclusive_a_success_resets_the_count_and_stale_results_are_dropped(
        settings: Settings, redis: Redis) -> None:
    queue = _queue(redis, settings, schedule=(30.0,), pause_after=3)
    for i in range(40):
        await queue.enqueue(_delivery(f"msg_{i}", "http://127.0.0.1:9/", sub="mixed"))
    batches = await asyncio.gather(*(queue.claim_due(7) for _ in range(8)))
    claimed = [d.id for batch in batches for d, _ in batch]
    assert len(claimed) == len(set(claimed)) == 40  # every delivery to exactly one claimant
    assert await queue.claim_due(10) == []  # all leased
    tokens = {d.id: (d, token) for batch in batches for d, token in batch}
    # fail, fail, success, fail, fail: never 3 in a row, so not paused.
    for i, status in enumerate((500, 500, 200, 500, 500)):
        d, token = tokens[f"msg_{i}"]
        assert await queue.record_result(d, token, status=status, error=None if status == 200 else "HTTP 500",
                                         latency_ms=1) is not None
    assert await queue.paused("mixed") is None
    d, token = tokens["msg_5"]
    await queue.record_result(d, token, status=500, error="HTTP 500", latency_ms=1)
    assert await queue.paused("mixed") is not None
    # A claim whose lease ran out: the delivery goes to the next claimant, the old result is dropped.
    # (A queue of its own: the failures above may be due again at once, full jitter starts at 0 s.)
    queue = DeliveryQueue(redis, Keys(settings.key_prefix + "lease:"))
    await queue.enqueue(_delivery("msg_lease", "http://127.0.0.1:9/", sub="lease"))
    [(d, old)] = await queue.claim_due(1, lease_s=0.05)
    await asyncio.sleep(0.1)
    [(d2, new)] = await queue.claim_due(1)
    assert d2.id == "msg_lease" and new != old
    assert await queue.record_result(d, old, status=200, error=None, latency_ms=1) is None
    assert (await queue.get("msg_lease")).state == "pending"  # type: ignore[union-attr]
    assert await queue.record_result(d2, new, status=200, error=None, latency_ms=1) is not None
    assert (await queue.get("msg_lease")).state == "delivered"  # type: ignore[union-attr]


async def test_two_deliverers_never_send_one_delivery_twice(
        settings: Settings, redis: Redis, receiver: Receiver) -> None:
    receiver.modes["/hook"] = "slow:0.01"
    queue = _queue(redis, settings)
    ids = [f"msg_{i}" for i in range(60)]
    # Spread over several subscriptions so both instances have work in parallel.
    for i, msg_id in enumerate(ids):
        await queue.enqueue(_delivery(msg_id, receiver.url("/hook"), sub=f"sub{i % 6}"))
    # Few claims per instance, so neither can take the whole queue before the other starts.
    async with running(queue, settings, max_in_flight=6) as one, \
            running(_queue(redis, settings), settings, max_in_flight=6) as two:
        for msg_id in ids:
            await wait_for_state(queue, msg_id, "delivered", timeout=20)
        await asyncio.sleep(0.3)
    assert len(receiver.requests()) == len(ids)
    assert set(receiver.delivered()) == set(ids) and max(receiver.delivered().values()) == 1
    assert one.sent + two.sent == len(ids)
    assert one.sent > 0 and two.sent > 0


async def test_slow_receiver_does_not_delay_a_fast_one(
        settings: Settings, redis: Redis, receiver: Receiver) -> None:
    receiver.modes["/slow"] = "slow:1.5"
    queue = _queue(redis, settings)
    for i in range(6):
        await queue.enqueue(_delivery(f"msg_s{i}", receiver.url("/slow"), sub="slow"))
    async with running(queue, settings, per_endpoint_concurrency=2, max_in_flight=4):
        await asyncio.sleep(0.2)  # the slow endpoint's first requests are in flight
        started = time.monotonic()
        await queue.enqueue(_delivery("msg_fast", receiver.url("/fast"), sub="fast"))
        await wait_for_state(queue, "msg_fast", "delivered", timeout=5)
        assert time.monotonic() - started < 1.0
        for i in range(6):
            await wait_for_state(queue, f"msg_s{i}", "delivered", timeout=15)
    # Never more than 2 requests at once at the slow endpoint: 6 of them take 3 rounds.
    slow = sorted(r.at for r in receiver.requests("/slow"))
    assert len(slow) == 6 and slow[-1] - slow[0] >= 2 * 1.5 - 0.2
    assert receiver.delivered("/slow").most_common(1)[0][1] == 1
