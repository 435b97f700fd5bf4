"""Extractor benchmark: articles/s per core and ms per article for extraction alone, NER alone and both.

    .venv/bin/python -m benchmarks.extractor [--pages DIR] [--limit N] [--json]

Pages: real news pages with their expected text, by default Mozilla Readability's
test pages that `scripts/fetch-eval-data` puts in .cache/readability-test-pages (the
91 real pages; an article-extraction-benchmark directory works too).

Everything runs in one worker process (one core), as one slot of the extractor's
pool does: extraction (decode + trafilatura + metadata), NER (spaCy + in-article
resolution) on the extracted text, then both as the service runs them (one page at
a time, and in batches of `extract_batch` pages). The worker's peak resident memory
is reported as the memory per worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from services.common.errors import ExtractionFailed
from services.common.settings import Settings
from services.evaluation.extraction import load_benchmark
from services.extractor import entities
from services.extractor.extract import RawPage, decode_html, extract_and_tag_many, extract_page

DEFAULT_PAGES = Path(__file__).resolve().parents[1] / ".cache" / "readability-test-pages"


def _summary(ms: list[float], pages: int) -> dict[str, float]:
    ordered = sorted(ms)
    return {"articles_per_s": round(pages * 1000 / sum(ms), 1),
            "ms_p50": round(statistics.median(ordered), 2),
            "ms_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)}


def measure(pages: list[tuple[str, bytes]], model: str, ner_max_chars: int, batch: int) -> dict[str, Any]:
    """All timings, in this (worker) process."""
    entities.load(model)
    extract_ms, texts = [], []
    for url, raw in pages:
        started = time.perf_counter()
        try:
            page = extract_page(decode_html(raw, None), url)
            texts.append((page.text, page.title, page.language))
        except ExtractionFailed:
            pass
        extract_ms.append((time.perf_counter() - started) * 1000)
    ner_ms = []
    for text, title, language in texts:
        started = time.perf_counter()
        entities.tag_entities(text, title=title, language=language, model=model, ner_max_chars=ner_max_chars)
        ner_ms.append((time.perf_counter() - started) * 1000)
    both_ms = []
    for url, raw in pages:
        started = time.perf_counter()
        extract_and_tag_many([RawPage(raw, None, url)], model=model, ner_max_chars=ner_max_chars)
        both_ms.append((time.perf_counter() - started) * 1000)
    batched_ms = []
    for i in range(0, len(pages), batch):
        chunk = [RawPage(raw, None, url) for url, raw in pages[i:i + batch]]
        started = time.perf_counter()
        extract_and_tag_many(chunk, model=model, ner_max_chars=ner_max_chars)
        batched_ms += [(time.perf_counter() - started) * 1000 / len(chunk)] * len(chunk)
    words = [len(t.split()) for t, _, _ in texts]
    return {
        "pages": len(pages), "articles": len(texts), "words_per_article_mean": round(statistics.mean(words)),
        "extraction": _summary(extract_ms, len(pages)),
        "ner": _summary(ner_ms, len(texts)),
        "both": _summary(both_ms, len(pages)),
        f"both_batched_{batch}": _summary(batched_ms, len(pages)),
        "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    """Run in a fresh worker process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES,
                        help="benchmark directory (Readability or Scrapinghub layout)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pages")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    try:
        loaded = load_benchmark(args.pages)
    except FileNotFoundError as exc:
        sys.exit(f"{exc}\nFetch the pages first: scripts/fetch-eval-data")
    pages = [(url, raw) for _, url, _, raw in loaded][: args.limit or None]
    # A fresh process: its peak memory is one worker's (spaCy model + trafilatura + the pages).
    with ProcessPoolExecutor(1) as worker:
        result = worker.submit(measure, pages, settings.spacy_model, settings.ner_max_chars,
                               settings.extract_batch).result()
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['pages']} real pages, {result['articles']} articles "
          f"({result['words_per_article_mean']} words on average); one core")
    for name in ("extraction", "ner", "both", f"both_batched_{settings.extract_batch}"):
        row = result[name]
        print(f"  {name:<16} {row['articles_per_s']:>7.1f} articles/s   p50 {row['ms_p50']:>7.2f} ms   "
              f"p95 {row['ms_p95']:>7.2f} ms")
    print(f"  memory per worker (peak RSS): {result['worker_peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()
