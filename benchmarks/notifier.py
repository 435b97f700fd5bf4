"""Notifier benchmark: matching with 100 and 100,000 subscriptions, deliveries per second, event-to-webhook latency.

    .venv/bin/python -m benchmarks.notifier [--subscriptions 100,100000] [--events 2000] [--deliveries 2000] [--json]

On an embedded Valkey and a local webhook receiver (a threaded HTTP server), one process:

* matching: subscriptions on entities (90 %), keywords (9 %) and outlets (1 %) drawn from large
  vocabularies; story events naming 20 entities each; events matched per second through the
  subscription index (`SubscriptionStore.candidates`), at each number of subscriptions. The cost of
  an event follows the subscriptions it matches (reported), not the ones it does not;
* delivery: signed deliveries to 20 endpoints of the receiver through the delivery engine, per second;
* latency: story events through `Notifier.handle` (decide, queue) and the delivery engine to the
  receiver, p50/p99 milliseconds from handling the event to the webhook received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from services.common.embedded import start_valkey
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.messages import StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.notifier.alerts import webhook_id
from services.notifier.service import Notifier
from services.notifier.subscriptions import Query, StoryFacts, SubscriptionStore
from services.notifier.webhooks import Deliverer, DeliveryQueue, WebhookDelivery

ENTITIES = [f"person:person{i}" for i in range(50_000)]
WORDS = [f"word{i}" for i in range(20_000)]
OUTLETS = [f"outlet{i}.example" for i in range(2_000)]


class Receiver:
    """Records when each webhook arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived[self.headers.get("webhook-id", "")] = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 resets bursts of concurrent webhooks
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def story(rng: random.Random, n: int, entities: list[str] | None = None) -> StoryEvent:
    """A story event naming 20 entities (or the given ones)."""
    return StoryEvent(kind="updated", cluster_id=f"c{n}", article_id=f"a{n}", title=" ".join(rng.sample(WORDS, 8)),
                      size=3, outlets=rng.sample(OUTLETS, 3), entities=entities or rng.sample(ENTITIES, 20),
                      independent_outlets=3, copies=0, at=datetime.now(UTC))


async def fill(store: SubscriptionStore, target: str, count: int, rng: random.Random) -> None:
    """`count` subscriptions: 90 % on entities, 9 % on keywords, 1 % on outlets."""
    for i in range(count):
        roll = i % 100
        if roll < 90:
            query = Query(entities=rng.sample(ENTITIES, 2))
        elif roll < 99:
            query = Query(keywords=[rng.choice(WORDS)])
        else:
            query = Query(outlets=[rng.choice(OUTLETS)])
        await store.create(target, query)


async def run(sizes: list[int], events: int, deliveries: int) -> dict[str, Any]:
    """Every figure of the benchmark."""
    rng = random.Random(7)
    receiver = Receiver()
    out: dict[str, Any] = {"matching": []}
    with tempfile.TemporaryDirectory() as tmp:
        url, valkey = start_valkey(Path(tmp))
        settings = Settings(redis_url=SecretStr(url), key_prefix="bench:", allow_networks="127.0.0.0/8")
        try:
            async with open_redis(settings) as redis, SafeHttpClient.from_settings(settings) as http:
                keys = Keys(settings.key_prefix)
                store = SubscriptionStore(redis, keys)
                made = 0
                for size in sizes:
                    started = time.perf_counter()
                    added = size - made
                    await fill(store, receiver.url, added, rng)
                    made = size
                    fill_s = time.perf_counter() - started
                    stories = [story(rng, n) for n in range(events)]
                    matched = 0
                    started = time.perf_counter()
                    for event in stories:
                        matched += len(await store.candidates(StoryFacts.from_event(event)))
                    elapsed = time.perf_counter() - started
                    out["matching"].append({"subscriptions": size, "events_per_s": round(events / elapsed),
                                            "ms_per_event": round(elapsed * 1000 / events, 3),
                                            "matches_per_event": round(matched / events, 2),
                                            "subscriptions_added_per_s": round(added / fill_s)})

                queue = DeliveryQueue(redis, keys)
                now = time.time()
                for i in range(deliveries):
                    await queue.enqueue(WebhookDelivery(
                        id=f"msg_bench_{i}", subscription_id=f"sub_endpoint{i % 20}", target_url=receiver.url,
                        secret="whsec_" + "A" * 32, body=json.dumps({"n": i}), next_attempt_at=now, created_at=now))
                stop = asyncio.Event()
                deliverer = Deliverer(queue, http, timeout_s=settings.http_timeout_s)  # as the notifier runs it
                started = time.perf_counter()
                task = asyncio.create_task(deliverer.run(stop))
                deliverer.wake()
                while sum(1 for k in receiver.arrived if k.startswith("msg_bench_")) < deliveries:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                out["deliveries_per_s"] = round(deliveries / (time.perf_counter() - started))

                # Latency: one subscription follows a fresh entity; each event names it.
                follower = await store.create(receiver.url, Query(entities=["person:followed one"]))
                notifier = Notifier(settings, redis=redis, keys=keys,
                                    subscriptions=store, queue=queue, on_queued=deliverer.wake)
                latencies = []
                for n in range(200):
                    # Matching only the follower: the latency of one alert, not of a queue of others.
                    named = ["person:followed one", *(f"gpe:nowhere{n}_{k}" for k in range(19))]
                    event = story(rng, 10_000_000 + n, named)
                    event = event.model_copy(update={"title": f"Quiet story {n}", "outlets": [f"quiet{n}.example"]})
                    handled = time.monotonic()
                    await notifier.handle(event)
                    msg = webhook_id(follower.id, event)
                    while msg not in receiver.arrived:  # noqa: ASYNC110 - the receiver is another thread
                        await asyncio.sleep(0.002)
                    latencies.append((receiver.arrived[msg] - handled) * 1000)
                stop.set()
                await task
                latencies.sort()
                out["event_to_webhook_ms"] = {"p50": round(statistics.median(latencies), 1),
                                              "p99": round(latencies[int(0.99 * len(latencies)) - 1], 1)}
        finally:
            valkey.stop()
            receiver.server.shutdown()
    return out


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", default="100,100000")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")  # one line per alert would bury the figures
    result = asyncio.run(run([int(s) for s in args.subscriptions.split(",")], args.events, args.deliveries))
    if args.json:
        print(json.dumps(result))
        return
    for row in result["matching"]:
        print(f"{row['subscriptions']:>8,} subscriptions: {row['events_per_s']:>6,} events matched/s "
              f"({row['ms_per_event']} ms/event, {row['matches_per_event']} matches/event)")
    print(f"deliveries: {result['deliveries_per_s']:,}/s to a local receiver")
    print(f"event to webhook received: p50 {result['event_to_webhook_ms']['p50']} ms, "
          f"p99 {result['event_to_webhook_ms']['p99']} ms")


if __name__ == "__main__":
    main()
