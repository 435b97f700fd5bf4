"""TF-IDF vectors (services.store.text, pure): weights, norms, bounded sums."""

from __future__ import annotations

import numpy as np

from services.store.text import CENTROID_DECIMALS, add_vectors, idf, rounded, tfidf_of


def test_idf_rewards_rare_terms_and_tfidf_is_unit_length() -> None:
    assert idf(1, 1000) > idf(500, 1000) > 0
    vec = tfidf_of(["volcano", "the"], [3, 5], np.array([2, 990]), 1000, limit=10)
    assert vec["volcano"] > vec["the"]
    assert abs(sum(v * v for v in vec.values()) - 1.0) < 1e-9


def test_a_bounded_sum_keeps_the_heaviest_components() -> None:
    assert add_vectors({"a": 1.0}, {"a": 1.0, "b": 0.5}, limit=1) == {"a": 2.0}


def test_a_centroid_sum_is_rounded_and_components_rounding_to_zero_are_dropped() -> None:
    total = add_vectors({"a": 0.1234567891}, {"a": 0.2, "b": 0.000001, "c": 1 / 3}, limit=10)
    assert total == {"a": 0.32346, "c": 0.33333}
    assert rounded({"x": 2 / 3, "y": 0.000004}) == {"x": 0.66667}
    assert CENTROID_DECIMALS == 5
