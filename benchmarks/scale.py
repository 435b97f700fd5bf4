"""Scale-out: the same stream through one and through two instances of every service, outputs compared.

    .venv/bin/python -m benchmarks.scale                                  # 200 articles, 20 outlets, 1 vs 2
    .venv/bin/python -m benchmarks.scale --articles 60 --outlets 6 --instances 1,2 --redis single

Each run starts Apache Kafka (KRaft, 3 partitions per topic) or the embedded broker, a Redis Cluster of
three primaries (`--redis cluster`, the default; the services get a `redis+cluster://` URL) or one
Valkey, then `--instances` processes each of the fetcher, extractor, store and notifier (production mode,
`wirewatch <service>`) and one API. It registers `--outlets` loopback feeds and a few subscriptions, serves
the whole stream at once, and once it is stored, a re-post of every fifth article by another outlet (whole
or its first half: copies); then it waits until nothing is pending and every webhook is delivered, reads
what the system made and prints, per instance count:

* throughput: articles stored per second, from serving the stream to the last of it stored;
* the story partition (which articles share a story), the copy pairs (article -> the article it copies)
  and, per subscription, the set of stories alerted (each story named by its articles, so runs compare
  whatever ids they gave their stories), and whether each equals the first run's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.faults import KEYWORD, ROOT, Receiver, Story, descendants, kill9, stream
from services.common.embedded import ChildProcess, free_port, start_tansu, start_valkey
from services.common.keys import Keys
from services.common.ledger import EventOutbox, Ledger
from services.common.messages import article_id
from services.common.redis import connect
from services.common.settings import Settings
from services.common.topics import ensure_all
from services.common.urls import canonical_url
from services.demo.outlets import OutletServer
from services.fetcher.registry import FeedRegistry
from services.notifier.subscriptions import Query, SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from services.store.repository import Repository

SERVICES = ("store", "extractor", "fetcher", "notifier")


@dataclass
class Outcome:
    """What one run made, in terms two runs can compare."""

    instances: int
    articles: int
    stored: int
    #: seconds from serving the stream (the first wave) to the last of it stored, and its size
    seconds_to_store: float
    first_wave: int
    #: each story as the sorted articles in it (named by the stream's slugs, which every run shares)
    stories: list[list[str]]
    #: article -> the article it copies (slugs)
    copies: dict[str, str]
    #: subscription name -> the stories alerted (each as its sorted article ids), sorted
    alerts: dict[str, list[list[str]]]
    #: webhook type -> how many were received (informative: update counts depend on batching)
    webhooks: dict[str, int] = field(default_factory=dict)
    duplicated: int = 0
    settled: bool = False

    @property
    def throughput(self) -> float:
        return round(self.first_wave / self.seconds_to_store, 2) if self.seconds_to_store else 0.0


#: The subscriptions of every run: name -> query.
SUBSCRIPTIONS: dict[str, Query] = {
    "every story": Query(keywords=[KEYWORD]),
    "two outlets or more": Query(keywords=[KEYWORD], min_outlets=2),
    "outlets 0 and 1": Query(outlets=["Outlet 0", "Outlet 1"]),
    "government": Query(keywords=["government"]),
}


def _env(settings: Settings, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update({
        "KAFKA_BOOTSTRAP": settings.bootstrap, "REDIS_URL": settings.required_redis_url,
        "WIREWATCH_ALLOW_NETWORKS": "127.0.0.0/8",
        "WIREWATCH_POLL_INTERVAL_S": "2", "WIREWATCH_POLL_MAX_INTERVAL_S": "3",
        "WIREWATCH_HOST_MIN_DELAY_S": "0", "WIREWATCH_HOST_CONCURRENCY": "8",
        "WIREWATCH_EXTRACT_WORKERS": "1", "WIREWATCH_LOG_JSON": "true",
        "WIREWATCH_SESSION_TIMEOUT_MS": "6000", "WIREWATCH_STARTUP_WAIT_S": "120",
        "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix, "WIREWATCH_KEY_PREFIX": settings.key_prefix,
        "WIREWATCH_DATA_DIR": str(work / "data"), "WIREWATCH_API_PORT": str(settings.api_port),
        "PYTHONUNBUFFERED": "1",
    })
    return env


async def start_infra(work: Path, broker: str, redis_mode: str) -> tuple[str, str, list[ChildProcess]]:
    """The broker and Redis of one run: (bootstrap, redis URL, children to stop)."""
    children: list[ChildProcess] = []
    if broker == "apache":
        from tests.support.kafka import start_apache_kafka

        bootstrap, child = await asyncio.to_thread(start_apache_kafka, work / "kafka", None)
    else:
        bootstrap, child = await asyncio.to_thread(start_tansu, work / "tansu", None)
    children.append(child)
    if redis_mode == "cluster":
        from tests.support.cluster import start_valkey_cluster

        redis_url, nodes = await asyncio.to_thread(start_valkey_cluster, work / "valkey-cluster")
        children += nodes
    else:
        redis_url, child = await asyncio.to_thread(start_valkey, work / "valkey", None)
        children.append(child)
    return bootstrap, redis_url, children


async def run_scaled(instances: int, articles: list[Story], outlets: int, work: Path, *, broker: str = "apache",
                     redis_mode: str = "cluster", infra: tuple[str, str] | None = None, timeout_s: float,
                     log: Any = print) -> Outcome:
    """Serve `articles` to `instances` of every service and collect what they made; on `infra`
    (bootstrap, redis URL) if given, else on a broker and Redis started here."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    namespace = f"s{hashlib.sha1(f'{instances}{time.time()}'.encode()).hexdigest()[:8]}"
    children: list[ChildProcess] = []
    if infra is None:
        bootstrap, redis_url, children = await start_infra(work, broker, redis_mode)
    else:
        bootstrap, redis_url = infra
    procs: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings(kafka_bootstrap=bootstrap, redis_url=redis_url, topic_prefix=f"{namespace}.",
                            key_prefix=f"{namespace}:", api_port=free_port())
        await ensure_all(settings)
        env = _env(settings, work)
        for name in ("api", *SERVICES):
            for i in range(1 if name == "api" else instances):
                procs.append(await asyncio.to_thread(_start, name, env, work / f"{name}-{i}.log"))
        receiver = Receiver()
        hook = f"http://127.0.0.1:{receiver.start()}/hook"
        with OutletServer() as server:
            outlet_list = [server.add_outlet(f"o{i}", f"Outlet {i}", ("rss", "atom", "jsonfeed")[i % 3])
                           for i in range(outlets)]
            return await _drive(instances, settings, articles, outlet_list, hook, receiver, procs,
                                timeout_s=timeout_s, log=log)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                kill9([proc.pid, *descendants(proc.pid)])
        for child in reversed(children):
            child.stop()


def reposts(articles: list[Story], outlets: int, every: int = 5) -> list[Story]:
    """Every `every`-th article re-posted by the next outlet: whole, or only its first half (a copy either way)."""
    out = []
    for i, story in enumerate(articles[::every]):
        paragraphs = story.text.split("\n\n")
        text = story.text if i % 2 == 0 or len(paragraphs) < 4 else "\n\n".join(paragraphs[:len(paragraphs) // 2 + 1])
        out.append(Story((story.outlet + 1) % outlets, f"{story.slug}-re", story.title, text))
    return out


def _start(name: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`wirewatch <name>` as its own process, its output appended to `log_path`."""
    with log_path.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.cli", name], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)


async def _drive(instances: int, settings: Settings, articles: list[Story], outlets: list[Any], hook: str,
                 receiver: Receiver, procs: list[subprocess.Popen[bytes]], *, timeout_s: float,
                 log: Any) -> Outcome:
    redis = connect(settings.required_redis_url)
    keys = Keys(settings.key_prefix)
    repo = Repository(redis, keys)
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=5)
    try:
        async with asyncio.timeout(180):
            while not await _healthy(api):
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("a service exited at start; see the logs beside the run")
                await asyncio.sleep(0.5)
        subs = SubscriptionStore(redis, keys)
        sub_ids = {name: (await subs.create(hook, query)).id for name, query in SUBSCRIPTIONS.items()}
        base = datetime.now(UTC) - timedelta(hours=2)
        served: dict[str, str] = {}  # article id -> the stream's slug (ids differ between runs: new ports)

        def serve(stories: list[Story], first: int) -> None:
            for i, story in enumerate(stories, first):
                url = outlets[story.outlet].add_article(story.slug, story.title, story.text,
                                                        base + timedelta(seconds=i))
                served[article_id(canonical_url(url))] = story.slug

        # Wave 1, the stream, all at once (the throughput); wave 2, once it is stored, its re-posts (copies).
        serve(articles, 0)
        started = time.monotonic()
        registry = FeedRegistry(redis, keys)
        for outlet in outlets:
            await registry.add(outlet.feed_url, outlet.name)
        stored_at: float | None = None
        settled = False
        deadline = started + timeout_s
        quiet_since, last_received = time.monotonic(), 0
        while time.monotonic() < deadline:
            stored = int((await repo.stats())["articles"])
            if stored_at is None and stored >= len(served):
                stored_at = time.monotonic()
                log(f"  {instances} instance(s): {stored} stored in {stored_at - started:.1f} s")
                serve(reposts(articles, len(outlets)), len(articles))
            with receiver.lock:
                received = len(receiver.received)
            if received != last_received:
                quiet_since, last_received = time.monotonic(), received
            if stored_at is not None and stored >= len(served) and time.monotonic() - quiet_since > 5 \
                    and await _settled(redis, keys, sub_ids.values()):
                settled = True
                break
            await asyncio.sleep(0.5)
        return await _outcome(instances, repo, keys, served, sub_ids, receiver, started, stored_at, settled,
                              first_wave=len(articles))
    finally:
        await api.aclose()
        await redis.aclose()


async def _healthy(api: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await api.get("/healthz")).status_code == 200
    return False


async def _settled(redis: Any, keys: Keys, sub_ids: Any) -> bool:
    if await Ledger(redis, keys, seen_ttl_s=1).pending_count() or await EventOutbox(redis, keys).pending_count():
        return False
    queue = DeliveryQueue(redis, keys)
    for sub_id in sub_ids:
        if await queue.undelivered(sub_id):
            return False
    return True


async def _outcome(instances: int, repo: Repository, keys: Keys, served: dict[str, str], sub_ids: dict[str, str],
                   receiver: Receiver, started: float, stored_at: float | None, settled: bool, *,
                   first_wave: int) -> Outcome:
    ids = await repo.recent_articles(limit=1_000_000)
    stored = await repo.articles(list(ids))
    by_story: dict[str, list[str]] = {}
    for a in stored:
        by_story.setdefault(a.cluster_id, []).append(served.get(a.id, a.id))
    # Follow merges: an article's cluster id may name a story merged away since.
    _, aliases = await repo.load_stories(list(by_story))
    members: dict[str, list[str]] = {}
    for cid, arts in by_story.items():
        members.setdefault(aliases.get(cid, cid), []).extend(arts)
    story_of = {cid: sorted(members[aliases.get(cid, cid)]) for cid in by_story}
    with receiver.lock:
        received = list(receiver.received)
    hooks = {hook_id: (kind, story) for hook_id, kind, story in received}
    queue = DeliveryQueue(repo.redis, keys)
    alerts: dict[str, set[tuple[str, ...]]] = {name: set() for name in sub_ids}
    names = {sub_id: name for name, sub_id in sub_ids.items()}
    _, hook_aliases = await repo.load_stories(list({story for _, story in hooks.values()}))
    for hook_id, (_, story) in hooks.items():
        delivery = await queue.get(hook_id)
        final = hook_aliases.get(story, story)
        if delivery is not None and final in story_of:
            alerts[names[delivery.subscription_id]].add(tuple(story_of[final]))
    kinds: dict[str, int] = {}
    for _, kind, _ in received:
        kinds[kind] = kinds.get(kind, 0) + 1
    urls = [article_id(canonical_url(a.canonical_url or a.url)) for a in stored]
    return Outcome(
        instances=instances, articles=len(served), stored=len({a.id for a in stored} & set(served)),
        seconds_to_store=round((stored_at or time.monotonic()) - started, 1), first_wave=first_wave,
        stories=sorted(sorted(m) for m in members.values()),
        copies={served.get(a.id, a.id): served.get(a.copy_of, a.copy_of) for a in stored if a.copy_of},
        alerts={name: sorted(list(s) for s in found) for name, found in alerts.items()},
        webhooks=kinds, duplicated=len(urls) - len(set(urls)), settled=settled)


def compare(first: Outcome, other: Outcome) -> dict[str, bool]:
    """Which outputs of `other` equal `first`'s."""
    return {"stories": first.stories == other.stories, "copies": first.copies == other.copies,
            "alerts": first.alerts == other.alerts}


def _pairs(stories: list[list[str]]) -> set[tuple[str, str]]:
    return {(a, b) for story in stories for i, a in enumerate(story) for b in story[i + 1:]}


def story_agreement(first: Outcome, other: Outcome) -> float:
    """Pairwise F1 of `other`'s stories against `first`'s (1.0: the same partition).

    Online clustering is order-dependent: with two store instances the articles of one poll are placed in
    another order than by one, so an article scoring near the join threshold with a story may go either
    way; this says how far apart two runs' stories are, beside `compare`'s yes/no.
    """
    ref, got = _pairs(first.stories), _pairs(other.stories)
    if not ref and not got:
        return 1.0
    both = len(ref & got)
    return round(2 * both / (len(ref) + len(got)), 4)


def alerts_follow_stories(outcome: Outcome) -> bool:
    """Whether the subscription every story matches was alerted for exactly the run's own stories."""
    return sorted(outcome.alerts.get("every story", [])) == outcome.stories


def report(outcomes: list[Outcome]) -> str:
    """A table: instances -> throughput, stories, copies, alerts per subscription, equal to the first run."""
    lines = ["| instances of each service | stored / served | seconds to store the stream | articles/s | stories | "
             "copy pairs | stories alerted per subscription | same stories / copies / alerts as the first | "
             "stories' pairwise F1 against the first |",
             "|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        same = compare(outcomes[0], o)
        alerted = ", ".join(f"{name}: {len(found)}" for name, found in o.alerts.items())
        lines.append(f"| {o.instances} | {o.stored} / {o.articles} | {o.seconds_to_store} | {o.throughput} | "
                     f"{len(o.stories)} | {len(o.copies)} | {alerted} | "
                     f"{' / '.join('yes' if same[k] else 'NO' for k in ('stories', 'copies', 'alerts'))} | "
                     f"{story_agreement(outcomes[0], o)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--outlets", type=int, default=20)
    parser.add_argument("--instances", default="1,2", help="instance counts to run, the first is the reference")
    parser.add_argument("--broker", choices=["apache", "embedded"], default="apache")
    parser.add_argument("--redis", choices=["cluster", "single"], default="cluster")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a run may take")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "scale")
    parser.add_argument("--json", type=Path, help="also write every run's outcome here")
    args = parser.parse_args()
    articles = stream(args.articles, args.outlets, args.seed)
    outcomes = []
    for n in (int(x) for x in args.instances.split(",")):
        print(f"{n} instance(s) of each service, {args.broker} broker, redis {args.redis}", flush=True)
        outcomes.append(asyncio.run(run_scaled(n, articles, args.outlets, args.work / f"x{n}-{time.time():.0f}",
                                               broker=args.broker, redis_mode=args.redis,
                                               timeout_s=args.timeout)))
    print(report(outcomes))
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))


if __name__ == "__main__":
    main()
