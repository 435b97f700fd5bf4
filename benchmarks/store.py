"""Store benchmark: articles/s through Placer.ingest_many and Redis bytes per article as the store grows.

    .venv/bin/python -m benchmarks.store [--sizes 1000,10000] [--probe 500] [--json] [--commandstats]

Starts an embedded Valkey unless REDIS_URL is set. Fills the store with
synthetic articles (a few thousand "stories" with their own vocabulary and
entities, realistic length), then times `probe` further articles at each size.
One process, one core for the store; Redis on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.redis_server import redis_for
from services.common.fingerprint import fingerprint
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.messages import Article, Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.gc_policy import FullCollections
from services.store.placement import Placer
from services.store.repository import Repository

WORDS = [f"w{i}" for i in range(20_000)]
START = datetime(2026, 1, 1, tzinfo=UTC)
ACTIVE_STORIES = 2_000


def synthetic(n: int, rng: random.Random) -> Article:
    """Article n: one of the latest ~2,000 stories (8 articles each on average), 600 words, 4 entities.

    News has temporal locality: an article is about one of the stories running now, not about
    a story drawn uniformly from all time.
    """
    newest = n // 8
    story = newest - rng.randrange(min(ACTIVE_STORIES, newest + 1))
    srng = random.Random(story)
    vocab = [srng.choice(WORDS) for _ in range(80)]
    text = " ".join(rng.choices(vocab, k=240) + rng.choices(WORDS, k=360))
    ents = [Entity(key=f"person:p{story}_{k}", name=f"P{story} {k}", type="PERSON", count=2, first_position=k)
            for k in range(3)] + [Entity(key=f"gpe:city{srng.randrange(500)}", name="City", type="GPE", count=1,
                                         first_position=9)]
    title = " ".join(vocab[:8])
    # As the extractor sends it: with its fingerprint (timed separately, see fingerprint_ms).
    return Article(id=f"a{n}", url=f"https://o{n % 50}.example/{n}", outlet=f"o{n % 50}", title=title,
                   text=text, language="en", entities=ents, published_at=START + timedelta(minutes=n),
                   fetched_at=START + timedelta(minutes=n), fingerprint=fingerprint(title, text))


async def run(settings: Settings, sizes: list[int], probe: int, batch: int,
              commandstats: bool = False) -> list[dict[str, Any]]:
    """Fill to each size, then time `probe` articles ingested in batches of `batch` (as the service polls them);
    `commandstats`: also print what Redis spent on each command during each probe."""
    rng = random.Random(7)
    rows = []
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        collections = FullCollections()
        collections.install()  # as services.store.service.main does, which runs it after each batch

        async def ingest_many(articles: list[Article]) -> None:
            await placer.ingest_many(articles)
            collections.run_if_due()

        base = int((await redis.info("memory"))["used_memory"])
        n = 0
        for size in sizes:
            started_fill, filled_from = time.perf_counter(), n
            while n < size:
                count = min(batch, size - n)
                await ingest_many([synthetic(n + i, rng) for i in range(count)])
                n += count
                if n % 10_000 < batch:
                    rate = (n - filled_from) / (time.perf_counter() - started_fill)
                    print(f"  filled {n:,} / {size:,} ({rate:,.0f} articles/s)", file=sys.stderr)
            per_article = []
            stats_started = await command_stats(redis) if commandstats else {}
            if commandstats:
                # Every top-level call slower than 50 us (the scripts; commands inside them take a few us) logged.
                await redis.config_set("slowlog-max-len", 100_000)
                await redis.slowlog_reset()
                await redis.config_set("slowlog-log-slower-than", 50)
            redis_cpu_started = await redis_cpu_s(redis)
            cpu_started = time.process_time()
            wall_started = time.perf_counter()
            for _ in range(max(1, probe // batch)):
                articles = [synthetic(n + i, rng) for i in range(batch)]
                started = time.perf_counter()
                await ingest_many(articles)
                per_article.append((time.perf_counter() - started) * 1000 / batch)
                n += batch
            redis_cpu_ms = (await redis_cpu_s(redis) - redis_cpu_started) * 1000 / (len(per_article) * batch)
            if commandstats:
                print_command_stats(stats_started, await command_stats(redis), len(per_article) * batch, n)
                await redis.config_set("slowlog-log-slower-than", 10_000)
                print_script_times(await redis.slowlog_get(100_000), script_names(placer), len(per_article) * batch)
                await redis.slowlog_reset()  # its entries hold the scripts' arguments: not the store's bytes
                aof = ("aof_rewrites", "aof_rewrite_in_progress", "aof_current_size", "aof_last_rewrite_time_sec")
                print(f"  keys {await redis.dbsize():,}; " + ", ".join(
                    f"{k} {v}" for k, v in (await redis.info("persistence")).items() if k in aof), file=sys.stderr)
            started = time.perf_counter()
            for article in articles:
                fingerprint(article.title, article.text)
            fingerprint_ms = (time.perf_counter() - started) * 1000 / len(articles)
            used = int((await redis.info("memory"))["used_memory"]) - base
            rows.append({"stored": n, "articles_per_s": round(1000 / statistics.mean(per_article), 1),
                         "batch": batch, "ms_per_article_p50": round(statistics.median(per_article), 3),
                         "store_cpu_share": round((time.process_time() - cpu_started)
                                                  / (time.perf_counter() - wall_started), 2),
                         "redis_bytes_per_article": round(used / n),
                         "redis_cpu_ms_per_article": round(redis_cpu_ms, 3),
                         "extractor_fingerprint_ms": round(fingerprint_ms, 3)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


async def redis_cpu_s(redis: Any) -> float:
    """CPU seconds the Redis server has used so far."""
    cpu = await redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def command_stats(redis: Any) -> dict[str, tuple[int, float]]:
    """(calls, usec) per command so far."""
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), float(v["usec"])) for name, v in stats.items()}


def print_command_stats(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]],
                        articles: int, stored: int) -> None:
    """The commands Redis spent most time on between two readings: calls and usec per article, usec per call.
    A script's commands count both under their own name and under its EVALSHA."""
    rows = []
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0.0))
        if calls > calls0:
            rows.append((usec - usec0, calls - calls0, name))
    print(f"  commands at {stored:,} stored (per probed article):", file=sys.stderr)
    for usec, calls, name in sorted(rows, reverse=True)[:15]:
        print(f"    {name:<22} {usec / articles:8.1f} usec {calls / articles:7.1f} calls "
              f"{usec / calls:6.2f} usec/call", file=sys.stderr)


def script_names(placer: Placer) -> dict[str, str]:
    """The store's Lua scripts by SHA1."""
    repo, lsh = placer.repo, placer.lsh
    scripts = {"commit": repo._commit, "read_postings": repo._read_postings, "read_versions": repo._read_versions,
               "lsh_insert_and_query": lsh._insert}
    return {script.sha: name for name, script in scripts.items()}


def print_script_times(slowlog: list[dict[str, Any]], names: dict[str, str], articles: int) -> None:
    """usec per probed article in each script, from the slow log (calls of 50 usec or more)."""
    total: dict[str, list[float]] = {}
    for entry in slowlog:
        command = entry["command"].split(b" ") if isinstance(entry["command"], bytes) else entry["command"].split()
        name = command[0].decode() if isinstance(command[0], bytes) else command[0]
        if name.lower() == "evalsha":
            sha = command[1].decode() if isinstance(command[1], bytes) else command[1]
            name = names.get(sha, sha[:8])
        row = total.setdefault(name.lower(), [0, 0.0])
        row[0] += 1
        row[1] += entry["duration"]
    print("  scripts and commands of 50 usec or more (per probed article):", file=sys.stderr)
    for name, (calls, usec) in sorted(total.items(), key=lambda kv: -kv[1][1])[:8]:
        print(f"    {name:<22} {usec / articles:8.1f} usec {calls / articles:7.2f} calls "
              f"{usec / calls:8.1f} usec/call", file=sys.stderr)


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--probe", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=Settings().store_batch_size, help="articles per consumer poll")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--commandstats", action="store_true", help="print Redis time per command at each probe")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings(key_prefix=f"bench{uuid.uuid4().hex[:6]}:")
    with redis_for(settings) as settings:
        rows = asyncio.run(run(settings, sizes, args.probe, args.batch, args.commandstats))
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['stored']:>9,} stored: {row['articles_per_s']:>7.1f} articles/s (batches of {row['batch']}, "
                  f"{row['ms_per_article_p50']} ms/article p50, store process on CPU {row['store_cpu_share']:.0%} "
                  f"of the time)  Redis {row['redis_bytes_per_article']} B/article, "
                  f"{row['redis_cpu_ms_per_article']} ms CPU/article; "
                  f"fingerprint in the extractor {row['extractor_fingerprint_ms']} ms/article")


if __name__ == "__main__":
    main()
