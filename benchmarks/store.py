"""Store benchmark: articles/s through Placer.ingest_many and Redis bytes per article as the store grows.

    .venv/bin/python -m benchmarks.store [--sizes 1000,10000] [--probe 500] [--json]

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


async def run(settings: Settings, sizes: list[int], probe: int, batch: int) -> list[dict[str, Any]]:
    """Fill to each size, then time `probe` articles ingested in batches of `batch` (as the service polls them)."""
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


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--probe", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=Settings().store_batch_size, help="articles per consumer poll")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings(key_prefix=f"bench{uuid.uuid4().hex[:6]}:")
    with redis_for(settings) as settings:
        rows = asyncio.run(run(settings, sizes, args.probe, args.batch))
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
