"""Store benchmark: articles/s through Store.ingest and Redis bytes per article as the store grows.

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
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from services.common.embedded import start_valkey
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.messages import Article, Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.repository import Repository
from services.store.service import Store

WORDS = [f"w{i}" for i in range(20_000)]
START = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic(n: int, rng: random.Random) -> Article:
    """Article n: one of n/8 stories, 600 words, 6 entities, minutes apart."""
    story = rng.randrange(max(1, n // 8 + 1))
    srng = random.Random(story)
    vocab = [srng.choice(WORDS) for _ in range(80)]
    text = " ".join(rng.choice(vocab) if rng.random() < 0.4 else rng.choice(WORDS) for _ in range(600))
    ents = [Entity(key=f"person:p{story}_{k}", name=f"P{story} {k}", type="PERSON", count=2, first_position=k)
            for k in range(3)] + [Entity(key=f"gpe:city{srng.randrange(500)}", name="City", type="GPE", count=1,
                                         first_position=9)]
    return Article(id=f"a{n}", url=f"https://o{n % 50}.example/{n}", outlet=f"o{n % 50}", title=" ".join(vocab[:8]),
                   text=text, language="en", entities=ents, published_at=START + timedelta(minutes=n),
                   fetched_at=START + timedelta(minutes=n))


async def run(settings: Settings, sizes: list[int], probe: int) -> list[dict[str, Any]]:
    """Fill to each size, then time `probe` ingests."""
    rng = random.Random(7)
    rows = []
    async with open_redis(settings) as redis:
        store = Store(settings, Repository(redis, Keys(settings.key_prefix)))
        base = int((await redis.info("memory"))["used_memory"])
        n = 0
        for size in sizes:
            while n < size:
                await store.ingest(synthetic(n, rng))
                n += 1
            timings = []
            for _ in range(probe):
                started = time.perf_counter()
                await store.ingest(synthetic(n, rng))
                timings.append((time.perf_counter() - started) * 1000)
                n += 1
            used = int((await redis.info("memory"))["used_memory"]) - base
            rows.append({"stored": n, "articles_per_s": round(1000 / statistics.mean(timings), 1),
                         "p50_ms": round(statistics.median(timings), 2),
                         "p99_ms": round(sorted(timings)[int(0.99 * (len(timings) - 1))], 2),
                         "redis_bytes_per_article": round(used / n)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--probe", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    sizes = [int(s) for s in args.sizes.split(",")]
    settings = Settings(key_prefix=f"bench{uuid.uuid4().hex[:6]}:")
    with tempfile.TemporaryDirectory() as tmp:
        child = None
        if settings.redis_url is None:
            url, child = start_valkey(Path(tmp))
            settings = settings.model_copy(update={"redis_url": SecretStr(url)})
        try:
            rows = asyncio.run(run(settings, sizes, args.probe))
        finally:
            if child is not None:
                child.stop()
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['stored']:>8} stored: {row['articles_per_s']:>7.1f} articles/s  p50 {row['p50_ms']} ms  "
                  f"p99 {row['p99_ms']} ms  Redis {row['redis_bytes_per_article']} B/article")


if __name__ == "__main__":
    main()
