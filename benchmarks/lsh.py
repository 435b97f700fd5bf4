"""LSH index benchmark: insert_and_query latency, throughput and Redis bytes per article.

    .venv/bin/python -m benchmarks.lsh [--n 10000 100000] [--concurrency 4] [--no-lead] [--json]

Uses REDIS_URL when set, else starts an embedded Valkey (AOF on, as `wirewatch up`
runs it) in a temporary directory. For each N it loads N synthetic sketches into a
fresh key prefix through LshIndex.insert_and_query (the store's code path, one
Lua call each, `concurrency` calls in flight on one asyncio client) and reports
p50/p99 ms per call, articles/s, the p50/p99 of the last 5,000 calls (does the
cost grow with the index?), Redis CPU ms per article (INFO cpu delta / N: the
server's work, less disturbed than wall time on a shared machine), and Redis bytes
per article (INFO used_memory delta / N, index + sketches; the sketch share measured
with MEMORY USAGE on a sample).
5 % of the sketches are near-duplicates (10 % of the signature and 2 of the 16 lead
values changed) of an earlier one, as wire re-posts would be. Every sketch has a lead
(fingerprint version 3: 4 more bands); --no-lead leaves it out, as version 2 stored
them, to measure what the lead costs. Ids are 20 hex characters like article_id().
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from services.common.fingerprint import LEAD_PERM, NUM_PERM, Sketch
from services.common.keys import Keys
from services.common.settings import Settings
from services.store.lsh import LshIndex

_PACK = struct.Struct(f"<{NUM_PERM}I")
_LEAD_PACK = struct.Struct(f"<{LEAD_PERM}I")


def synthetic(n: int, seed: int = 0, *, lead: bool = True) -> list[tuple[str, Sketch]]:
    """n (id, sketch) pairs; every 20th is a near-duplicate of a random earlier one; with a lead or without."""
    rng = random.Random(seed)
    out: list[tuple[str, Sketch]] = []
    for i in range(n):
        if i and i % 20 == 0:
            original = out[rng.randrange(i)][1]
            base = list(_PACK.unpack(original.signature))
            for j in rng.sample(range(NUM_PERM), NUM_PERM // 10):
                base[j] = rng.getrandbits(32)
            sig = _PACK.pack(*base)
            lead_values = list(_LEAD_PACK.unpack(original.lead or rng.randbytes(4 * LEAD_PERM)))
            for j in rng.sample(range(LEAD_PERM), 2):
                lead_values[j] = rng.getrandbits(32)
            lead_sig = _LEAD_PACK.pack(*lead_values)
        else:
            sig = rng.randbytes(4 * NUM_PERM)
            lead_sig = rng.randbytes(4 * LEAD_PERM)
        out.append((f"{rng.getrandbits(80):020x}", Sketch(sig, rng.randint(150, 1200), lead_sig if lead else b"")))
    return out


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def redis_cpu_s(client: Any) -> float:
    """CPU seconds the Redis server has used so far."""
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def run_one(url: str, n: int, concurrency: int, lead: bool = True) -> dict[str, Any]:
    """Load n sketches under a fresh prefix and measure."""
    client: Any = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        prefix = f"bench{uuid.uuid4().hex[:6]}:"
        index = LshIndex(client, Keys(prefix), window_hours=Settings().copy_window_hours)
        items = synthetic(n, lead=lead)
        before = int((await client.info("memory"))["used_memory"])
        cpu_before = await redis_cpu_s(client)
        latencies = [0.0] * n
        found = 0
        queue = iter(enumerate(items))
        t0 = 1_700_000_000.0

        async def worker() -> None:
            nonlocal found
            for i, (aid, sk) in queue:
                started = time.perf_counter()
                hits = await index.insert_and_query(aid, sk, at=t0 + i * 0.01)
                latencies[i] = (time.perf_counter() - started) * 1000
                found += bool(hits)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        redis_cpu_ms = (await redis_cpu_s(client) - cpu_before) * 1000 / n
        after = int((await client.info("memory"))["used_memory"])
        sample = [aid for aid, _ in random.Random(1).sample(items, min(200, n))]
        sketch_bytes = [int(await client.memory_usage(Keys(prefix).lsh_sketch(a)) or 0) for a in sample]
        tail = latencies[-min(5000, n):]
        return {
            "n": n, "lead": lead, "concurrency": concurrency, "seconds": round(elapsed, 2),
            "articles_per_s": round(n / elapsed),
            "p50_ms": round(pct(latencies, 50), 3), "p99_ms": round(pct(latencies, 99), 3),
            "last5k_p50_ms": round(pct(tail, 50), 3), "last5k_p99_ms": round(pct(tail, 99), 3),
            "with_candidates": found, "near_dups_inserted": (n - 1) // 20,
            "redis_cpu_ms_per_article": round(redis_cpu_ms, 3),
            "redis_bytes_per_article": round((after - before) / n),
            "sketch_key_bytes": round(statistics.mean(sketch_bytes)),
        }
    finally:
        await client.aclose()


async def main_async(sizes: list[int], concurrency: int, lead: bool = True) -> list[dict[str, Any]]:
    """Run every size against REDIS_URL or an embedded Valkey."""
    url = os.environ.get("REDIS_URL")
    child = None
    tmp = None
    if not url:
        from services.common.embedded import start_valkey

        tmp = tempfile.TemporaryDirectory(prefix="wirewatch-bench-lsh-")
        url, child = start_valkey(Path(tmp.name))
    try:
        return [await run_one(url, n, concurrency, lead) for n in sizes]
    finally:
        if child is not None:
            child.stop()
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-lead", action="store_true", help="sketches without a lead (fingerprint version 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.n, args.concurrency, lead=not args.no_lead))
    for r in results:
        print(json.dumps(r) if args.json else
              f"N={r['n']:>7}: {r['articles_per_s']:>6} articles/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
              f"(last 5k: {r['last5k_p50_ms']} / {r['last5k_p99_ms']} ms), {r['redis_cpu_ms_per_article']} ms Redis "
              f"CPU/article, {r['redis_bytes_per_article']} Redis bytes/article (sketch key {r['sketch_key_bytes']}), "
              f"{r['with_candidates']} found candidates ({r['near_dups_inserted']} near-dups inserted)")


if __name__ == "__main__":
    main()
