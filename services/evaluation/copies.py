"""`wirewatch eval copies`: replay a labelled copy set through the store, score copy relations.

The copy set (services.evaluation.copyset) holds dev articles, re-posts of them
made with syndication edits, the dev file's natural re-posts, and own-words
accounts of the same events as hard negatives. Every article goes through the
store's placement (`Placer.ingest`: exact duplicates, MinHash/LSH copies, clustering) in publication
order against a real Redis; a labelled pair counts as predicted "copy" when both
articles end up with the same root original. Copy relations do not depend on
entities, so this replay skips entity tagging.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.common.keys import Keys
from services.common.messages import Article
from services.common.redis import open_redis
from services.common.settings import Settings
from services.evaluation.copyset import CopyRecord, CopySet, build_copy_set
from services.evaluation.stories import REPLAY_FETCH_TIME, redis_for
from services.store.placement import Placer
from services.store.repository import Repository


@dataclass(frozen=True)
class CopyScores:
    """Pairwise copy-relation scores over the labelled pairs."""

    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        """Predicted copy pairs that are copies."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Copy pairs predicted as copies."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "true_positives": self.true_positives, "false_negatives": self.false_negatives,
                "false_positives": self.false_positives, "true_negatives": self.true_negatives}


def _time(record: CopyRecord) -> datetime | None:
    if not record.published:
        return None
    value = datetime.fromisoformat(record.published)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _article(record: CopyRecord) -> Article:
    return Article(id=record.id, url=record.url, outlet=record.outlet, title=record.title, text=record.text,
                   published_at=_time(record), language="en", fetched_at=REPLAY_FETCH_TIME)


async def replay_copies(copy_set: CopySet, settings: Settings, progress: Progress | None) -> dict[str, str | None]:
    """Ingest every record in publication order; {id: copy_of}."""
    records = sorted(copy_set.records(), key=lambda r: (_time(r) or REPLAY_FETCH_TIME, r.id))
    out: dict[str, str | None] = {}
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        task = progress.add_task("replaying copy set", total=len(records)) if progress else None
        for record in records:
            placed = await placer.ingest(_article(record))
            out[record.id] = placed.stored.copy_of
            if progress is not None and task is not None:
                progress.advance(task)
    return out


def score_copies(copy_set: CopySet, copy_of: dict[str, str | None]) -> CopyScores:
    """Count labelled pairs by whether both members share a root original."""
    def root(article_id: str) -> str:
        return copy_of.get(article_id) or article_id

    tp = sum(1 for a, b in copy_set.positives() if root(a) == root(b))
    fn = len(copy_set.positives()) - tp
    fp = sum(1 for a, b in copy_set.negatives if root(a) == root(b))
    return CopyScores(tp, fn, fp, len(copy_set.negatives) - fp)


def evaluate_copies(dev_path: Path, settings: Settings, *, n: int = 400, seed: int = 0,
                    predictions_path: Path | None = None, progress: Progress | None = None) -> CopyScores:
    """Build the copy set from `dev_path`, replay it through the store and score copy relations."""
    copy_set = build_copy_set(dev_path, seed=seed, n=n)
    run = settings.model_copy(update={"key_prefix": f"evalcopies{uuid.uuid4().hex[:8]}:"})
    with redis_for(run) as with_redis:
        copy_of = asyncio.run(replay_copies(copy_set, with_redis, progress))
    if predictions_path is not None:
        with predictions_path.open("w") as out:
            for record in copy_set.records():
                out.write(json.dumps({"id": record.id, "copy_of": copy_of.get(record.id)}) + "\n")
    return score_copies(copy_set, copy_of)
