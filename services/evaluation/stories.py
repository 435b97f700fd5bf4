"""`wirewatch eval stories`: replay labelled articles through entity tagging + the store, score clusters.

A composition root: it runs the extractor's entity tagging and the store's
placement (`Placer.ingest`: the service's batched placement with batches
of one, which decides what larger batches decide) against a real Redis
(embedded Valkey when REDIS_URL is unset), in stream order, and scores the
predicted clusters against the gold labels: BCubed and pairwise precision/recall/F1 and
the most gold events inside one predicted story (services.evaluation.metrics), overall
and per corpus. `dense=True` replays the file with compressed dates
(services.evaluation.dense), `shared_actors=True` with prominent actors added to
every article of a dense window (services.evaluation.stress).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.progress import Progress

from services.common.embedded import start_valkey
from services.common.keys import Keys
from services.common.messages import Article, Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.evaluation.dense import compress_dates
from services.evaluation.metrics import ClusterScores, PairReach, cluster_scores, pair_reach
from services.evaluation.stress import add_shared_actors
from services.extractor import entities as tagging
from services.extractor.aliases import AliasTable
from services.extractor.extract import date_line, drop_legal_notices
from services.store.placement import Placer
from services.store.repository import JoinReason, Repository

# Undated articles get one fixed "fetch" time, as a live system would stamp them
# with the time it saw them: far from every dated article of the corpus.
REPLAY_FETCH_TIME = datetime(2026, 1, 1, tzinfo=UTC)
# Bumped when tagging output changes, so an --entities-cache written by an older version is not reused.
# 6: in-article rules of names behind ages and titles, teams, digits; 5: texts without their copyright notices.
CACHE_VERSION = 6


@dataclass(frozen=True)
class Labelled:
    """One labelled article of an evaluation file."""

    id: str
    corpus: str
    outlet: str
    url: str
    title: str
    text: str
    published: datetime | None
    cluster: str
    order: int
    topic: str | None = None  # the ECB+ topic (both of its events share it); None elsewhere


def read_labelled(path: Path) -> list[Labelled]:
    """Articles of a JSON Lines file (optionally gzipped), in stream order, their texts as the extractor
    would keep them (without copyright notices), an undated one dated by the date line at its top if any."""
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[Labelled] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if not line.strip():
                continue
            rec = json.loads(line)
            text = drop_legal_notices(rec.get("text") or "")
            published: datetime | None
            if rec.get("published"):
                published = datetime.fromisoformat(rec["published"][:10]).replace(hour=12, tzinfo=UTC)
            else:  # as the extractor dates a page that has no date in its metadata or feed item
                published = date_line(text, not_after=REPLAY_FETCH_TIME)
            out.append(Labelled(
                # An article the file gives no outlet is its own outlet: ECB+ leaves 391 without one, and one
                # shared "unknown" outlet made them all the same outlet to the join decision.
                id=str(rec["id"]), corpus=str(rec.get("corpus") or "all"),
                outlet=rec.get("outlet") or f"unknown-{rec['id']}",
                url=rec.get("url") or f"urn:wirewatch:{rec['id']}", title=rec.get("title") or "",
                text=text, published=published, cluster=str(rec.get("cluster")),
                order=int(rec.get("order", n)), topic=rec.get("topic"),
            ))
    return sorted(out, key=lambda r: r.order)


def _tag(item: tuple[str, str, str, str, int]) -> tuple[str, list[dict[str, Any]]]:
    rid, title, text, model, cap = item
    found = tagging.tag_entities(text, title=title or None, language="en", model=model, ner_max_chars=cap)
    return rid, [e.model_dump() for e in found]


def tag_all(records: list[Labelled], settings: Settings, *, workers: int, cache: Path | None,
            progress: Progress | None) -> dict[str, list[Entity]]:
    """Entities of every article, tagged in a process pool (and cached in `cache` if given)."""
    known: dict[str, list[Entity]] = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("v") == CACHE_VERSION:  # older tagging (without aliases) is tagged again
                known[rec["id"]] = [Entity.model_validate(e) for e in rec["entities"]]
    todo = [(r.id, r.title, r.text, settings.spacy_model, settings.ner_max_chars) for r in records if r.id not in known]
    task = progress.add_task("tagging entities", total=len(todo)) if progress and todo else None
    if todo:
        out = cache.open("a") if cache is not None else None
        try:
            with ProcessPoolExecutor(workers, initializer=tagging.load, initargs=(settings.spacy_model,)) as pool:
                for rid, ents in pool.map(_tag, todo, chunksize=8):
                    known[rid] = [Entity.model_validate(e) for e in ents]
                    if out is not None:
                        out.write(json.dumps({"v": CACHE_VERSION, "id": rid, "entities": ents}) + "\n")
                    if progress is not None and task is not None:
                        progress.advance(task)
        finally:
            if out is not None:
                out.close()
    return known


def to_article(record: Labelled, entities: list[Entity]) -> Article:
    """The Article the extractor would have published for this record."""
    return Article(
        id=record.id, url=record.url, outlet=record.outlet, title=record.title, text=record.text,
        published_at=record.published, language="en", entities=entities, fetched_at=REPLAY_FETCH_TIME,
    )


@contextmanager
def redis_for(settings: Settings) -> Iterator[Settings]:
    """Settings with a Redis: the configured one, or an embedded Valkey for the duration."""
    if settings.redis_url is not None:
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="wirewatch-eval-") as tmp:
        url, child = start_valkey(Path(tmp))
        try:
            yield settings.model_copy(update={"redis_url": SecretStr(url)})
        finally:
            child.stop()


@dataclass(frozen=True)
class Step:
    """One placement during a replay: the article, the story it is in right after, and why."""

    article_id: str
    story_id: str
    joined: JoinReason


async def replay(records: list[Labelled], entities: dict[str, list[Entity]], settings: Settings,
                 progress: Progress | None, *, trace: list[Step] | None = None,
                 placer_factory: Callable[[Settings, Repository], Placer] = Placer) -> dict[str, dict[str, Any]]:
    """Run every article through Placer.ingest in order; {id: {"cluster", "copy_of"}}.

    `trace` receives each placement as it happens (services.evaluation.chaining reads it);
    `placer_factory` builds the placer (training passes one whose join decision is an oracle)."""
    async with open_redis(settings) as redis:
        keys = Keys(settings.key_prefix)
        repo = Repository(redis, keys)
        placer = placer_factory(settings, repo)
        aliases = AliasTable(redis, keys)
        task = progress.add_task("clustering", total=len(records)) if progress else None
        for record in records:
            # As the extractor publishes them: under the keys the alias table has learned so far.
            resolved = await aliases.resolve(entities.get(record.id, []))
            placed = await placer.ingest(to_article(record, resolved))
            if trace is not None:
                trace.append(Step(record.id, placed.story.id, placed.stored.joined))
            if progress is not None and task is not None:
                progress.advance(task)
        # Read the final state: a later merge moves earlier articles to the surviving story.
        final = {a.id: a for a in await repo.articles([r.id for r in records])}
    return {rid: {"cluster": a.cluster_id, "copy_of": a.copy_of} for rid, a in final.items()}


def bcubed(gold: dict[str, str], predicted: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 of a predicted clustering against gold labels."""
    gold_members: dict[str, set[str]] = defaultdict(set)
    pred_members: dict[str, set[str]] = defaultdict(set)
    for item, label in gold.items():
        gold_members[label].add(item)
        pred_members[str(predicted.get(item, f"missing:{item}"))].add(item)
    p = r = 0.0
    for item, label in gold.items():
        pred_cluster = pred_members[str(predicted.get(item, f"missing:{item}"))]
        gold_cluster = gold_members[label]
        both = len(pred_cluster & gold_cluster)
        p += both / len(pred_cluster)
        r += both / len(gold_cluster)
    n = max(1, len(gold))
    precision, recall = p / n, r / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True)
class Scores:
    """BCubed scores overall and per corpus, and cluster counts; `details` has every score ("all" and per corpus)."""

    overall: tuple[float, float, float]
    per_corpus: dict[str, tuple[float, float, float]]
    gold_clusters: int
    predicted_clusters: int
    details: dict[str, ClusterScores] = field(default_factory=dict)
    reach: PairReach | None = None  # same-event pairs by whether the store could join them

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        def row(v: tuple[float, float, float]) -> dict[str, float]:
            return {"precision": round(v[0], 4), "recall": round(v[1], 4), "f1": round(v[2], 4)}
        return {"bcubed": row(self.overall), "per_corpus": {k: row(v) for k, v in self.per_corpus.items()},
                "gold_clusters": self.gold_clusters, "predicted_clusters": self.predicted_clusters,
                "details": {k: v.as_json() for k, v in self.details.items()},
                "pair_reach": self.reach.as_json() if self.reach is not None else None}


def score(records: list[Labelled], predictions: dict[str, dict[str, Any]], window_hours: float | None = None,
          ) -> Scores:
    """Score predictions overall and per corpus; with `window_hours` (the clustering window) also which
    split pairs the store could have joined (services.evaluation.metrics.pair_reach)."""
    predicted = {rid: str(p["cluster"]) for rid, p in predictions.items()}
    gold = {r.id: r.cluster for r in records}
    per_corpus: dict[str, tuple[float, float, float]] = {}
    details = {"all": cluster_scores(gold, predicted)}
    for corpus in sorted({r.corpus for r in records}):
        ids = {r.id for r in records if r.corpus == corpus}
        per_corpus[corpus] = bcubed({i: gold[i] for i in ids}, {i: predicted[i] for i in ids if i in predicted})
        details[corpus] = cluster_scores({i: gold[i] for i in ids}, predicted)
    reach = None
    if window_hours is not None:
        times = {r.id: r.published.timestamp() if r.published is not None else None for r in records}
        reach = pair_reach(gold, predicted, times, window_hours * 3600)
    return Scores(bcubed(gold, predicted), per_corpus, len(set(gold.values())), len(set(predicted.values())),
                  details, reach)


def variant(records: list[Labelled], entities: dict[str, list[Entity]], *, dense: bool = False,
            shared_actors: bool = False) -> tuple[list[Labelled], dict[str, list[Entity]]]:
    """The stream as replayed, and its entities: as it is, with dense dates, or dense with shared actors."""
    if dense or shared_actors:
        records = compress_dates(records, undated=REPLAY_FETCH_TIME)
    if shared_actors:
        records, entities = add_shared_actors(records, entities)
    return records, entities


def evaluate_stories(path: Path, settings: Settings, *, predictions_path: Path | None = None,
                     entities_cache: Path | None = None, workers: int = 2,
                     progress: Progress | None = None, dense: bool = False, shared_actors: bool = False) -> Scores:
    """Tag, cluster and score one labelled file; optionally write the predictions as JSON Lines.

    `dense`: replay it with compressed dates, events of one kind overlapping; `shared_actors`: dense, and
    every article of a window also names the same prominent actors (services.evaluation.stress)."""
    records = read_labelled(path)
    entities = tag_all(records, settings, workers=workers, cache=entities_cache, progress=progress)
    records, entities = variant(records, entities, dense=dense, shared_actors=shared_actors)
    run = settings.model_copy(update={"key_prefix": f"eval{uuid.uuid4().hex[:8]}:"})
    with redis_for(run) as with_redis:
        predictions = asyncio.run(replay(records, entities, with_redis, progress))
    if predictions_path is not None:
        with predictions_path.open("w") as out:
            for record in records:
                out.write(json.dumps({"id": record.id, **predictions[record.id]}) + "\n")
    return score(records, predictions, settings.cluster_window_hours)
