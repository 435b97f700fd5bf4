"""Fetcher scale benchmark: thousands of feeds on a local outlet server, polled by several fetcher processes.

    .venv/bin/python -m benchmarks.fetcher [--feeds 10000] [--fetchers 2] [--seconds 120] [--interval 60] [--json]

Serves `--feeds` outlets (RSS and Atom, three articles each) from one local outlet
server, each outlet on its own loopback host (127.x.y.z), so politeness (robots.txt,
the per-host delay) works as it would against real sites. Registers every feed,
starts `--fetchers` `wirewatch fetcher` processes on the embedded Redis and broker,
lets them run for `--seconds` with every feed due every `--interval` seconds, then
stops them with SIGTERM and reports: feeds polled per second, items emitted per
second, fetcher CPU per 1,000 polls, Redis memory per feed, the most requests the
server saw in flight at once for any one feed (must be 1: no feed polled twice at
once) and items emitted more than once (must be 0).

Everything shares the machine's cores: the outlet server (Python threads), Redis,
the broker and the fetchers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from services.common.embedded import start_tansu, start_valkey
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher.registry import FeedRegistry
from tests.support.outlets import OutletServer

PREFIX = "bench"
TEXT = ("The harbour authority said on Tuesday that the northern breakwater had been breached by the storm "
        "surge overnight, flooding the fish market and two warehouses near the quay. ") * 4


class InFlight:
    """Requests in flight per path on the outlet server, and the most ever seen at once for one feed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most = 0
        self.feed_hits = 0

    def wrap(self, server: OutletServer) -> None:
        """Count around the server's request handling (benchmark-only instrumentation)."""
        respond = server._respond

        def counted(path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
            feed = path.endswith("/feed.xml")
            if feed:
                with self.lock:
                    self.now[path] += 1
                    self.most = max(self.most, self.now[path])
                    self.feed_hits += 1
            try:
                return respond(path, headers)
            finally:
                if feed:
                    with self.lock:
                        self.now[path] -= 1

        server._respond = counted  # type: ignore[method-assign,assignment]


def host_for(i: int) -> str:
    """A loopback address of its own per outlet (all of 127.0.0.0/8 reaches the server)."""
    return f"127.{1 + i // 62_500}.{(i // 250) % 250}.{i % 250 + 1}"


async def register(settings: Settings, urls: list[tuple[str, str]]) -> tuple[int, int]:
    """Register the feeds; Redis used_memory before and after."""
    async with open_redis(settings) as redis:
        before = int((await redis.info("memory"))["used_memory"])
        registry = FeedRegistry(redis, Keys(settings.key_prefix))
        for start in range(0, len(urls), 20):  # a few at a time: the client's connection pool is bounded
            await asyncio.gather(*(registry.add(url, name) for url, name in urls[start:start + 20]))
        return before, int((await redis.info("memory"))["used_memory"])


async def redis_memory(settings: Settings) -> int:
    """Redis used_memory now."""
    async with open_redis(settings) as redis:
        return int((await redis.info("memory"))["used_memory"])


async def emitted(settings: Settings) -> tuple[int, int]:
    """(items on the feed-items topic, keys seen more than once)."""
    topic = FEED_ITEMS.full_name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.assignment()
        while not partitions:
            await asyncio.sleep(0.1)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        keys: Counter[bytes] = Counter()
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                keys.update(r.key for r in records if r.key is not None)
        return sum(keys.values()), sum(1 for n in keys.values() if n > 1)
    finally:
        await consumer.stop()


def run(feeds: int, fetchers: int, seconds: float, interval: float) -> dict[str, Any]:
    """The whole benchmark; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        redis_url, valkey = start_valkey(Path(tmp) / "valkey")
        bootstrap, tansu = start_tansu(Path(tmp) / "tansu")
        server = OutletServer(host="0.0.0.0").start()
        counter = InFlight()
        counter.wrap(server)
        try:
            now = datetime.now(UTC)
            urls = []
            for i in range(feeds):
                outlet = server.add_outlet(f"o{i}", f"Outlet {i}", "rss" if i % 2 else "atom")
                for n in range(3):
                    outlet.add_article(f"a{n}", f"Story {n} of outlet {i}", TEXT, now - timedelta(hours=8 * n + 1))
                urls.append((f"http://{host_for(i)}:{server.port}/o{i}/feed.xml", outlet.name))
            settings = Settings(kafka_bootstrap=bootstrap, redis_url=redis_url, topic_prefix=f"{PREFIX}.",
                                key_prefix=f"{PREFIX}:")
            started = time.monotonic()
            before, after = asyncio.run(register(settings, urls))
            registered_s = time.monotonic() - started
            env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "REDIS_URL": redis_url,
                   "WIREWATCH_TOPIC_PREFIX": f"{PREFIX}.", "WIREWATCH_KEY_PREFIX": f"{PREFIX}:",
                   "WIREWATCH_ALLOW_NETWORKS": "127.0.0.0/8", "WIREWATCH_POLL_INTERVAL_S": str(interval),
                   "WIREWATCH_POLL_MIN_INTERVAL_S": str(interval), "WIREWATCH_POLL_MAX_INTERVAL_S": str(interval),
                   "WIREWATCH_LOG_LEVEL": "WARNING"}
            procs = [subprocess.Popen([sys.executable, "-m", "services.cli", "fetcher"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / f"fetcher{n}.log", "wb"))
                     for n in range(fetchers)]
            polls_before = counter.feed_hits
            time.sleep(seconds)
            polls = counter.feed_hits - polls_before
            cpu = 0.0
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                cpu += usage.ru_utime + usage.ru_stime
            items, repeated = asyncio.run(emitted(settings))
            memory = asyncio.run(redis_memory(settings))
        finally:
            server.stop()
            tansu.stop()
            valkey.stop()
    return {
        "feeds": feeds, "fetchers": fetchers, "seconds": seconds, "interval_s": interval,
        "register_feeds_per_s": round(feeds / registered_s),
        "polls": polls, "feeds_polled_per_s": round(polls / seconds, 1),
        "items_emitted": items, "items_per_s": round(items / seconds, 1),
        "fetcher_cpu_s_per_1000_polls": round(cpu * 1000 / max(1, polls), 2),
        "redis_bytes_per_feed_registered": round((after - before) / feeds),
        "redis_bytes_per_feed_after_polling": round((memory - before) / feeds),
        "most_in_flight_for_one_feed": counter.most, "items_emitted_twice": repeated,
        "fetcher_exit_codes": [p.returncode for p in procs],
        "benchmark_process_cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1),
    }


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--fetchers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between two polls of a feed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.feeds, args.fetchers, args.seconds, args.interval)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>36}: {value}")


if __name__ == "__main__":
    main()
