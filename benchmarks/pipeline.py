"""End-to-end throughput, CPU, latency and Redis footprint of the real system, on real text.

    .venv/bin/python -m benchmarks.pipeline                             # backlog, then paced at 50 % of it
    .venv/bin/python -m benchmarks.pipeline --articles 600 --outlets 30 --modes backlog
    .venv/bin/python -m benchmarks.pipeline --kafka apache              # on Apache Kafka (scripts/fetch-kafka)
    .venv/bin/python -m benchmarks.pipeline --modes paced --rate 25     # paced at a given rate

Serves `--articles` articles (the dev set's texts from ../shared/data when present, else the project's
own sample news in services/demo/stories.py, varied) as realistic pages from `--outlets` loopback outlets
whose feeds cycle through every format the fetcher reads (RSS, Atom, JSON Feed, sitemap, news sitemap),
to a fresh `wirewatch up` (a child process on free ports, its own data dir) with one subscription that
every story matches and a local webhook receiver. Two modes, each on a fresh system:

* **backlog**: every article is listed before the feeds are registered; the system works through them
  as fast as it can. Sustained articles/s = the articles stored between 10 % and 90 % of the total,
  over that time (the steady window: start-up and the tail excluded).
* **paced**: articles are listed one by one at `--rate` per second (default: `--pace` × the backlog
  run's rate), spread over the outlets. Latencies are measured per article from the moment it is
  listed, and from the moment the fetcher first read its feed after that ("seen": the poll interval
  excluded): to stored (the article's `stored_at`), to its story event (read from the story-events
  topic by this harness) and to a webhook naming it received.

Also printed: CPU ms per stored article of each process over the steady window (`wirewatch up`'s own
process, its extraction workers, the broker, Redis, this harness with the outlet server and receiver),
from /proc/<pid>/stat; Redis bytes per stored article (INFO used_memory after minus before) and by key
family (SCAN + MEMORY USAGE); lost (listed, never stored) and duplicated (one URL stored twice) counts.
The machine is shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import httpx
from aiokafka import AIOKafkaConsumer

from services.common.embedded import ChildProcess, free_port
from services.common.keys import Keys
from services.common.messages import article_id
from services.common.redis import Redis, connect
from services.common.topics import STORY_EVENTS
from services.common.urls import canonical_url
from services.demo import stories as samples
from services.demo.outlets import FeedFormat, Outlet, OutletServer
from services.fetcher.registry import FeedRegistry
from services.notifier.subscriptions import Query, SubscriptionStore
from services.store.repository import Repository

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "stories-dev.jsonl.gz"
FORMATS: tuple[FeedFormat, ...] = get_args(FeedFormat)
KEYWORD = "the"  # in every article: every story matches the subscription
CLK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the articles


@dataclass(frozen=True)
class Item:
    """One article of the stream and the outlet that lists it."""

    outlet: int
    slug: str
    title: str
    text: str


def articles(n: int, outlets: int) -> tuple[list[Item], str]:
    """`n` articles in stream order: the dev set's (≥ 80 words, titled) when present, else the sample news."""
    if DEV_SET.exists():
        with gzip.open(DEV_SET, "rt") as fh:
            rows = [json.loads(line) for line in fh]
        rows = [r for r in rows if len(r.get("text", "").split()) >= 80 and r.get("title")]
        rows.sort(key=lambda r: int(r.get("order", 0)))
        rows = (rows * (n // max(1, len(rows)) + 1))[:n]
        return [Item(int(hashlib.sha1(str(r.get("outlet") or r["id"]).encode()).hexdigest(), 16) % outlets,
                     f"a{i}-{hashlib.sha1(r['id'].encode()).hexdigest()[:10]}", r["title"], r["text"])
                for i, r in enumerate(rows)], f"dev set ({DEV_SET})"
    pool = [s for s in samples.SAMPLES if s.text.strip()]
    out = []
    for i in range(n):
        s = pool[i % len(pool)]
        # A different dateline per round, so rounds are new articles (the store sees re-posts of the samples).
        out.append(Item(i % outlets, f"s{i}", f"{s.title} ({i // len(pool) + 1})",
                        f"(Report {i}) " + _unwrapped(s.text)))
    return out, "the sample news of services/demo/stories.py"


def _unwrapped(text: str) -> str:
    """Paragraphs (wrapped for reading in stories.py) each on one line, as the outlet server wants them."""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in text.strip().split("\n\n"))


# --------------------------------------------------------------------------- outlets and receiver


class TimedOutlets(OutletServer):
    """The outlet server, noting when each feed was requested (to tell when the fetcher saw an item)."""

    def __init__(self) -> None:
        super().__init__()
        self.feed_reads: dict[str, list[float]] = defaultdict(list)
        self.feed_paths: set[str] = set()

    def _respond(self, path: str, req_headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path in self.feed_paths:
            started = time.time()  # the request's arrival: anything listed before it is in the answer
            with self._lock:
                self.feed_reads[path].append(started)
        return super()._respond(path, req_headers)


@dataclass
class Receiver:
    """A webhook endpoint: when each webhook naming an article arrived."""

    at: dict[str, float] = field(default_factory=dict)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                now = time.time()
                with contextlib.suppress(ValueError, AttributeError):
                    article = (json.loads(body).get("article") or {}).get("id")
                    with receiver.lock:
                        receiver.count += 1
                        if article:
                            receiver.at.setdefault(str(article), now)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


# --------------------------------------------------------------------------- processes and CPU


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    children, out, todo = _children(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    return ""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    return 0.0


def role(pid: int, up_pid: int) -> str:
    if pid == up_pid:
        return "up (fetcher, extractor, store, notifier, API)"
    line = cmdline(pid)
    if "multiprocessing" in line or "spawn_main" in line:
        return "extraction workers"
    if "valkey" in line or "redis-server" in line:
        return "redis"
    if "tansu" in line or "kafka" in line.lower():
        return "broker"
    return "other"


@dataclass
class CpuSample:
    at: float
    stored: int
    by_role: dict[str, float]


def sample_cpu(up_pid: int, extra: Mapping[str, int], stored: int) -> CpuSample:
    """CPU seconds so far of every process of the system under test, by role."""
    by_role: dict[str, float] = defaultdict(float)
    for pid in [up_pid, *descendants(up_pid)]:
        by_role[role(pid, up_pid)] += cpu_seconds(pid)
    for name, pid in extra.items():
        by_role[name] += cpu_seconds(pid)
    by_role["harness (outlets, receiver, probes)"] += cpu_seconds(os.getpid())
    return CpuSample(time.time(), stored, dict(by_role))


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# --------------------------------------------------------------------------- Redis footprint

_ID_LIKE = re.compile(r"^(?:[0-9a-f]{8,}|[0-9]+|[a-z]?[0-9a-f-]{12,})$")


def family(key: str, prefix: str) -> str:
    """A key's family: its name without the namespace, ids and values ("article", "idx:ent", "{lsh}:b")."""
    rest = key[len(prefix):] if key.startswith(prefix) else key
    parts = rest.split(":")
    out = [parts[0]]
    # The alias table's keys are told apart one level further: its name index, vote hashes, known-as sets.
    depth = 3 if rest.startswith("{entities}:entity:") else 2
    for part in parts[1:]:
        if _ID_LIKE.match(part) or len(out) >= depth or out[0] in (
                "article", "cluster", "cluster-alias", "body", "seen", "feed", "heartbeat", "alerts", "alerted", "hw"):
            break
        out.append(part)
    return ":".join(out)


async def footprint(redis: Redis, prefix: str, samples: int | None = None) -> dict[str, tuple[int, int]]:
    """{family: (keys, bytes)} over every key of the namespace (SCAN + MEMORY USAGE). `samples`: MEMORY
    USAGE's SAMPLES (0: exact; None: Redis's default, a stream's or a big collection's size extrapolated
    from 5 of its nodes or elements)."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    batch: list[str] = []

    async def flush() -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.memory_usage(key, samples=samples)
            used = await pipe.execute()
        for key, size in zip(batch, used, strict=True):
            row = sizes[family(key, prefix)]
            row[0] += 1
            row[1] += int(size or 0)
        batch.clear()

    async for key in redis.scan_iter(match=f"{prefix}*", count=2000):
        batch.append(str(key))
        if len(batch) >= 500:
            await flush()
    if batch:
        await flush()
    return {k: (v[0], v[1]) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1][1])}


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    """What one run measured."""

    mode: str
    broker: str
    listed: int
    stored: int
    lost: int
    duplicated: int
    rate: float | None  # articles/s over the steady window (backlog) or the listing rate (paced)
    steady_s: float
    cpu_ms: dict[str, float]
    cores_busy: float
    latency: dict[str, dict[str, float]]
    redis_bytes_per_article: float
    redis_families: dict[str, tuple[int, int]]
    stories: int
    webhooks: int
    load: str
    seconds: float


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 3)}


class System:
    """A `wirewatch up` child process on free ports, with its own data dir (and Apache Kafka if asked)."""

    def __init__(self, work: Path, broker: str, env_extra: Mapping[str, str]) -> None:
        self.work = work
        self.broker = broker
        self.env_extra = dict(env_extra)
        self.api_port = free_port()
        self.namespace = f"p{hashlib.sha1(str(time.time()).encode()).hexdigest()[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kafka: ChildProcess | None = None
        self.runtime: dict[str, str] = {}

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
        env.update({
            "WIREWATCH_ALLOW_NETWORKS": "127.0.0.0/8", "WIREWATCH_HOST_MIN_DELAY_S": "0",
            "WIREWATCH_HOST_CONCURRENCY": "8", "WIREWATCH_LOG_JSON": "true", "WIREWATCH_LOG_LEVEL": "WARNING",
            "WIREWATCH_TOPIC_PREFIX": f"{self.namespace}.", "WIREWATCH_KEY_PREFIX": f"{self.namespace}:",
            "WIREWATCH_DATA_DIR": str(self.work / "data"), "WIREWATCH_STARTUP_WAIT_S": "180",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.env_extra)
        if self.broker == "apache":
            from tests.support.kafka import start_apache_kafka

            bootstrap, self.kafka = start_apache_kafka(self.work / "kafka", None)
            env["KAFKA_BOOTSTRAP"] = bootstrap
        log = (self.work / "up.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(self.work / "data"),
             "--api-port", str(self.api_port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()

    def wait_runtime(self, within_s: float = 180) -> dict[str, str]:
        assert self.proc is not None
        deadline = time.monotonic() + within_s
        path = self.work / "data" / "runtime.json"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                runtime = json.loads(path.read_text())
                if int(runtime["pid"]) == self.proc.pid:
                    self.runtime = {k: str(v) for k, v in runtime.items()}
                    return self.runtime
            if self.proc.poll() is not None:
                raise RuntimeError(f"wirewatch up exited early; see {self.work / 'up.log'}")
            time.sleep(0.2)
        raise TimeoutError("wirewatch up wrote no runtime.json")

    @property
    def extra_pids(self) -> dict[str, int]:
        return {"broker": self.kafka.pid} if self.kafka is not None else {}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                for pid in [self.proc.pid, *descendants(self.proc.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.kafka is not None:
            self.kafka.stop()


async def _healthy(api: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await api.get("/healthz")).status_code == 200
    return False


async def _story_events(bootstrap: str, topic: str, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Note when the story event of each article arrives (first one per article)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=20, metadata_max_age_ms=2000)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            now = time.time()
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(ValueError, AttributeError):
                        aid = json.loads(record.value).get("article_id")
                        if aid:
                            seen.setdefault(str(aid), now)
    finally:
        await consumer.stop()


async def run(mode: str, broker: str, items: list[Item], n_outlets: int, work: Path, *, rate: float | None,
              poll_s: float, env_extra: Mapping[str, str], drain_s: float, log: Any = print) -> Result:
    """One fresh system, one mode; returns what it measured."""
    started = time.monotonic()
    system = System(work, broker, {"WIREWATCH_POLL_INTERVAL_S": str(poll_s),
                                   "WIREWATCH_POLL_MAX_INTERVAL_S": str(poll_s), **env_extra})
    receiver = Receiver()
    hook_server = receiver.start()
    server = TimedOutlets().start()
    stop_events = asyncio.Event()
    events_task: asyncio.Task[None] | None = None
    try:
        outlets = [server.add_outlet(f"o{i}", f"Outlet {i}", FORMATS[i % len(FORMATS)]) for i in range(n_outlets)]
        server.feed_paths = {o.feed_url.removeprefix(server.base_url) for o in outlets}
        listed: dict[str, float] = {}
        urls: dict[str, tuple[Outlet, str]] = {}
        base = datetime.now(UTC) - timedelta(hours=1)

        def publish(i: int) -> None:
            item = items[i]
            outlet = outlets[item.outlet]
            url = outlet.add_article(item.slug, item.title, item.text, base + timedelta(seconds=i))
            aid = article_id(canonical_url(url))
            listed[aid] = time.time()
            urls[aid] = (outlet, outlet.feed_url.removeprefix(server.base_url))

        if mode == "backlog":
            for i in range(len(items)):
                publish(i)
        await asyncio.to_thread(system.start)
        runtime = await asyncio.to_thread(system.wait_runtime)
        assert system.proc is not None
        up_pid = system.proc.pid
        redis = connect(runtime["redis_url"])
        keys = Keys(f"{system.namespace}:")
        api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}", timeout=5)
        try:
            async with asyncio.timeout(240):
                while True:
                    if await _healthy(api):
                        break
                    await asyncio.sleep(0.3)
            event_at: dict[str, float] = {}
            events_task = asyncio.create_task(_story_events(
                runtime["kafka_bootstrap"], STORY_EVENTS.full_name(f"{system.namespace}."), event_at, stop_events))
            await SubscriptionStore(redis, keys).create(
                f"http://127.0.0.1:{hook_server.server_address[1]}/hook", Query(keywords=[KEYWORD]))
            memory_before = await used_memory(redis)
            registry = FeedRegistry(redis, keys)
            for outlet in outlets:
                await registry.add(outlet.feed_url, outlet.name)
            samples_: list[CpuSample] = [sample_cpu(up_pid, system.extra_pids, 0)]
            next_item = 0
            t0 = time.monotonic()
            total = len(items)
            deadline = t0 + drain_s + (total / rate if rate else 0)
            while time.monotonic() < deadline:
                if mode == "paced":
                    assert rate is not None
                    due = min(total, int((time.monotonic() - t0) * rate) + 1)
                    while next_item < due:
                        publish(next_item)
                        next_item += 1
                stored = int(await redis.zcard(keys.articles_recent))
                samples_.append(sample_cpu(up_pid, system.extra_pids, stored))
                if stored >= total and (mode == "backlog" or next_item >= total):
                    break
                await asyncio.sleep(0.1 if mode == "paced" else 0.5)
            # Let story events and webhooks of the last articles arrive.
            settle = time.monotonic() + 15
            while time.monotonic() < settle:
                if len(event_at) >= len(listed):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)
            memory_after = await used_memory(redis)
            families = await footprint(redis, keys.prefix)
            stored_rows = await _stored(redis, keys)
        finally:
            await api.aclose()
        stop_events.set()
        if events_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(events_task, 10)
        await redis.aclose()
    finally:
        server.stop()
        hook_server.shutdown()
        await asyncio.to_thread(system.stop)

    by_url = Counter(aid for aid, _ in stored_rows.values())
    stored_ids = set(stored_rows)
    lost = len(set(listed) - stored_ids)
    duplicated = sum(n - 1 for n in by_url.values() if n > 1)
    window = _steady(samples_, total) if mode == "backlog" else _paced_window(samples_)
    first, last = window
    span = max(1e-6, last.at - first.at)
    done = max(1, last.stored - first.stored)
    cpu_ms = {r: round((last.by_role.get(r, 0.0) - first.by_role.get(r, 0.0)) * 1000 / done, 2)
              for r in sorted(set(first.by_role) | set(last.by_role))}
    system_roles = [r for r in cpu_ms if not r.startswith("harness")]
    busy = sum(last.by_role.get(r, 0.0) - first.by_role.get(r, 0.0) for r in system_roles) / span
    latency: dict[str, dict[str, float]] = {}
    if mode == "paced":
        latency = _latencies(listed, urls, server.feed_reads, stored_rows, event_at, receiver.at)
    stored_n = len(stored_ids & set(listed))
    return Result(
        mode=mode, broker=broker, listed=len(listed), stored=stored_n, lost=lost, duplicated=duplicated,
        rate=round(done / span, 1) if mode == "backlog" else rate, steady_s=round(span, 1), cpu_ms=cpu_ms,
        cores_busy=round(busy, 2), latency=latency,
        redis_bytes_per_article=round((memory_after - memory_before) / max(1, stored_n)),
        redis_families=families, stories=len({c for _, c in stored_rows.values()}), webhooks=receiver.count,
        load=load_average(), seconds=round(time.monotonic() - started, 1))


async def _stored(redis: Redis, keys: Keys) -> dict[str, tuple[str, str]]:
    """{article id: (id of its canonical URL, cluster id)} of every stored article; `stored_at` kept aside."""
    repo = Repository(redis, keys)
    ids = [str(i) for i in await redis.zrange(keys.articles_recent, 0, -1)]
    out: dict[str, tuple[str, str]] = {}
    _STORED_AT.clear()
    for start in range(0, len(ids), 500):
        for article in await repo.articles(ids[start:start + 500]):
            out[article.id] = (article_id(canonical_url(article.canonical_url or article.url)), article.cluster_id)
            _STORED_AT[article.id] = article.stored_at.timestamp()
    return out


_STORED_AT: dict[str, float] = {}


def _steady(samples_: list[CpuSample], total: int) -> tuple[CpuSample, CpuSample]:
    """The samples nearest 10 % and 90 % stored."""
    lo = next((s for s in samples_ if s.stored >= 0.1 * total), samples_[0])
    hi = next((s for s in samples_ if s.stored >= 0.9 * total), samples_[-1])
    return lo, hi


def _paced_window(samples_: list[CpuSample]) -> tuple[CpuSample, CpuSample]:
    with_work = [s for s in samples_ if s.stored > 0]
    return (with_work[0], samples_[-1]) if with_work else (samples_[0], samples_[-1])


def _latencies(listed: dict[str, float], urls: dict[str, tuple[Outlet, str]], reads: dict[str, list[float]],
               stored_rows: dict[str, tuple[str, str]], event_at: dict[str, float],
               hook_at: dict[str, float]) -> dict[str, dict[str, float]]:
    """Seconds from listed, and from seen (the first feed read after listing), to stored, story event, webhook."""
    seen: dict[str, float] = {}
    for aid, at in listed.items():
        path = urls[aid][1]
        after = [r for r in reads.get(path, []) if r >= at]
        if after:
            seen[aid] = min(after)
    out: dict[str, dict[str, float]] = {}
    for origin_name, origin in (("listed", listed), ("seen", seen)):
        for target_name, target in (("stored", _STORED_AT), ("story event", event_at), ("webhook", hook_at)):
            values = [target[a] - origin[a] for a in origin if a in target]
            out[f"{origin_name} -> {target_name}"] = percentiles(values)
    out["poll wait (listed -> seen)"] = percentiles([seen[a] - listed[a] for a in seen])
    return out


# --------------------------------------------------------------------------- report


def report(r: Result) -> str:
    lines = [f"## {r.mode} on {r.broker}: {r.stored} of {r.listed} stored, lost {r.lost}, duplicated {r.duplicated}"
             f" ({r.stories} stories, {r.webhooks} webhooks; {r.seconds} s; load average {r.load})"]
    if r.mode == "backlog":
        lines.append(f"sustained: {r.rate} articles/s over the steady window (10-90 % stored, {r.steady_s} s); "
                     f"system busy {r.cores_busy} cores")
    else:
        lines.append(f"paced: listed at {r.rate} articles/s; system busy {r.cores_busy} cores")
    lines.append("CPU ms per stored article: " + ", ".join(f"{k} {v}" for k, v in r.cpu_ms.items()))
    system_ms = sum(v for k, v in r.cpu_ms.items() if not k.startswith("harness"))
    lines.append(f"  system total {system_ms:.1f} ms -> {2000 / max(system_ms, 1e-6):.0f} articles/s on 2 cores "
                 "if it had them to itself")
    for name, p in r.latency.items():
        if p:
            lines.append(f"latency {name}: p50 {p['p50']} s, p95 {p['p95']} s, p99 {p['p99']} s (n {p['n']})")
    lines.append(f"Redis: {r.redis_bytes_per_article:,.0f} bytes per stored article (used_memory after - before)")
    stored = max(1, r.stored)
    for fam, (count, size) in list(r.redis_families.items())[:14]:
        lines.append(f"  {fam:28s} {count:8,d} keys {size / stored:10,.0f} B/article ({size:,d} B)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--outlets", type=int, default=100)
    parser.add_argument("--modes", default="backlog,paced", help="backlog, paced or both (comma-separated)")
    parser.add_argument("--kafka", choices=("embedded", "apache"), default="embedded")
    parser.add_argument("--rate", type=float, help="paced: articles listed per second (default: --pace x backlog)")
    parser.add_argument("--pace", type=float, default=0.5, help="paced: share of the backlog run's rate")
    parser.add_argument("--poll", type=float, default=5.0, help="feed poll interval, s (WIREWATCH_POLL_INTERVAL_S)")
    parser.add_argument("--drain", type=float, default=600.0, help="seconds allowed for a run beyond the listing")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment setting for wirewatch up, e.g. WIREWATCH_EXTRACT_WORKERS=3")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "pipeline")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    env_extra = dict(s.split("=", 1) for s in args.set)
    items, source = articles(args.articles, args.outlets)
    words = statistics.mean(len(i.text.split()) for i in items)
    print(f"{len(items)} articles from {source}, {words:.0f} words on average; {args.outlets} outlets "
          f"({', '.join(FORMATS)}); broker {args.kafka}; load average {load_average()}", flush=True)
    results: list[Result] = []
    rate = args.rate
    for mode in args.modes.split(","):
        if mode == "paced" and rate is None:
            backlog = next((r for r in results if r.mode == "backlog"), None)
            if backlog is None or not backlog.rate:
                parser.error("paced needs --rate or a backlog run first")
            rate = round(backlog.rate * args.pace, 1)
        work = args.work / f"{mode}-{args.kafka}-{int(time.time())}"
        result = asyncio.run(run(mode, args.kafka, items, args.outlets, work, rate=rate if mode == "paced" else None,
                                 poll_s=args.poll, env_extra=env_extra, drain_s=args.drain))
        print(report(result), flush=True)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
