"""What the fast NER path costs in entities: its recurring story entities against full-text NER's.

    wirewatch eval ner-budget ../shared/data/stories-dev.jsonl.gz [--lead-chars 1000]

Every article of a labelled file (the dev set's format: `id`, `title`, `text`, gold `cluster`) is tagged
twice, by full-text NER (services.extractor.entities.tag_entities_many) and by the fast path
(services.extractor.fast_ner: the model reads the title and the lead, a matcher the rest). The entities
that matter to stories and subscriptions are the people, organisations and places that recur across a
story: for each gold story, the entity keys of those types found in at least two of its articles. The
fast path's recurring keys are scored against full-text NER's (precision, recall, F1 over (story, key)
pairs); per-article agreement over every entity key and the CPU time of each path are printed beside.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.common.messages import Entity
from services.extractor import entities, fast_ner

#: People, organisations and places: the kinds of entity a story is followed by.
STORY_TYPES = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC"})
BATCH = 64


def read_articles(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The file's articles in stream order (`order`, else file order)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for i, row in enumerate(rows):
        if not isinstance(row.get("text"), str) or "id" not in row:
            raise ValueError(f"{path}: line {i + 1} needs 'id' and 'text' (the dev set's format)")
    rows.sort(key=lambda r: int(r.get("order") or 0))
    return rows[:limit] if limit else rows


def recurring(keys_by_article: Sequence[set[str]], stories: Sequence[str]) -> set[tuple[str, str]]:
    """(story, key) for every key found in at least two articles of its story."""
    counts: Counter[tuple[str, str]] = Counter()
    for keys, story in zip(keys_by_article, stories, strict=True):
        counts.update((story, k) for k in keys)
    return {pair for pair, n in counts.items() if n >= 2}


def prf(found: set[Any], reference: set[Any]) -> dict[str, float]:
    """Precision, recall and F1 of `found` against `reference`."""
    hits = len(found & reference)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(reference) if reference else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "found": len(found),
        "reference": len(reference),
    }


def _tag(
    rows: list[dict[str, Any]],
    tagger: Callable[[list[tuple[str, str | None, str | None]]], list[list[Entity]]],
    progress: Progress | None,
    label: str,
) -> tuple[list[list[Entity]], float]:
    task = progress.add_task(label, total=len(rows)) if progress else None
    out: list[list[Entity]] = []
    cpu = 0.0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        began = time.process_time()
        out.extend(tagger([(r["text"], r.get("title") or None, None) for r in chunk]))
        cpu += time.process_time() - began
        if progress is not None and task is not None:
            progress.advance(task, len(chunk))
    return out, cpu


def evaluate_ner_budget(
    path: Path,
    *,
    model: str,
    lead_chars: int,
    ner_max_chars: int,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Recurring story entities of the fast path scored against full-text NER's, and both paths' CPU."""
    rows = read_articles(path, limit)
    entities.load(model)
    full, full_cpu = _tag(
        rows,
        lambda batch: entities.tag_entities_many(batch, model=model, ner_max_chars=ner_max_chars),
        progress,
        "full-text NER",
    )
    fast, fast_cpu = _tag(
        rows,
        lambda batch: fast_ner.tag_entities_many(
            batch, model=model, ner_max_chars=ner_max_chars, lead_chars=lead_chars
        ),
        progress,
        "fast path",
    )
    stories = [str(r.get("cluster") or r["id"]) for r in rows]

    def keys(tagged: list[Entity], types: frozenset[str] | None = STORY_TYPES) -> set[str]:
        return {e.key for e in tagged if types is None or e.type in types}

    full_keys = [keys(t) for t in full]
    fast_keys = [keys(t) for t in fast]
    by_type: dict[str, dict[str, float]] = {}
    ref, got = recurring(full_keys, stories), recurring(fast_keys, stories)
    for kind in sorted(STORY_TYPES):
        prefix = kind.lower() + ":"
        by_type[kind] = prf({p for p in got if p[1].startswith(prefix)}, {p for p in ref if p[1].startswith(prefix)})
    every_full = {(i, k) for i, t in enumerate(full) for k in keys(t, None)}
    every_fast = {(i, k) for i, t in enumerate(fast) for k in keys(t, None)}
    words = sum(len(r["text"].split()) for r in rows)
    missed: Counter[str] = Counter(k for _, k in ref - got)
    extra: Counter[str] = Counter(k for _, k in got - ref)
    story_sizes: dict[str, int] = defaultdict(int)
    for s in stories:
        story_sizes[s] += 1
    return {
        "articles": len(rows),
        "stories_with_2_or_more": sum(1 for n in story_sizes.values() if n >= 2),
        "words_per_article": round(words / max(1, len(rows)), 1),
        "model": model,
        "lead_chars": lead_chars,
        "recurring": prf(got, ref),
        "recurring_by_type": by_type,
        "all_entities": prf(every_fast, every_full),
        "cpu_ms_per_article": {
            "full": round(full_cpu * 1000 / max(1, len(rows)), 2),
            "fast": round(fast_cpu * 1000 / max(1, len(rows)), 2),
        },
        "most_missed": missed.most_common(10),
        "most_extra": extra.most_common(10),
    }
