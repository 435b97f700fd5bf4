"""The kill -9 matrix: a stream of real-text articles through the real system, one fault per run.

    .venv/bin/python -m benchmarks.faults                          # full: every fault, both brokers, 3 runs each
    .venv/bin/python -m benchmarks.faults --articles 60 --outlets 6 --faults up_tree,redis --brokers embedded

Each run serves `--articles` articles (the dev set's texts from ../shared/data when present, else
generated ones) from `--outlets` loopback outlets, a few at a time, to a running wirewatch with one
subscription that every story matches and a local webhook receiver. Once the store holds a random 20-60 %
of them, the fault strikes (kill -9):

| fault | what is killed (and restarted) |
|---|---|
| up_tree | the whole `wirewatch up` process tree; `up` is started again on the same data dir |
| pool_worker | one extraction worker process (the extractor replaces its pool) |
| redis | the embedded Valkey (`up` restarts it on its port) |
| broker | the broker: embedded Tansu (`up` restarts it, empty) or Apache Kafka (restarted on its log dir) |
| store, extractor, fetcher, notifier | that service, run as its own process (production mode), restarted |

Then the checker asserts: every served article stored exactly once (by canonical URL), each story alerted
`story.created` under exactly one webhook-id, every queued webhook delivered, receiver-side repeats of an id
no more than the re-sends the delivery log counted, nothing left pending (feed-item ledger, story-event
outbox), and the system healthy and making progress again within `--recovery-bound` seconds. The matrix
also shows, per fault, how long after it everything was stored, settled and delivered ("all settled").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from services.common.embedded import ChildProcess, free_port, start_tansu, start_valkey
from services.common.keys import Keys
from services.common.ledger import EventOutbox, Ledger
from services.common.messages import article_id
from services.common.redis import Redis, connect
from services.common.settings import Settings
from services.common.topics import ensure_all
from services.common.urls import canonical_url
from services.demo.outlets import Outlet, OutletServer
from services.fetcher.registry import FeedRegistry
from services.notifier.subscriptions import Query, SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from services.store.repository import Repository

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "stories-dev.jsonl.gz"
UP_FAULTS = ("up_tree", "pool_worker", "redis", "broker")
SERVICE_FAULTS = ("store", "extractor", "fetcher", "notifier")
ALL_FAULTS = UP_FAULTS + SERVICE_FAULTS
KEYWORD = "the"  # in every article: every story matches the subscription


# --------------------------------------------------------------------------- the stream


@dataclass(frozen=True)
class Story:
    """One article of the stream."""

    outlet: int
    slug: str
    title: str
    text: str


def stream(n: int, outlets: int, seed: int) -> list[Story]:
    """`n` real-text articles (the dev set when present), assigned to outlets by their source outlet."""
    rng = random.Random(seed)
    if DEV_SET.exists():
        with gzip.open(DEV_SET, "rt") as fh:
            rows = [json.loads(line) for line in fh]
        rows = [r for r in rows if len(r.get("text", "").split()) >= 80 and r.get("title")]
        rows.sort(key=lambda r: r.get("order", 0))
        picked = rows[:n]
        return [Story(int(hashlib.sha1(str(r.get("outlet") or r["id"]).encode()).hexdigest(), 16) % outlets,
                      f"a{i}-{hashlib.sha1(r['id'].encode()).hexdigest()[:10]}", r["title"], r["text"])
                for i, r in enumerate(picked)]
    return [_generated(i, outlets, rng) for i in range(n)]


_TOWNS = ["Arlow", "Brenmoor", "Caddick", "Dunmere", "Elstow", "Farrow", "Glenholm", "Harwick", "Inverly"]
_EVENTS = ["closes its old bridge", "opens a new library", "votes on the harbour plan", "floods after storms",
           "elects a new mayor", "bans cars from the centre", "loses its last factory", "wins a rail link"]


def _generated(i: int, outlets: int, rng: random.Random) -> Story:
    """A plain news article written here (used when the dev set is absent)."""
    town, event = _TOWNS[i % len(_TOWNS)], _EVENTS[(i // len(_TOWNS)) % len(_EVENTS)]
    mayor = rng.choice(["Ines Varga", "Tomas Healy", "Rhea Olsen", "Paul Ostrow", "Mira Kade"])
    paragraphs = [
        f"The council of {town} {event}, the town hall said on Monday, after a debate that lasted most of the day "
        f"and divided the town's residents, its shop owners and the members of the council themselves.",
        f"The mayor of {town}, {mayor}, said the decision was difficult but necessary, and promised that the "
        f"council would publish the full report and the cost estimates before the end of the month.",
        f"Residents who spoke to reporters outside the town hall were split. Some welcomed the news; others said "
        f"the council had ignored the petition signed by more than {rng.randint(300, 3000)} people last year.",
        f"The regional government is expected to comment on the plan later this week, officials in {town} said, "
        f"and the opposition has asked for a public meeting in the old market hall (report {i}).",
    ]
    return Story(i % outlets, f"g{i}", f"{town} {event} (report {i})", "\n\n".join(paragraphs))


# --------------------------------------------------------------------------- the webhook receiver


@dataclass
class Receiver:
    """Records every webhook: (webhook-id, type, story id)."""

    received: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> int:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    data = json.loads(body)
                    kind, story = str(data.get("type")), str((data.get("story") or {}).get("id", ""))
                except ValueError:
                    kind, story = "?", ""
                with receiver.lock:
                    receiver.received.append((self.headers.get("webhook-id", ""), kind, story))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return int(server.server_address[1])


# --------------------------------------------------------------------------- processes


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill9(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    return ""


@dataclass
class Run:
    """One run of the system under test: its processes, addresses and namespace."""

    fault: str
    broker: str
    work: Path
    env: dict[str, str]
    api_port: int
    settings: Settings
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    infra: dict[str, ChildProcess] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.fault in SERVICE_FAULTS

    def start(self, name: str) -> None:
        """Start `wirewatch up` (name 'up') or one service of production mode."""
        args = ["up", "--data-dir", str(self.work / "data"), "--api-port", str(self.api_port)] if name == "up" \
            else [name]
        log = (self.work / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "services.cli", *args], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()

    def start_all(self) -> None:
        for name in (("store", "extractor", "fetcher", "notifier", "api") if self.production else ("up",)):
            self.start(name)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                kill9([proc.pid, *descendants(proc.pid)])
                proc.wait(10)
        for child in self.infra.values():
            child.stop()

    def strike(self) -> str:
        """Inject this run's fault (kill -9); returns what was killed."""
        if self.fault == "up_tree":
            up = self.procs["up"]
            kill9([up.pid, *descendants(up.pid)])
            up.wait(10)
            self.start("up")
            return f"up tree (pid {up.pid})"
        if self.fault in SERVICE_FAULTS:
            proc = self.procs[self.fault]
            kill9([proc.pid])  # its pool workers and children must go by themselves (parent-death signal)
            proc.wait(10)
            self.start(self.fault)
            return f"{self.fault} (pid {proc.pid})"
        owner = self.procs["up"].pid
        below = descendants(owner)
        if self.fault == "pool_worker":
            target = [p for p in below if "multiprocessing.spawn" in cmdline(p)][:1]
        elif self.fault == "redis":
            target = [p for p in below if "valkey-server" in cmdline(p)][:1]
        elif self.fault == "broker" and self.broker == "embedded":
            target = [p for p in below if "tansu" in cmdline(p)][:1]
        else:  # Apache Kafka, started by this harness: kill it and start it again on its log dir
            kafka = self.infra["kafka"]
            kill9([kafka.pid])
            kafka.popen.wait(10)
            from tests.support.kafka import start_apache_kafka

            port = int(self.settings.bootstrap.rpartition(":")[2])
            _, self.infra["kafka"] = start_apache_kafka(self.work / "kafka", port)
            return f"apache kafka (pid {kafka.pid})"
        if not target:
            raise RuntimeError(f"no process to kill for {self.fault}")
        kill9(target)
        return f"{self.fault} (pid {target[0]})"


# --------------------------------------------------------------------------- one run


@dataclass
class Result:
    """What one run measured."""

    fault: str
    broker: str
    served: int
    stored: int
    lost: int
    duplicated: int
    struck_at: float
    recovery_s: float | None
    created_ids_per_story_max: int
    stories_alerted: int
    stories: int
    undelivered: int
    resends_counted: int
    repeats_received: int
    pending: int
    outbox: int
    killed: str
    seconds: float
    #: seconds from the fault to everything stored, nothing pending and every webhook delivered
    settled_s: float | None = None

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.created_ids_per_story_max <= 1
                and self.undelivered == 0 and self.repeats_received <= self.resends_counted
                and self.pending == 0 and self.outbox == 0 and self.stories_alerted >= self.stories)


def _env(settings: Settings, work: Path, broker_external: bool, redis_external: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update({
        "WIREWATCH_ALLOW_NETWORKS": "127.0.0.0/8",
        "WIREWATCH_POLL_INTERVAL_S": "2", "WIREWATCH_POLL_MAX_INTERVAL_S": "3",
        "WIREWATCH_HOST_MIN_DELAY_S": "0", "WIREWATCH_HOST_CONCURRENCY": "8",
        "WIREWATCH_EXTRACT_WORKERS": "1", "WIREWATCH_LOG_JSON": "true",
        "WIREWATCH_SESSION_TIMEOUT_MS": "6000", "WIREWATCH_STARTUP_WAIT_S": "120",
        "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix, "WIREWATCH_KEY_PREFIX": settings.key_prefix,
        "WIREWATCH_DATA_DIR": str(work / "data"), "WIREWATCH_API_PORT": str(settings.api_port),
        "PYTHONUNBUFFERED": "1",
    })
    if broker_external:
        env["KAFKA_BOOTSTRAP"] = settings.bootstrap
    if redis_external:
        env["REDIS_URL"] = settings.required_redis_url
    return env


async def run_one(fault: str, broker: str, articles: list[Story], outlets: int, work: Path, *, seed: int,
                  recovery_bound_s: float, drain_s: float, log: Any = print) -> Result:
    """Serve `articles`, strike once after 20-60 % are stored, drain, and check."""
    rng = random.Random(seed)
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    namespace = f"f{hashlib.sha1(f'{fault}{broker}{seed}{time.time()}'.encode()).hexdigest()[:8]}"
    infra: dict[str, ChildProcess] = {}
    production = fault in SERVICE_FAULTS
    # Infrastructure the harness owns: Apache Kafka always (it is killed and restarted here); in production
    # mode the broker and Redis too. Otherwise `wirewatch up` starts its own (and restarts them itself).
    bootstrap = redis_url = None
    if broker == "apache":
        from tests.support.kafka import start_apache_kafka

        bootstrap, infra["kafka"] = await asyncio.to_thread(start_apache_kafka, work / "kafka", None)
    elif production:
        bootstrap, infra["tansu"] = await asyncio.to_thread(start_tansu, work / "tansu", None)
    if production:
        redis_url, infra["valkey"] = await asyncio.to_thread(start_valkey, work / "valkey", None)
    api_port = free_port()
    settings = Settings(kafka_bootstrap=bootstrap, redis_url=redis_url, topic_prefix=f"{namespace}.",
                        key_prefix=f"{namespace}:", api_port=api_port)
    env = _env(settings, work, bootstrap is not None, redis_url is not None)
    run = Run(fault, broker, work, env, api_port, settings, infra=infra)
    receiver = Receiver()
    hook = f"http://127.0.0.1:{receiver.start()}/hook"
    started = time.monotonic()
    with OutletServer() as server:
        outlet_list = [server.add_outlet(f"o{i}", f"Outlet {i}", ("rss", "atom", "jsonfeed")[i % 3])
                       for i in range(outlets)]
        if production:
            assert bootstrap is not None
            await ensure_all(settings)
        run.start_all()
        try:
            redis_url = redis_url or await _runtime_redis(work / "data", run)
            settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
            result = await _drive(run, settings, articles, outlet_list, hook, receiver, rng,
                                  recovery_bound_s=recovery_bound_s, drain_s=drain_s, log=log)
        finally:
            run.stop_all()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def _runtime_redis(data_dir: Path, run: Run) -> str:
    """The Redis URL the running `wirewatch up` chose (from its runtime file)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            runtime = json.loads((data_dir / "runtime.json").read_text())
            if int(runtime["pid"]) == run.procs["up"].pid:
                return str(runtime["redis_url"])
        if run.procs["up"].poll() is not None:
            raise RuntimeError(f"wirewatch up exited early; see {run.work / 'up.log'}")
        await asyncio.sleep(0.2)
    raise TimeoutError("wirewatch up wrote no runtime.json")


async def _drive(run: Run, settings: Settings, articles: list[Story], outlets: list[Outlet], hook: str,
                 receiver: Receiver, rng: random.Random, *, recovery_bound_s: float, drain_s: float,
                 log: Any) -> Result:
    redis = connect(settings.required_redis_url)
    keys = Keys(settings.key_prefix)
    repo = Repository(redis, keys)
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{run.api_port}", timeout=5)
    try:
        await _wait_healthy(api, 180)
        registry = FeedRegistry(redis, keys)
        for outlet in outlets:
            await registry.add(outlet.feed_url, outlet.name)
        sub = await SubscriptionStore(redis, keys).create(hook, Query(keywords=[KEYWORD]))
        served: set[str] = set()
        threshold = rng.uniform(0.2, 0.6) * len(articles)
        struck_at: float | None = None
        stored_at_strike = 0
        recovery: float | None = None
        killed = ""
        base = datetime.now(UTC) - timedelta(hours=2)
        next_article = 0
        settled_after: float | None = None
        deadline = time.monotonic() + drain_s + 60 * len(articles) / 20
        while time.monotonic() < deadline:
            # Publish the stream a few articles at a time.
            for story in articles[next_article:next_article + 4]:
                url = outlets[story.outlet].add_article(story.slug, story.title, story.text,
                                                        base + timedelta(seconds=next_article))
                served.add(article_id(canonical_url(url)))
                next_article += 1
            stored = await _stored(repo)
            if struck_at is None and stored >= threshold:
                struck_at, stored_at_strike = time.monotonic(), stored
                killed = await asyncio.to_thread(run.strike)
                log(f"  struck {killed} at {stored}/{len(articles)} stored")
                if run.fault == "up_tree":  # the new up picks a new port for its Valkey (same AOF)
                    await redis.aclose()
                    redis = connect(await _runtime_redis(run.work / "data", run))
                    repo = Repository(redis, keys)
            if struck_at is not None and recovery is None and (stored > stored_at_strike or stored == len(articles)):
                if await _healthy(api):
                    recovery = time.monotonic() - struck_at
            if next_article >= len(articles) and struck_at is not None and await _settled(
                    redis, keys, repo, sub.id, len(articles)):
                settled_after = time.monotonic() - struck_at
                break
            await asyncio.sleep(0.5)
        if recovery is None and struck_at is not None and await _healthy(api):
            recovery = time.monotonic() - struck_at
        result = await _check(run, redis, keys, repo, sub.id, served, receiver, struck_at or 0.0, recovery, killed)
        result.settled_s = None if settled_after is None else round(settled_after, 1)
        return result
    finally:
        await api.aclose()
        await redis.aclose()


async def _stored(repo: Repository) -> int:
    with contextlib.suppress(Exception):
        return int((await repo.stats())["articles"])
    return 0


async def _healthy(api: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await api.get("/healthz")).status_code == 200
    return False


async def _wait_healthy(api: httpx.AsyncClient, within_s: float) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if await _healthy(api):
                return
            await asyncio.sleep(0.5)


async def _settled(redis: Redis, keys: Keys, repo: Repository, sub_id: str, total: int) -> bool:
    with contextlib.suppress(Exception):
        if await _stored(repo) < total:
            return False
        if any(await _pending(redis, keys)):
            return False
        return not await DeliveryQueue(redis, keys).undelivered(sub_id)
    return False


async def _check(run: Run, redis: Redis, keys: Keys, repo: Repository, sub_id: str, served: set[str],
                 receiver: Receiver, struck_at: float, recovery: float | None, killed: str) -> Result:
    ids = await repo.recent_articles(limit=1_000_000)
    stored_articles = await repo.articles(list(ids))
    by_url = Counter(article_id(canonical_url(a.canonical_url or a.url)) for a in stored_articles)
    stored_ids = {a.id for a in stored_articles}
    queue = DeliveryQueue(redis, keys)
    with receiver.lock:
        received = list(receiver.received)
    created: dict[str, set[str]] = {}
    for msg_id, kind, story in received:
        if kind == "story.created":
            created.setdefault(story, set()).add(msg_id)
    repeats = sum(n - 1 for n in Counter(m for m, _, _ in received).values() if n > 1)
    deliveries = [await queue.get(m) for m in {m for m, _, _ in received}]
    story_ids = await repo.recent_stories(limit=1_000_000)
    pending, outbox = await _left_pending(redis, keys)
    return Result(
        fault=run.fault, broker=run.broker, served=len(served), stored=len(stored_ids & served),
        lost=len(served - stored_ids), duplicated=sum(n - 1 for n in by_url.values() if n > 1),
        struck_at=struck_at, recovery_s=None if recovery is None else round(recovery, 1),
        created_ids_per_story_max=max((len(v) for v in created.values()), default=0),
        stories_alerted=len(created), stories=len(story_ids),
        undelivered=len(await queue.undelivered(sub_id)),
        resends_counted=sum(d.resends for d in deliveries if d is not None), repeats_received=repeats,
        pending=pending, outbox=outbox, killed=killed, seconds=0.0)


async def _left_pending(redis: Redis, keys: Keys, within_s: float = 15.0) -> tuple[int, int]:
    """Feed items and story events still pending, once they had `within_s` to settle: an event the store
    emits just after the run looked settled (seen: one story event recorded in the outbox milliseconds after)
    is in flight, not left behind; one still there after the wait is."""
    deadline = time.monotonic() + within_s
    while True:
        left = await _pending(redis, keys)
        if not any(left) or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(0.5)


async def _pending(redis: Redis, keys: Keys) -> tuple[int, int]:
    """Feed items the ledger still holds, and story events the outbox still holds."""
    return await Ledger(redis, keys, seen_ttl_s=1).pending_count(), await EventOutbox(redis, keys).pending_count()


# --------------------------------------------------------------------------- the matrix


def matrix(results: list[Result]) -> str:
    """fault × broker -> lost / duplicated / recovery time (over the runs)."""
    lines = ["| fault | broker | runs | stored / served | lost | duplicated | created ids per story (max) | "
             "re-sends counted / repeats received | recovery s (max) | all settled s (max) | ok |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.fault, r.broker), []).append(r)
    for (fault, broker), rs in groups.items():
        rec = [r.recovery_s for r in rs if r.recovery_s is not None]
        settled = [r.settled_s for r in rs if r.settled_s is not None]
        lines.append(
            f"| {fault} | {broker} | {len(rs)} | {sum(r.stored for r in rs)} / {sum(r.served for r in rs)} | "
            f"{sum(r.lost for r in rs)} | {sum(r.duplicated for r in rs)} | "
            f"{max(r.created_ids_per_story_max for r in rs)} | {sum(r.resends_counted for r in rs)} / "
            f"{sum(r.repeats_received for r in rs)} | {max(rec) if rec else '-'} | "
            f"{max(settled) if len(settled) == len(rs) else 'not settled'} | "
            f"{'yes' if all(r.ok for r in rs) else 'NO'} |")
    return "\n".join(lines)


def iter_runs(faults: list[str], brokers: list[str], repeat: int) -> Iterator[tuple[str, str, int]]:
    for broker in brokers:
        for fault in faults:
            for i in range(repeat):
                yield fault, broker, i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--outlets", type=int, default=100)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS))
    parser.add_argument("--brokers", default="embedded,apache")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--recovery-bound", type=float, default=120.0)
    parser.add_argument("--drain", type=float, default=300.0, help="seconds allowed after the stream to settle")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "faults")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    articles = stream(args.articles, args.outlets, args.seed)
    source = "dev set" if DEV_SET.exists() else "generated"
    print(f"{len(articles)} articles ({source}) from {args.outlets} outlets", flush=True)
    results: list[Result] = []
    for fault, broker, i in iter_runs(args.faults.split(","), args.brokers.split(","), args.repeat):
        print(f"{fault} × {broker} run {i + 1}", flush=True)
        result = asyncio.run(run_one(fault, broker, articles, args.outlets, args.work / f"{fault}-{broker}-{i}",
                                     seed=args.seed + i, recovery_bound_s=args.recovery_bound, drain_s=args.drain))
        print(f"  {result}", flush=True)
        results.append(result)
    print(matrix(results))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))


if __name__ == "__main__":
    main()
