"""`wirewatch eval copies`: replay articles through the store and score the copy relations it finds.

Two sources of truth, chosen by the file:

* **the file's own labels** (when its lines carry them): `copy_of` (the id of the
  article a line re-posts, or null) and the dev file's `near_dup_auto.of`, both counted
  as copies. Articles are replayed in stream order (`order`, else file order) and
  scored over pairs: two articles are a gold copy pair when the labels link them
  (directly or through a chain: copies of one original are copies of each other), a
  predicted pair when the store gives them the same root original. Every unlabelled
  article is taken to copy nothing in the file. Pairs further apart in time than the
  copy window (settings.copy_window_hours; an undated article counts at the replay's
  fixed fetch time) are scored in a row of their own: the store does not look that far.
* **the synthetic copy set** (services.evaluation.copyset; when asked, or when the
  file has no copy labels): dev articles, re-posts of them made with syndication
  edits, the dev file's natural re-posts, and own-words accounts of the same events
  as hard negatives, scored overall and by edit kind.

Every article goes through the store's placement (`Placer.ingest`: exact
duplicates, MinHash/LSH copies, clustering) in publication order against a real
Redis. Copy relations do not depend on entities, so the replay skips entity tagging.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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

#: The by-kind row of same-event pairs between two dev articles (own words: only false copies to count).
OWN_WORDS = "own_words"
#: Rows of pairs at most / more than the copy window (settings.copy_window_hours) apart: the store looks
#: for copies only within it, so a pair further apart is missed by design.
WITHIN_WINDOW = "within the copy window"
BEYOND_WINDOW = "beyond the copy window"


@dataclass(frozen=True)
class CopyScores:
    """Pairwise copy-relation scores: overall, and (synthetic set) by edit kind of the later article."""

    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int
    by_kind: dict[str, CopyScores] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """Predicted copy pairs that are copies (1.0 when none is predicted)."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Copy pairs predicted as copies (1.0 when there are none)."""
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (with `by_kind` when scored by kind)."""
        out: dict[str, Any] = {
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "true_positives": self.true_positives, "false_negatives": self.false_negatives,
            "false_positives": self.false_positives, "true_negatives": self.true_negatives}
        if self.by_kind:
            out["by_kind"] = {kind: scores.as_json() for kind, scores in self.by_kind.items()}
        return out


@dataclass(frozen=True)
class CopyEvaluation:
    """What `wirewatch eval copies` measured: on the file's labels or on the synthetic set, and the scores."""

    source: str  # "labels" or "synthetic"
    articles: int
    scores: CopyScores

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"source": self.source, "articles": self.articles, **self.scores.as_json()}


@dataclass(frozen=True)
class LabelledCopy:
    """One line of a file scored on its own copy labels: the article and the id it copies (None: an original)."""

    record: CopyRecord
    copy_of: str | None
    order: int


# --- the file's own labels -------------------------------------------------------------------------
def _open_lines(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def has_copy_labels(rows: Iterable[dict[str, Any]]) -> bool:
    """True if any line carries a copy label field: `copy_of` (even null: "copies nothing") or `near_dup_auto`."""
    return any("copy_of" in row or "near_dup_auto" in row for row in rows)


def label_of(row: dict[str, Any]) -> str | None:
    """The id a line is labelled a copy of: `copy_of`, else the dev file's `near_dup_auto.of`, else None."""
    if row.get("copy_of"):
        return str(row["copy_of"])
    near = row.get("near_dup_auto")
    return str(near["of"]) if isinstance(near, dict) and near.get("of") else None


def _published(value: str | None) -> str | None:
    """An ISO time for a line's `published`: a bare date is taken at noon UTC (as `eval stories` does)."""
    if not value:
        return None
    when = datetime.fromisoformat(value) if len(value) > 10 else datetime.fromisoformat(value[:10]).replace(hour=12)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def labelled_copies(rows: Sequence[dict[str, Any]]) -> list[LabelledCopy]:
    """The lines of a labelled file as replayable records, in stream order (`order`, else file order).

    A label naming an id that is not in the file is dropped (the article is then an original here).
    """
    ids = {str(row["id"]) for row in rows}
    out = []
    for n, row in enumerate(rows):
        rid = str(row["id"])
        target = label_of(row)
        outlet = row.get("outlet") or "unknown"
        record = CopyRecord(id=rid, original=target, kind="labelled", outlet=outlet, title=row.get("title") or "",
                            text=row.get("text") or "", published=_published(row.get("published")),
                            cluster=str(row.get("cluster")), url=row.get("url") or f"urn:wirewatch:{rid}")
        out.append(LabelledCopy(record, target if target in ids and target != rid else None,
                                int(row.get("order", n))))
    return sorted(out, key=lambda c: c.order)


def _roots(links: dict[str, str | None]) -> dict[str, str]:
    """Each id's root: the end of its chain of copy links (a cycle is cut where it closes)."""
    out: dict[str, str] = {}
    for start in links:
        path, node = [], start
        while node not in out and links.get(node) and node not in path:
            path.append(node)
            node = links[node] or node
        root = out.get(node, node)
        for item in path:
            out[item] = root
        out.setdefault(start, root)
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _grouped_pairs(roots: dict[str, str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for item, root in roots.items():
        groups[root].append(item)
    return {(a, b) if a < b else (b, a) for members in groups.values() for a, b in itertools.combinations(members, 2)}


def within_window(times: dict[str, float], window_s: float) -> Callable[[str, str], bool]:
    """Whether two articles (unix times by id) are at most the copy window apart: the store looks for an
    article's copies only within it (services.store.lsh), so pairs further apart are reported apart."""
    return lambda a, b: abs(times[a] - times[b]) <= window_s


def score_groups(gold: dict[str, str | None], predicted: dict[str, str | None],
                 near: Callable[[str, str], bool]) -> CopyScores:
    """Pairwise scores of predicted copy links against gold ones (both {id: the id it copies, or None}), by
    whether the pair is `near` in time (WITHIN_WINDOW) or not (BEYOND_WINDOW).

    Two articles form a pair when their chains of links reach the same root (copies of one
    original are copies of each other); every other pair of the file is a negative.
    """
    gold_pairs = _grouped_pairs(_roots(gold))
    pred_pairs = _grouped_pairs(_roots({i: predicted.get(i) for i in gold}))
    counts: dict[str, list[int]] = {WITHIN_WINDOW: [0, 0, 0, 0], BEYOND_WINDOW: [0, 0, 0, 0]}
    for pair in gold_pairs | pred_pairs:
        row = counts[WITHIN_WINDOW if near(*pair) else BEYOND_WINDOW]
        row[0 if pair in gold_pairs and pair in pred_pairs else 1 if pair in gold_pairs else 2] += 1
    tn = _pairs(len(gold)) - len(gold_pairs | pred_pairs)
    tp, fn, fp, _ = _four([sum(c[i] for c in counts.values()) for i in range(4)])
    return CopyScores(tp, fn, fp, tn, by_kind={kind: CopyScores(*_four(c)) for kind, c in counts.items()})


# --- the synthetic copy set ------------------------------------------------------------------------
def score_copies(copy_set: CopySet, copy_of: dict[str, str | None], near: Callable[[str, str], bool]) -> CopyScores:
    """Count the labelled pairs of a copy set by whether both members share a root original, overall and by
    the edit kind of the later member (`near_dup_auto` for natural copies, OWN_WORDS for two dev articles;
    natural copies further apart than the copy window, as `near` says, in a row of their own)."""
    def root(article_id: str) -> str:
        return copy_of.get(article_id) or article_id

    kinds = {c.id: c.kind for c in copy_set.copies}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp, fn, fp, tn
    for a, b in copy_set.positives():
        kind = kinds.get(b, "near_dup_auto") + ("" if near(a, b) else f" {BEYOND_WINDOW}")
        counts[kind][0 if root(a) == root(b) else 1] += 1
    for a, b in copy_set.negatives:
        counts[kinds.get(b, OWN_WORDS)][2 if root(a) == root(b) else 3] += 1
    by_kind = {kind: CopyScores(*_four(counts[kind])) for kind in sorted(counts)}
    tp, fn, fp, tn = _four([sum(c[i] for c in counts.values()) for i in range(4)])
    return CopyScores(tp, fn, fp, tn, by_kind=by_kind)


def _four(values: list[int]) -> tuple[int, int, int, int]:
    return values[0], values[1], values[2], values[3]


# --- replay ----------------------------------------------------------------------------------------
def _time(record: CopyRecord) -> datetime | None:
    if not record.published:
        return None
    value = datetime.fromisoformat(record.published)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _article(record: CopyRecord) -> Article:
    return Article(id=record.id, url=record.url, outlet=record.outlet, title=record.title, text=record.text,
                   published_at=_time(record), language="en", fetched_at=REPLAY_FETCH_TIME)


async def replay_records(records: Sequence[CopyRecord], settings: Settings,
                         progress: Progress | None) -> dict[str, str | None]:
    """Ingest records in the given order; {id: the root original the store found it copies, or None}."""
    out: dict[str, str | None] = {}
    async with open_redis(settings) as redis:
        placer = Placer(settings, Repository(redis, Keys(settings.key_prefix)))
        task = progress.add_task("replaying through the store", total=len(records)) if progress else None
        for record in records:
            placed = await placer.ingest(_article(record))
            out[record.id] = placed.stored.copy_of
            if progress is not None and task is not None:
                progress.advance(task)
    return out


def _replay(records: Sequence[CopyRecord], settings: Settings, progress: Progress | None) -> dict[str, str | None]:
    run = settings.model_copy(update={"key_prefix": f"evalcopies{uuid.uuid4().hex[:8]}:"})
    with redis_for(run) as with_redis:
        return asyncio.run(replay_records(records, with_redis, progress))


def _write_predictions(path: Path, records: Iterable[CopyRecord], copy_of: dict[str, str | None]) -> None:
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps({"id": record.id, "copy_of": copy_of.get(record.id)}) + "\n")


def evaluate_copies(path: Path, settings: Settings, *, synthetic: bool = False, n: int = 400, seed: int = 0,
                    predictions_path: Path | None = None, progress: Progress | None = None) -> CopyEvaluation:
    """Replay `path` through the store and score copy relations on its own labels; on the synthetic copy set
    built from it (`n` originals, `seed`) when `synthetic` or when the file carries no copy labels."""
    rows = _open_lines(path)
    if not synthetic and has_copy_labels(rows):
        labelled = labelled_copies(rows)
        records = [c.record for c in labelled]
        copy_of = _replay(records, settings, progress)
        if predictions_path is not None:
            _write_predictions(predictions_path, records, copy_of)
        gold = {c.record.id: c.copy_of for c in labelled}
        return CopyEvaluation("labels", len(records), score_groups(gold, copy_of, _near(records, settings)))
    missing = {"id", "text", "published", "cluster", "order"} - set(rows[0]) if rows else {"id"}
    if missing:
        raise ValueError(f"{path} has no copy labels (`copy_of` or `near_dup_auto`) and lacks the fields the "
                         f"synthetic copy set is built from ({', '.join(sorted(missing))}); label its re-posts "
                         "with `copy_of`, or give a file in the dev format")
    copy_set = build_copy_set(path, seed=seed, n=n)
    records = sorted(copy_set.records(), key=lambda r: (_time(r) or REPLAY_FETCH_TIME, r.id))
    copy_of = _replay(records, settings, progress)
    if predictions_path is not None:
        _write_predictions(predictions_path, copy_set.records(), copy_of)
    return CopyEvaluation("synthetic", len(records), score_copies(copy_set, copy_of, _near(records, settings)))


def _near(records: Iterable[CopyRecord], settings: Settings) -> Callable[[str, str], bool]:
    # An undated article is placed at the replay's fetch time, as the store would time it.
    times = {r.id: (_time(r) or REPLAY_FETCH_TIME).timestamp() for r in records}
    return within_window(times, settings.copy_window_hours * 3600)
