"""Scoring of main-text extraction against ground truth (the benchmark's shingle definition) and its runner."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from services.evaluation.extraction import PageCounts, evaluate_extraction, scores, shingle_counts

TRUTH = " ".join(f"word{i}" for i in range(40))


def test_identical_texts_score_one_and_disjoint_texts_zero() -> None:
    assert shingle_counts(TRUTH, TRUTH) == PageCounts(1.0, 0.0, 0.0)
    assert shingle_counts(TRUTH, "completely other words here and there").tp == 0.0
    assert scores([shingle_counts(TRUTH, TRUTH)]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_extra_boilerplate_costs_precision_and_a_missing_half_costs_recall() -> None:
    noisy = shingle_counts(TRUTH, TRUTH + " " + " ".join(f"nav{i}" for i in range(40)))
    assert noisy.fn == 0.0 and 0.3 < noisy.fp < 0.6
    half = shingle_counts(TRUTH, " ".join(TRUTH.split()[:20]))
    assert half.fp == 0.0 and 0.4 < half.fn < 0.6
    result = scores([noisy, half])
    assert result["precision"] < 1.0 and result["recall"] < 1.0
    assert result["f1"] == pytest.approx(2 * result["precision"] * result["recall"]
                                         / (result["precision"] + result["recall"]))


def test_an_empty_prediction_has_no_precision_to_average_and_zero_recall() -> None:
    empty = shingle_counts(TRUTH, "")
    assert empty.tp == 0.0 and empty.fp == 0.0
    assert scores([empty, shingle_counts(TRUTH, TRUTH)]) == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3})


def test_the_runner_reads_the_benchmark_layout_and_scores_both_extractors(tmp_path: Path) -> None:
    body = "\n\n".join(f"Paragraph {i}: the minister said the talks went well and would resume next week."
                       for i in range(8))
    html = ("<html><head><title>T</title></head><body><nav><a href='/'>Home</a> <a href='/w'>World</a></nav>"
            + "".join(f"<p>{p}</p>" for p in body.split("\n\n")) + "<footer>All rights reserved</footer></body></html>")
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "p1.html.gz").write_bytes(gzip.compress(html.encode()))
    (tmp_path / "ground-truth.json").write_text(json.dumps({"p1": {"articleBody": body, "url": "https://x.example/1"},
                                                            "missing": {"articleBody": "x", "url": ""}}))
    result = evaluate_extraction(tmp_path)
    assert result["pages"] == 1
    assert result["wirewatch"]["f1"] > 0.9 and result["trafilatura"]["f1"] > 0.9


def test_a_directory_without_ground_truth_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ground-truth\.json"):
        evaluate_extraction(tmp_path)


def test_the_readability_layout_reads_real_pages_only_and_its_utf8_reference(tmp_path: Path) -> None:
    body = "".join(f"<p>北京 Paragraph {i}: the minister said the talks went well and would resume.</p>"
                   for i in range(300))  # over MIN_PAGE_BYTES
    (tmp_path / "real-1").mkdir()
    (tmp_path / "real-1" / "source.html").write_text(
        f"<html><head><meta charset='utf-8'></head><body><nav>Home</nav><article>{body}</article></body></html>",
        encoding="utf-8")
    (tmp_path / "real-1" / "expected.html").write_text(f"<div>{body}</div>", encoding="utf-8")  # no charset
    (tmp_path / "unit-fixture").mkdir()
    (tmp_path / "unit-fixture" / "source.html").write_text("<p>tiny</p>")
    (tmp_path / "unit-fixture" / "expected.html").write_text("<p>tiny</p>")
    result = evaluate_extraction(tmp_path)
    assert result["pages"] == 1
    assert result["wirewatch"]["f1"] > 0.95


def test_cjk_characters_are_words_of_their_own() -> None:
    assert shingle_counts("中国人民", "中国人", 1).tp == pytest.approx(0.75)
