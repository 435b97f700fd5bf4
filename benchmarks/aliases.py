"""The entity alias table over a stream longer than the retention: bounded with forgetting, growing without.

    .venv/bin/python -m benchmarks.aliases [--articles 3546] [--per-day 250] [--retention-days 3]
                                           [--entities-cache FILE]

Streams the articles' entities through the extractor's alias table (`AliasTable.resolve`, on an embedded
Valkey unless WIREWATCH_REDIS_URL is set), `--per-day` articles a simulated day, twice: once as the extractor
runs (`forget_unseen` every simulated 10 minutes with a retention of `--retention-days`), once never
forgetting. Prints, at the end of each simulated day, the entities and the table's bytes (MEMORY USAGE of
every `{entities}` key) of both runs; then what the sweeps cost. The articles and their entities are those
of `benchmarks.footprint` (the dev set in stream order with an `--entities-cache` file written by
`wirewatch eval stories --entities-cache`, spaCy's entities; else the project's sample news with stand-in
entities).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from benchmarks.footprint import stream
from benchmarks.pipeline import footprint
from benchmarks.redis_server import redis_for
from services.common.keys import Keys
from services.common.messages import Entity
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.extractor.service import FORGET_EVERY_S

T0 = 1_800_000_000.0
DAY = 86_400.0


async def table_bytes(redis: Redis, keys: Keys) -> int:
    """Bytes of the alias table under `keys`' prefix, the only keys each run writes (exact MEMORY USAGE)."""
    return sum(size for _, size in (await footprint(redis, keys.prefix, samples=0)).values())


async def run(settings: Settings, entities: list[list[Entity]], per_day: int, retention_s: float | None,
              ) -> tuple[list[tuple[int, int, int]], float, int]:
    """[(day, entities, table bytes) at each day's end, and with a retention (day -1) once every entity is
    due], seconds in the sweeps while streaming, entities they forgot."""
    keys = Keys(f"al{uuid.uuid4().hex[:8]}:")
    rows: list[tuple[int, int, int]] = []
    sweeping, forgotten = 0.0, 0
    async with open_redis(settings) as redis:
        table = AliasTable(redis, keys)
        next_sweep = T0 + FORGET_EVERY_S
        for i, ents in enumerate(entities):
            now = T0 + i * DAY / per_day
            if retention_s is not None and now >= next_sweep:
                started = time.perf_counter()
                forgotten += await table.forget_unseen(retention_s, now=now)
                sweeping += time.perf_counter() - started
                next_sweep += FORGET_EVERY_S
            await table.resolve(ents, now=now)
            if (i + 1) % per_day == 0 or i + 1 == len(entities):
                rows.append(((i + 1 + per_day - 1) // per_day, int(await redis.zcard(keys.entity_filed)),
                             await table_bytes(redis, keys)))
        if retention_s is not None:
            # one retention after the last article every entity is due: what forgetting leaves behind
            last = T0 + len(entities) * DAY / per_day
            await table.forget_unseen(retention_s, now=last + retention_s + 3600)
            rows.append((-1, int(await redis.zcard(keys.entity_filed)), await table_bytes(redis, keys)))
    return rows, sweeping, forgotten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3546)
    parser.add_argument("--per-day", type=int, default=250, help="articles a simulated day")
    parser.add_argument("--retention-days", type=float, default=3.0)
    parser.add_argument("--entities-cache", type=Path, help="an eval --entities-cache file (spaCy's entities)")
    args = parser.parse_args()
    articles, source = stream(args.articles, 1.0, args.entities_cache)
    entities = [a.entities for a in articles]
    with redis_for(Settings()) as settings:
        kept, sweeping, forgotten = asyncio.run(run(settings, entities, args.per_day, args.retention_days * DAY))
        grown, _, _ = asyncio.run(run(settings, entities, args.per_day, None))
    print(f"{len(entities):,} articles ({source}), {args.per_day} a day, retention {args.retention_days:g} days")
    print(f"{'day':>4} {'articles':>9} | {'entities':>9} {'table MB':>9} | {'never forgetting':>17} {'table MB':>9}")
    for (day, n_kept, b_kept), (_, n_grown, b_grown) in zip(kept, grown, strict=False):
        print(f"{day:>4} {min(day * args.per_day, len(entities)):>9,} | {n_kept:>9,} {b_kept / 1e6:>9.2f} | "
              f"{n_grown:>17,} {b_grown / 1e6:>9.2f}")
    _, n_left, b_left = kept[-1]
    print(f"a retention after the last article: {n_left:,} entities, {b_left / 1e3:,.1f} KB left of the table "
          f"(never forgetting: {grown[-1][2] / 1e3:,.1f} KB)")
    print(f"sweeps: {forgotten:,} entities forgotten in {sweeping:.2f} s "
          f"({1000 * sweeping / max(forgotten, 1):.3f} ms each, Redis included)")


if __name__ == "__main__":
    main()
