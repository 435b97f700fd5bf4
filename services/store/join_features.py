"""What the join decision looks at (pure): features of one (article, candidate story) pair.

Miranda et al. (EMNLP 2018) decide whether an article joins a story with a
model over several similarities and time features rather than one weighted sum
and a threshold. These are ours, computed from what the store already holds per
story (its centroid vectors, time span and size), so they cost a few dictionary
intersections per candidate:

* cosines of the article with the story's body, title and entity centroids, the
  entity one also split by kind (people, organisations, places, the rest): sharing
  a city is weak evidence, sharing the victim's name strong;
* the article's entity mass the story never mentions, by kind (people, places,
  the rest): the same kind of event somewhere else, or with other people;
* whether the story already has an article of the same outlet, alone and times the
  body cosine: an outlet's page furniture (its name, "police say" templates, links)
  makes its articles about different events read alike;
* time: gap outside the story's span, distance to its first article, the story's
  age, and its size;
* competition: the best other candidate's body cosine and this one's margin over
  it (an article about a shooting in Chicago looks like every Chicago shooting;
  what tells the right one is being clearly better than the rest).

`pair_features` returns them in FEATURE_NAMES order; services.store.join_model
turns them into a probability; services.evaluation.train_stories learns it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.store.cluster import ENTITY_PREFIX, PLACE_PREFIXES, Candidate, Features, Weights

HOUR = 3600.0
_PERSON = ENTITY_PREFIX + "person:"
_ORG = ENTITY_PREFIX + "org:"

#: Per-pair features, then the competition features added by rank_features.
PAIR_FEATURES = (
    "body", "title", "entities", "ent_person", "ent_org", "ent_place", "ent_other",
    "body_faded", "entities_faded", "legacy_score",
    "log_gap_h", "log_since_first_h", "log_age_h", "log_size", "has_title",
    "person_unshared", "place_unshared", "other_unshared", "same_outlet", "body_same_outlet",
)
COMPETITION_FEATURES = ("best_other_body", "body_margin", "best_other_score", "score_margin", "log_candidates")
FEATURE_NAMES = PAIR_FEATURES + COMPETITION_FEATURES


@dataclass(frozen=True)
class Pair:
    """One candidate story for an article: the story, the raw pair features and the legacy score."""

    candidate: Candidate
    values: tuple[float, ...]
    body: float
    score: float
    title: float
    entities: float
    gap_s: float


def pair_features(article: Features, candidate: Candidate, size: int, weights: Weights,
                  same_outlet: bool = False) -> Pair:
    """The per-pair features of `article` against `candidate` (a story of `size` members; `same_outlet`:
    the story has an article of the article's outlet)."""
    body_norm, title_norm, entity_norm = candidate.norms
    body = _cos(article.body, candidate.body, body_norm)
    title = _cos(article.title, candidate.title, title_norm)
    person = org = place = other = 0.0
    # The article's entity mass (its vector is unit length) that the story never mentions, by kind:
    # a victim, a town or an organisation the story does not know says "another event".
    person_out = place_out = other_out = 0.0
    ce = candidate.entities
    for k, w in article.entities.items():
        v = ce.get(k)
        if k.startswith(_PERSON):
            if v is None:
                person_out += w * w
            else:
                person += w * v
        elif k.startswith(PLACE_PREFIXES):
            if v is None:
                place_out += w * w
            else:
                place += w * v
        elif v is None:
            other_out += w * w
        elif k.startswith(_ORG):
            org += w * v
        else:
            other += w * v
    if entity_norm:
        person, org, place, other = (x / entity_norm for x in (person, org, place, other))
    ents = person + org + place + other
    gap = 0.0
    if article.time < candidate.first_time:
        gap = candidate.first_time - article.time
    elif article.time > candidate.last_time:
        gap = article.time - candidate.last_time
    fade = 1.0 / (1.0 + gap / weights.time_scale_s)
    faded_ents = ents - place * (1.0 - fade)  # places fade with the gap, as the legacy score does
    legacy = (weights.body * body + weights.title * title) * fade + weights.entities * faded_ents
    values = (
        body, title, ents, person, org, place, other,
        body * fade, ents * fade, legacy,
        math.log1p(gap / HOUR), math.log1p(abs(article.time - candidate.first_time) / HOUR),
        math.log1p((candidate.last_time - candidate.first_time) / HOUR), math.log1p(size),
        1.0 if article.title else 0.0,
        person_out, place_out, other_out, 1.0 if same_outlet else 0.0, body if same_outlet else 0.0,
    )
    return Pair(candidate, values, body, legacy, title, ents, gap)


def rank_features(pairs: Sequence[Pair]) -> list[tuple[float, ...]]:
    """Every pair's full feature row: its own features and how it compares with the other candidates."""
    rows = []
    n = math.log1p(len(pairs))
    # The best and second best of body cosine and legacy score: "the best other" of each pair in O(n).
    bodies = sorted((p.body for p in pairs), reverse=True)
    scores = sorted((p.score for p in pairs), reverse=True)
    for p in pairs:
        other_body = _best_other(bodies, p.body)
        other_score = _best_other(scores, p.score)
        rows.append((*p.values, other_body, p.body - other_body, other_score, p.score - other_score, n))
    return rows


def _best_other(ranked: list[float], own: float) -> float:
    if len(ranked) < 2:
        return 0.0
    return ranked[1] if ranked[0] == own else ranked[0]


def _cos(unit: dict[str, float], other: dict[str, float], other_norm: float) -> float:
    if not unit or not other_norm:
        return 0.0
    total = 0.0
    for k in unit.keys() & other.keys():
        total += unit[k] * other[k]
    return total / other_norm
