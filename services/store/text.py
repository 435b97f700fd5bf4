"""TF-IDF vectors for clustering (pure): weights, norms, bounded sums."""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt


def idf(df: int, n_docs: int) -> float:
    """Smoothed inverse document frequency (scikit-learn's formula): never zero, rare terms high."""
    return math.log((1 + n_docs) / (1 + df)) + 1.0


# log(1 + i) for small i: term counts and most document frequencies are small.
_TABLE = 65_536
_LOG1P = [math.log1p(i) for i in range(_TABLE)]


def tfidf_of(terms: Sequence[str], counts: Sequence[int], df: npt.NDArray[Any], n_docs: int, *,
             limit: int) -> dict[str, float]:
    """Sublinear TF x IDF of `terms` (positive `counts`, document frequencies `df` in the same order),
    the `limit` heaviest, L2-normalised."""
    if len(terms) > _VECTORISE_ABOVE:
        return _tfidf_vectorised(terms, counts, df, n_docs, limit)
    # idf() inlined, logs looked up: few terms (titles) are weighed faster in Python than in numpy.
    log1p_table, log = _LOG1P, math.log
    base = log(1 + n_docs) + 1.0
    weights = {}
    for t, c, d in zip(terms, counts, df.tolist(), strict=True):
        weights[t] = (1.0 + log1p_table[c - 1] if c <= _TABLE else 1.0 + log(c)) * (
            base - (log1p_table[d] if d < _TABLE else log(1 + d)))
    if len(weights) > limit:
        weights = dict(heapq.nlargest(limit, weights.items(), key=itemgetter(1)))
    return l2_normalise(weights)


# An article body has a few hundred distinct words: weighing them in numpy is 3x faster than in Python.
_VECTORISE_ABOVE = 64


def _tfidf_vectorised(terms: Sequence[str], counts: Sequence[int], df: npt.NDArray[Any], n_docs: int,
                      limit: int) -> dict[str, float]:
    tf = np.array(counts, dtype=np.float64)
    weights = (1.0 + np.log(tf)) * (math.log(1 + n_docs) + 1.0 - np.log1p(df.astype(np.float64)))
    chosen = np.argpartition(-weights, limit)[:limit] if len(terms) > limit else np.arange(len(terms))
    top = weights[chosen]
    norm = math.sqrt(float(top @ top))
    if not norm:
        return {}
    return dict(zip([terms[i] for i in chosen.tolist()], (top / norm).tolist(), strict=True))


def l2_normalise(vector: Mapping[str, float]) -> dict[str, float]:
    """Scale a sparse vector to unit length (empty stays empty)."""
    norm = math.hypot(*vector.values())
    return {k: v / norm for k, v in vector.items()} if norm else {}


#: Decimals a centroid's components keep. A story summary is mostly its centroids' floats, and a float's
#: last digits are noise to zstd: the dev set's summaries compress to 2,564 B with 17 significant digits,
#: to 1,762 B with 5 decimals (a component of 0.01 kept to 0.1 %; every placement of the dev replays the
#: same). Rounded when the centroid is made, so the copy in memory and the one read back from Redis are
#: the same numbers and score every article alike.
CENTROID_DECIMALS = 5
_SCALE = 10.0 ** CENTROID_DECIMALS


def _rounded_weight(weight: float) -> float:
    # floor(x + 0.5) on the scaled weight, then an exact division: the float nearest to the decimal, as
    # round(weight, 5) gives it, at a quarter of its cost (it is called for every component of every join).
    return math.floor(weight * _SCALE + 0.5) / _SCALE


def rounded(vector: Mapping[str, float]) -> dict[str, float]:
    """A vector of non-negative weights with each rounded to CENTROID_DECIMALS, those that round to zero
    dropped."""
    out = {}
    for k, v in vector.items():
        r = _rounded_weight(v)
        if r:
            out[k] = r
    return out


def add_vectors(total: Mapping[str, float], vector: Mapping[str, float], *, limit: int) -> dict[str, float]:
    """`total + vector` (non-negative weights), keeping the `limit` heaviest components (a bounded centroid).
    The components `vector` adds to are rounded (`rounded`): a centroid made by seeding and adding is rounded
    throughout (one an older store wrote keeps its other components as they were)."""
    merged = dict(total)
    for k, v in vector.items():
        r = _rounded_weight(merged.get(k, 0.0) + v)
        if r:
            merged[k] = r
    if len(merged) <= limit:
        return merged
    return dict(heapq.nlargest(limit, merged.items(), key=itemgetter(1)))


def top_terms(vector: Mapping[str, float], n: int) -> list[str]:
    """The `n` heaviest keys of a vector."""
    return [k for k, _ in heapq.nlargest(n, vector.items(), key=itemgetter(1))]
