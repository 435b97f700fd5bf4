"""Redis bytes per stored article, by key family: cheap and deterministic (no spaCy, no broker, one core).

    .venv/bin/python -m benchmarks.footprint [--articles 2000] [--entities-cache FILE] [--no-notifier]
        [--no-aliases] [--json]

Resolves each article's entities through the extractor's alias table (`AliasTable.resolve`, as the extractor
does before it publishes an article; its keys are told apart by kind: name index, vote hashes, known-as sets,
the name/form/article tables), places the articles through the store's real code (`Placer.ingest_many` in the
service's batches, with the service's retention and posting window) against an embedded Valkey (or REDIS_URL),
and hands each story event to the notifier's real code (`Notifier.handle`: the live stream, alert snapshots,
one subscription that every story matches, its webhook deliveries settled as delivered, as the delivery engine
records them), then prints Redis bytes per article by key family (SCAN + MEMORY USAGE, exact) and the
used_memory delta, and beside them a modelled steady state: what each family weighs per article once Redis
holds a whole retention period at `--per-day` articles a day (a family living shorter than the retention, or
capped by count, weighs its share; fixed costs are spread).

The articles are the dev set's texts (../shared/data/stories-dev.jsonl.gz, ≥ 80 words and titled, in
stream order, cycled with new ids past its end) or, without it, the project's sample news. Their entities
come from an `--entities-cache` file written by `wirewatch eval stories --entities-cache` (spaCy's, for
real figures) or else from a crude deterministic stand-in (runs of capitalised words), so the command
runs anywhere in seconds. Article i is published `--spacing-s` seconds after article i-1.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.pipeline import DEV_SET, footprint, used_memory
from benchmarks.pipeline import articles as dev_items
from benchmarks.redis_server import redis_for
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.messages import Article, Entity, article_id
from services.common.redis import open_redis
from services.common.settings import Settings
from services.extractor.aliases import AliasTable
from services.notifier.live import STORY_STREAM_MAX, STORY_STREAM_SEEN_TTL_S
from services.notifier.service import Notifier
from services.notifier.subscriptions import Query, SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from services.notifier.webhooks.queue import DELIVERED_TTL_S
from services.store.compression import Codec
from services.store.idf import BUCKETS
from services.store.placement import Placer
from services.store.repository import Repository
from services.store.service import story_events

START = datetime(2026, 1, 1, tzinfo=UTC)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")
_SENTENCE_END = re.compile(r"[.!?\n]\s*$")


def stand_in_entities(text: str) -> list[Entity]:
    """Runs of capitalised words as entities (two or more words a person, one an organisation), the
    first word of a sentence left out: a deterministic stand-in for NER with about as many entities."""
    found: dict[str, tuple[str, str, int, int]] = {}
    for m in _CAPITALISED.finditer(text):
        name = m.group(0)
        if " " not in name and (m.start() == 0 or _SENTENCE_END.search(text[:m.start()])):
            continue
        kind = "PERSON" if " " in name else "ORG"
        key = f"{kind.lower()}:{name.lower()}"
        _, _, count, first = found.get(key, (name, kind, 0, m.start()))
        found[key] = (name, kind, count + 1, first)
    return [Entity(key=k, name=n, type=t, count=c, first_position=p) for k, (n, t, c, p) in found.items()]


def cached_entities(path: Path) -> dict[str, list[Entity]]:
    """Entities by dev-set id from an evaluation --entities-cache file (its last line per id)."""
    out: dict[str, list[Entity]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["id"]] = [Entity.model_validate(e) for e in rec["entities"]]
    return out


def stream(n: int, spacing_s: float, cache: Path | None) -> tuple[list[Article], str]:
    """The `n` articles, in order, with their entities."""
    items, source = dev_items(n, outlets=100)
    by_title: dict[tuple[str, str], list[Entity]] = {}
    if cache is not None:
        # The cache is keyed by dev-set id; benchmarks.pipeline's items carry title and text, not the id.
        ents = cached_entities(cache)
        with gzip.open(DEV_SET, "rt") as fh:
            for line in fh:
                rec = json.loads(line)
                if rec["id"] in ents:
                    by_title[(rec.get("title") or "", rec.get("text") or "")] = ents[rec["id"]]
    out = []
    for i, item in enumerate(items):
        at = START + timedelta(seconds=i * spacing_s)
        entities = by_title.get((item.title, item.text))
        url = f"https://o{item.outlet}.example/{item.slug}"
        out.append(Article(id=article_id(url), url=url,
                           outlet=f"outlet{item.outlet}.example", title=item.title, text=item.text, language="en",
                           entities=stand_in_entities(item.text) if entities is None else entities,
                           published_at=at, fetched_at=at))
    return out, source + (" with cached entities" if cache is not None else " with stand-in entities")


async def settle_deliveries(queue: DeliveryQueue) -> int:
    """Record every due webhook delivery as delivered (what the delivery engine does on a 200)."""
    settled = 0
    while claimed := await queue.claim_due(500):
        for delivery, token in claimed:
            await queue.begin(delivery, token)
            await queue.record_result(delivery, token, status=200, error=None, latency_ms=1)
            settled += 1
    return settled


async def run(settings: Settings, articles: list[Article], *, notifier: bool, aliases: bool = True,
              ) -> dict[str, Any]:
    """Resolve the articles' entities through the alias table (as the extractor does before it publishes
    them), place them (and notify), then measure."""
    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        base = await used_memory(redis)
        repo = Repository(redis, keys, retention_s=settings.retention_days * 86400,
                          window_s=settings.cluster_window_hours * 3600,
                          codec=Codec.for_store(redis, keys, settings))
        placer = Placer(settings, repo)
        queue = DeliveryQueue(redis, keys)
        subs = SubscriptionStore(redis, keys)
        notify = Notifier(settings, redis=redis, keys=keys, subscriptions=subs, queue=queue)
        if notifier:
            await subs.create("http://127.0.0.1:9/hook", Query(keywords=["the"]))
        started = time.perf_counter()
        kinds: Counter[str] = Counter()
        batch = settings.store_batch_size
        table = AliasTable(redis, keys) if aliases else None
        half: tuple[int, dict[str, tuple[int, int]]] | None = None
        for start in range(0, len(articles), batch):
            if half is None and start >= len(articles) // 2:
                half = start, await footprint(redis, settings.key_prefix, samples=0)
            chunk = articles[start:start + batch]
            if table is not None:
                chunk = [a.model_copy(update={"entities": await table.resolve(a.entities)}) for a in chunk]
            placed = await placer.ingest_many(chunk)
            for _, event in story_events(placed):
                kinds[event.kind] += 1
                if notifier:
                    await notify.handle(event)
            if notifier:
                await settle_deliveries(queue)
        await placer.close()
        elapsed = time.perf_counter() - started
        used = await used_memory(redis) - base
        families = await footprint(redis, settings.key_prefix, samples=0)  # exact
        stories = len(await repo.recent_stories(limit=10**9))
    n = len(articles)
    # What the second half of the stream added per article: a store that has seen its first articles (its
    # dictionaries trained, its common names and words already known) pays about this for the next one.
    first, at_half = half if half is not None else (0, {})
    return {"articles": n, "stories": stories, "events": dict(kinds), "seconds": round(elapsed, 1),
            "used_memory_per_article": round(used / n),
            "families": {f: {"keys": k, "bytes_per_article": round(b / n, 1),
                             "second_half_per_article": round((b - at_half.get(f, (0, 0))[1]) / (n - first), 1)}
                         for f, (k, b) in families.items()},
            "total_per_article": round(sum(b for _, b in families.values()) / n)}


def steady_share(family: str, settings: Settings, stored: float) -> float | None:
    """What share of a family's bytes per article stays once Redis holds a whole retention period of `stored`
    articles (None: a fixed cost, not per article): the families that live shorter than the retention
    (copy index, delivered webhooks, replay markers) or are capped by count (the live stream) weigh less."""
    retention = settings.retention_days * 86400
    window = settings.copy_window_hours * 3600
    if family.startswith("{lsh}:sig"):
        return min(1.0, 2.2 * window / retention)
    if family.startswith("{lsh}:"):  # buckets: an entry lives until its epoch's bucket expires, <= 2.1 windows
        return min(1.0, 2.1 * window / retention)
    if family == "{wh}:delivery":
        return min(1.0, DELIVERED_TTL_S / retention)
    if family == "stream:streamed":
        return min(1.0, STORY_STREAM_SEEN_TTL_S / retention)
    if family == "stream:story-events":
        return min(1.0, STORY_STREAM_MAX / stored)
    if family.startswith(("{store}:stats", "{store}:zdict", "{subs}", "{wh}:log", "alerted")):
        return None
    return 1.0


def report(result: dict[str, Any], source: str, settings: Settings, per_day: float) -> str:
    """The figures as text."""
    stored = per_day * settings.retention_days
    lines = [f"{result['articles']:,} articles ({source}) -> {result['stories']:,} stories, events "
             f"{result['events']}, placed and notified in {result['seconds']} s",
             f"{'key family':<32} {'keys':>8} {'B/article':>10} {'steady':>8} {'2nd half':>9} {'steady':>8}"]
    steady = later = 0.0
    for fam, row in result["families"].items():
        share = steady_share(fam, settings, stored)
        # A fixed cost spread over the retention period's articles; the IDF block is dense by then.
        fixed = (BUCKETS * 4 if fam.startswith("{store}:stats") else row["bytes_per_article"] * result["articles"])
        value = fixed / stored if share is None else row["bytes_per_article"] * share
        value_later = fixed / stored if share is None else max(0.0, row["second_half_per_article"]) * share
        steady += value
        later += value_later
        lines.append(f"{fam:<32} {row['keys']:>8,} {row['bytes_per_article']:>10,.1f} {value:>8,.1f} "
                     f"{row['second_half_per_article']:>9,.1f} {value_later:>8,.1f}")
    total_half = sum(r["second_half_per_article"] for r in result["families"].values())
    lines.append(f"{'all keys (MEMORY USAGE)':<32} {'':>8} {result['total_per_article']:>10,} {steady:>8,.0f} "
                 f"{total_half:>9,.0f} {later:>8,.0f}")
    lines.append(f"{'used_memory delta':<28} {'':>8} {result['used_memory_per_article']:>10,}")
    lines.append(f"steady: modelled for a full retention period ({settings.retention_days:g} days) at {per_day:,.0f} "
                 f"articles/day: each family's measured bytes times the share of the retention it lives "
                 f"(copy index {2.1 * settings.copy_window_hours / 24:g}-{2.2 * settings.copy_window_hours / 24:g} "
                 f"days, delivered webhooks and replay markers 7 days, the live stream its last "
                 f"{STORY_STREAM_MAX:,} events), fixed costs spread over the period's articles; "
                 f"'2nd half': bytes per article the second half of the stream added (its dictionaries trained, "
                 f"its common names and words known), and the steady state from it")
    return "\n".join(lines)


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--spacing-s", type=float, default=1.0, help="seconds between articles' publication")
    parser.add_argument("--entities-cache", type=Path, help="an eval --entities-cache file (spaCy's entities)")
    parser.add_argument("--no-notifier", action="store_true", help="without the notifier's keys")
    parser.add_argument("--no-aliases", action="store_true", help="without the extractor's entity alias table")
    parser.add_argument("--per-day", type=float, default=1_000_000,
                        help="articles stored per day, for the modelled steady state")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    articles, source = stream(args.articles, args.spacing_s, args.entities_cache)
    settings = Settings(key_prefix=f"fp{uuid.uuid4().hex[:6]}:")
    with redis_for(settings) as settings:
        result = asyncio.run(run(settings, articles, notifier=not args.no_notifier, aliases=not args.no_aliases))
    print(json.dumps(result) if args.json else report(result, source, settings, args.per_day))
    print(f"(spacing {args.spacing_s} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
