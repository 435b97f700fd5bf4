"""Clustering scores (services.evaluation.metrics): BCubed, pairwise, and chained-story counts."""

from __future__ import annotations

import pytest

from services.evaluation.metrics import cluster_scores, pair_reach


def test_perfect_and_all_alone() -> None:
    gold = {"a": "x", "b": "x", "c": "y"}
    s = cluster_scores(gold, gold)
    assert s.bcubed == (1.0, 1.0, 1.0) and s.pairwise == (1.0, 1.0, 1.0) and s.max_events == 1
    alone = cluster_scores(gold, {"a": "1", "b": "2", "c": "3"})
    assert alone.pairwise[0] == 1.0 and alone.pairwise[1] == 0.0 and alone.stories_over == 0


def test_a_chained_story_shows_in_pairwise_precision_and_event_counts() -> None:
    gold = {str(i): f"e{i // 2}" for i in range(10)}  # five events of two articles
    predicted = {str(i): "big" for i in range(10)}
    s = cluster_scores(gold, predicted)
    assert s.pairwise[0] == pytest.approx(5 / 45) and s.pairwise[1] == 1.0
    assert s.max_events == 5 and s.stories_over == 1


def test_a_missing_prediction_is_a_singleton() -> None:
    gold = {"a": "x", "b": "x"}
    s = cluster_scores(gold, {"a": "1"})
    assert s.predicted_clusters == 2 and s.pairwise[1] == 0.0


def test_split_pairs_are_told_apart_by_whether_the_store_could_join_them() -> None:
    day = 86400.0
    # One event: a and b dated a day apart, c dated 400 days later, u undated.
    gold = {"a": "e", "b": "e", "c": "e", "u": "e"}
    times = {"a": 0.0, "b": day, "c": 400 * day, "u": None}
    predicted = {"a": "s1", "b": "s2", "c": "s3", "u": "s4"}  # every pair split
    reach = pair_reach(gold, predicted, times, window_s=365 * day)
    assert reach.within == (1, 1)  # a-b
    assert reach.beyond_window == (2, 2)  # a-c, b-c
    assert reach.undated_vs_dated == (3, 3)  # u with each
    assert reach.recall_within == 0.0 and reach.total == (6, 6)
    joined = pair_reach(gold, {"a": "s1", "b": "s1", "c": "s3", "u": "s4"}, times, window_s=365 * day)
    assert joined.within == (1, 0) and joined.recall_within == 1.0
    assert joined.as_json()["beyond_window"] == {"pairs": 2, "split": 2}
