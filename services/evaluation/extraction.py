"""Main-text extraction quality on a labelled benchmark of real pages: wirewatch beside plain trafilatura.

The benchmark layout is that of the Scrapinghub/Zyte article-extraction-benchmark
(MIT): `ground-truth.json` mapping a page id to {"articleBody", "url"}, and
`html/<id>.html.gz` (UTF-8). Scoring follows the benchmark's own definition so the
figures compare with its published table: per page, true/false positives and false
negatives over 4-word shingles (token multisets), normalised so long pages do not
weigh more; precision and recall are the means over pages, F1 their harmonic mean.

wirewatch's text is what the extractor publishes (`extract_page` after
`decode_html`); a page it refuses (too short, no article) counts as empty text,
exactly as a user would see it. The baseline is `trafilatura.extract` with its
defaults.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.common.errors import ExtractionFailed
from services.extractor.extract import decode_html, extract_page

#: trafilatura's figure on this benchmark as published in the benchmark's results table.
PUBLISHED_TRAFILATURA = {"f1": 0.958, "precision": 0.938, "recall": 0.978}
SHINGLE_WORDS = 4
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class PageCounts:
    """Shingle true positives, false positives and false negatives of one page, as shares of their sum."""

    tp: float
    fp: float
    fn: float


def shingle_counts(truth: str, predicted: str, n: int = SHINGLE_WORDS) -> PageCounts:
    """Compare two texts as multisets of n-word shingles (a text shorter than n is one shingle)."""
    true_shingles, pred_shingles = _shingles(truth, n), _shingles(predicted, n)
    tp = sum((true_shingles & pred_shingles).values())
    fp = sum((pred_shingles - true_shingles).values())
    fn = sum((true_shingles - pred_shingles).values())
    total = tp + fp + fn
    return PageCounts(tp / total, fp / total, fn / total) if total else PageCounts(0.0, 0.0, 0.0)


def _shingles(text: str, n: int) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i:i + n])


def scores(pages: list[PageCounts]) -> dict[str, float]:
    """Mean per-page precision and recall over pages where they are defined, and their harmonic mean."""
    precisions = [_ratio(p.tp, p.fp, p) for p in pages if p.tp + p.fp > 0]
    recalls = [_ratio(p.tp, p.fn, p) for p in pages if p.tp + p.fn > 0]
    precision = statistics.mean(precisions) if precisions else 0.0
    recall = statistics.mean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _ratio(tp: float, other: float, page: PageCounts) -> float:
    if page.fp == page.fn == 0:
        return 1.0
    return tp / (tp + other) if tp + other else 0.0


def wirewatch_text(raw: bytes, url: str) -> str:
    """The article text wirewatch publishes for a page ("" when it refuses the page)."""
    try:
        return extract_page(decode_html(raw, None), url).text
    except ExtractionFailed:
        return ""


def trafilatura_text(raw: bytes, url: str) -> str:
    """Plain trafilatura with its defaults, given the same decoded page."""
    import trafilatura

    return trafilatura.extract(decode_html(raw, None), url=url) or ""


def load_benchmark(directory: Path) -> list[tuple[str, str, str, bytes]]:
    """(id, url, true text, page bytes) per page of a benchmark directory, in id order."""
    truth_path = directory / "ground-truth.json"
    if not truth_path.is_file():
        raise FileNotFoundError(f"{truth_path} not found: not an article-extraction-benchmark directory")
    truth: dict[str, dict[str, Any]] = json.loads(truth_path.read_text(encoding="utf-8"))
    out = []
    for page_id in sorted(truth):
        html_path = directory / "html" / f"{page_id}.html.gz"
        if html_path.is_file():
            out.append((page_id, str(truth[page_id].get("url") or ""), str(truth[page_id].get("articleBody") or ""),
                        gzip.decompress(html_path.read_bytes())))
    if not out:
        raise FileNotFoundError(f"no html/<id>.html.gz pages under {directory}")
    return out


def evaluate_extraction(directory: Path, *, progress: Progress | None = None,
                        extractors: dict[str, Callable[[bytes, str], str]] | None = None) -> dict[str, Any]:
    """Score wirewatch and plain trafilatura on every page of the benchmark."""
    pages = load_benchmark(directory)
    extractors = extractors or {"wirewatch": wirewatch_text, "trafilatura": trafilatura_text}
    counts: dict[str, list[PageCounts]] = {name: [] for name in extractors}
    refused = 0
    task = progress.add_task("extracting", total=len(pages)) if progress else None
    for _page_id, url, truth, raw in pages:
        for name, extract in extractors.items():
            text = extract(raw, url)
            refused += name == "wirewatch" and not text
            counts[name].append(shingle_counts(truth, text))
        if progress is not None and task is not None:
            progress.advance(task)
    return {"pages": len(pages), "wirewatch_refused": refused,
            **{name: scores(c) for name, c in counts.items()},
            "published_trafilatura": PUBLISHED_TRAFILATURA}
