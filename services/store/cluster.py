"""Story clustering (pure): score an article against candidate clusters, pick the best.

First version: single-pass, in arrival order. The score mixes term-vector
cosine (title and body) with the overlap of salient entities; clusters whose
last article is outside the time window are not candidates. The full design
(IDF statistics, copies, merges) is issue #4's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from services.common.messages import Entity
from services.store.text import cosine, l2_normalise

ENTITY_WEIGHT = 0.5
TEXT_WEIGHT = 0.5
SALIENT_ENTITIES = 10
CENTROID_TERMS = 100
CLUSTER_ENTITIES = 30


@dataclass(frozen=True)
class Candidate:
    """A cluster that may take the article: its centroid and entity counts."""

    cluster_id: str
    terms: dict[str, float]
    entities: dict[str, int]


@dataclass(frozen=True)
class Match:
    """Why an article joins a cluster."""

    cluster_id: str
    score: float
    text_similarity: float
    entity_overlap: float
    shared_entities: list[str]


def salient_entities(entities: list[Entity], limit: int = SALIENT_ENTITIES) -> list[str]:
    """Keys of the article's most salient entities: most mentioned, then earliest."""
    ranked = sorted(entities, key=lambda e: (-e.count, e.first_position))
    return [e.key for e in ranked[:limit]]


def entity_overlap(article_keys: list[str], cluster_entities: dict[str, int]) -> tuple[float, list[str]]:
    """Share of the article's salient entities that the cluster also has, and which."""
    if not article_keys:
        return 0.0, []
    shared = [k for k in article_keys if k in cluster_entities]
    return len(shared) / len(article_keys), shared


def score(terms: dict[str, float], keys: list[str], candidate: Candidate) -> Match:
    """Score one article against one candidate cluster."""
    text = cosine(terms, candidate.terms)
    overlap, shared = entity_overlap(keys, candidate.entities)
    total = TEXT_WEIGHT * text + ENTITY_WEIGHT * overlap
    return Match(candidate.cluster_id, round(total, 4), round(text, 4), round(overlap, 4), shared)


def best_match(terms: dict[str, float], keys: list[str], candidates: list[Candidate],
               threshold: float) -> Match | None:
    """The best-scoring candidate at or above `threshold`, or None (open a new cluster)."""
    best: Match | None = None
    for candidate in candidates:
        match = score(terms, keys, candidate)
        if match.score >= threshold and (best is None or match.score > best.score):
            best = match
    return best


def add_to_centroid(centroid: dict[str, float], terms: dict[str, float], size_before: int) -> dict[str, float]:
    """Running mean of member vectors, kept to the heaviest terms."""
    merged = {k: v * size_before for k, v in centroid.items()}
    for k, v in terms.items():
        merged[k] = merged.get(k, 0.0) + v
    top = dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:CENTROID_TERMS])
    return l2_normalise(top)


def add_entities(counts: dict[str, int], keys: list[str]) -> dict[str, int]:
    """Count each salient entity once per member; keep the most frequent."""
    merged: Counter[str] = Counter(counts)
    merged.update(set(keys))
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:CLUSTER_ENTITIES])
