"""Main-text extraction quality on a labelled benchmark of real pages: wirewatch beside plain trafilatura.

Two layouts are read:

* the Scrapinghub/Zyte article-extraction-benchmark (MIT): `ground-truth.json`
  mapping a page id to {"articleBody", "url"}, and `html/<id>.html.gz`;
* Mozilla Readability's test pages (Apache-2.0; `scripts/fetch-eval-data`): one
  directory per page with `source.html` and the expected main text as
  `expected.html`. Only real pages are scored (source of MIN_PAGE_BYTES or more);
  the small ones are the library's unit fixtures ("basic-tags-cleaning").

Scoring follows the Scrapinghub benchmark's definition so figures compare with its
published table: per page, true/false positives and false negatives over n-word
shingles (token multisets), normalised so long pages do not weigh more; precision
and recall are the means over pages, F1 their harmonic mean. Word level is n = 1
(the headline figure); n = 4 also checks that the words come in order. Each
Chinese, Japanese or Korean character counts as a word (they are written unspaced).

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
MIN_PAGE_BYTES = 20_000
# Words are runs of word characters, except that each Chinese/Japanese/Korean character is a token of its
# own: those scripts do not separate words with spaces, and a whole sentence would otherwise be one "word".
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+", re.UNICODE)
_BLOCKS = ("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th", "blockquote",
           "pre", "figure", "figcaption", "section", "article", "header", "footer", "table", "dd", "dt")


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
    """(id, url, true text, page bytes) per page of a benchmark directory (either layout), in id order."""
    truth_path = directory / "ground-truth.json"
    if truth_path.is_file():
        out = _load_scrapinghub(directory, truth_path)
    elif any(directory.glob("*/expected.html")):
        out = _load_readability(directory)
    else:
        raise FileNotFoundError(f"{directory}: neither ground-truth.json nor */expected.html found "
                                "(run scripts/fetch-eval-data)")
    if not out:
        raise FileNotFoundError(f"no pages with their ground truth under {directory}")
    return out


def _load_scrapinghub(directory: Path, truth_path: Path) -> list[tuple[str, str, str, bytes]]:
    truth: dict[str, dict[str, Any]] = json.loads(truth_path.read_text(encoding="utf-8"))
    out = []
    for page_id in sorted(truth):
        html_path = directory / "html" / f"{page_id}.html.gz"
        if html_path.is_file():
            out.append((page_id, str(truth[page_id].get("url") or ""), str(truth[page_id].get("articleBody") or ""),
                        gzip.decompress(html_path.read_bytes())))
    return out


def _load_readability(directory: Path) -> list[tuple[str, str, str, bytes]]:
    import lxml.html

    out = []
    for expected in sorted(directory.glob("*/expected.html")):
        source = expected.parent / "source.html"
        if not source.is_file() or source.stat().st_size < MIN_PAGE_BYTES:
            continue
        tree = lxml.html.fromstring(expected.read_text(encoding="utf-8"))  # UTF-8, and undeclared
        for element in tree.iter(*_BLOCKS):  # text_content() would glue "end.</p><p>Next" into one word
            element.tail = "\n" + (element.tail or "")
        reference = tree.text_content()
        # The pages' own tests use this base URL.
        out.append((expected.parent.name, f"http://fakehost/test/{expected.parent.name}/", reference,
                    source.read_bytes()))
    return out


def evaluate_extraction(directory: Path, *, progress: Progress | None = None,
                        extractors: dict[str, Callable[[bytes, str], str]] | None = None) -> dict[str, Any]:
    """Score wirewatch and plain trafilatura on every page of the benchmark, at word level and over 4-word
    shingles."""
    pages = load_benchmark(directory)
    extractors = extractors or {"wirewatch": wirewatch_text, "trafilatura": trafilatura_text}
    words: dict[str, list[PageCounts]] = {name: [] for name in extractors}
    shingles: dict[str, list[PageCounts]] = {name: [] for name in extractors}
    refused = 0
    task = progress.add_task("extracting", total=len(pages)) if progress else None
    for _page_id, url, truth, raw in pages:
        for name, extract in extractors.items():
            text = extract(raw, url)
            refused += name == "wirewatch" and not text
            words[name].append(shingle_counts(truth, text, 1))
            shingles[name].append(shingle_counts(truth, text, SHINGLE_WORDS))
        if progress is not None and task is not None:
            progress.advance(task)
    return {"pages": len(pages), "wirewatch_refused": refused,
            **{name: scores(c) for name, c in words.items()},
            **{f"{name}_shingles": scores(c) for name, c in shingles.items()},
            "published_trafilatura_scrapinghub_shingles": PUBLISHED_TRAFILATURA}
