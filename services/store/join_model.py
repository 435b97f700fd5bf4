"""The learned join decision (pure): which candidate story an article joins, if any.

A logistic regression over services.store.join_features, trained by
`wirewatch train stories` (services.evaluation.train_stories) and shipped as a
small JSON file next to this module (`join_model.json`): feature names, the
standardisation, the coefficients and the decision threshold. Linear, so it needs
no scikit-learn at run time, loads in a millisecond, costs ~20 multiply-adds per
candidate, and cannot memorise particular events the way a deep tree ensemble can.

`Joiner` is what the store calls: it scores each candidate of an article and
returns the ones it would join, most probable first. With `model=None` it is the
legacy rule (weighted similarity sum ≥ a threshold), kept for comparison.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from services.common.settings import Settings
from services.store.cluster import ENTITY_PREFIX, Candidate, Features, Match, Weights
from services.store.join_features import FEATURE_NAMES, Pair, pair_features, rank_features

MODEL_FILE = "join_model.json"
MODEL_FORMAT = 1


@dataclass(frozen=True)
class JoinModel:
    """A linear model over FEATURE_NAMES: P(join) = sigmoid(bias + Σ weight·feature)."""

    weights: tuple[float, ...]
    bias: float
    threshold: float  # join the most probable candidate when its probability reaches this
    meta: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JoinModel:
        """Read the exported form: standardised coefficients folded back into raw-feature weights."""
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"join model format {data.get('format')!r}, expected {MODEL_FORMAT}")
        names = data["features"]
        if tuple(names) != FEATURE_NAMES:
            raise ValueError(f"join model features {names} differ from this code's {list(FEATURE_NAMES)}")
        coef, mean, scale = data["coef"], data["mean"], data["scale"]
        weights = tuple(c / s for c, s in zip(coef, scale, strict=True))
        bias = data["intercept"] - sum(c * m / s for c, m, s in zip(coef, mean, scale, strict=True))
        meta = {k: v for k, v in data.items() if k not in ("coef", "mean", "scale", "intercept")}
        return cls(weights, bias, float(data.get("threshold", 0.5)), meta)

    @classmethod
    def load(cls, path: Path | None = None) -> JoinModel:
        """The model at `path`, or the one shipped with the package."""
        if path is None:
            text = resources.files("services.store").joinpath(MODEL_FILE).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        return cls.from_json(json.loads(text))

    def probability(self, row: Sequence[float]) -> float:
        """P(the article belongs to this candidate's story)."""
        z = self.bias
        for w, x in zip(self.weights, row, strict=True):
            z += w * x
        if z < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class Story:
    """What the join decision knows of a candidate story."""

    candidate: Candidate
    size: int
    outlets: Sequence[str]


def load_join_model(setting: str) -> JoinModel | None:
    """The model a `cluster_join_model` setting names: "builtin" (shipped), "none" (legacy rule), or a path."""
    if setting == "none":
        return None
    if setting == "builtin":
        return JoinModel.load()
    path = Path(setting)
    if not path.is_file():
        raise ValueError(f"join model file {path} not found (setting WIREWATCH_CLUSTER_JOIN_MODEL: 'builtin', "
                         f"'none' or the path of a file written by `wirewatch train stories`)")
    return JoinModel.load(path)


def weights_of(settings: Settings) -> Weights:
    """How the legacy clustering score adds up, from the settings."""
    return Weights(body=settings.cluster_weight_body, title=settings.cluster_weight_title,
                   entities=settings.cluster_weight_entities, time_scale_s=settings.cluster_time_scale_days * 86400)


def joiner_of(settings: Settings) -> Joiner:
    """The join decision the settings configure (the model, or the legacy rule with its thresholds)."""
    model = load_join_model(settings.cluster_join_model)
    return Joiner(weights_of(settings), model=model, threshold=settings.cluster_threshold,
                  window_s=settings.cluster_window_hours * 3600,
                  merge_threshold=settings.cluster_merge_probability if model else settings.cluster_merge_threshold)


class Joiner:
    """Decides, for one article, which candidate stories it belongs to (best first)."""

    def __init__(self, weights: Weights, *, model: JoinModel | None, threshold: float, window_s: float,
                 merge_threshold: float = 1.0) -> None:
        """`threshold`: legacy score needed without a model (with one, the model's own threshold);
        `merge_threshold`: score with a second story above which the article merges it into the first."""
        self.weights = weights
        self.model = model
        self.threshold = model.threshold if model is not None else threshold
        self.window_s = window_s
        self.merge_threshold = merge_threshold

    def in_window(self, article: Features, candidate: Candidate) -> bool:
        """Whether the story had a member within the clustering window of the article."""
        return candidate.first_time - self.window_s <= article.time <= candidate.last_time + self.window_s

    def pairs(self, article: Features, candidates: Sequence[Story], outlet: str) -> list[Pair]:
        """Per-pair features of the candidates within the window."""
        return [pair_features(article, s.candidate, s.size, self.weights, outlet in s.outlets)
                for s in candidates if self.in_window(article, s.candidate)]

    def rank(self, article: Features, candidates: Sequence[Story], outlet: str) -> list[Match]:
        """The candidates the article would join, most likely first (score = probability, or legacy score)."""
        pairs = self.pairs(article, candidates, outlet)
        if not pairs:
            return []
        if self.model is None:
            scores = [round(p.score, 4) for p in pairs]
        else:
            scores = [round(self.model.probability(row), 4) for row in rank_features(pairs)]
        return self.accept(article, pairs, scores)

    def accept(self, article: Features, pairs: Sequence[Pair], scores: Sequence[float]) -> list[Match]:
        """Matches for the pairs scoring at or above the threshold, best first."""
        out = [_match(article, p, s) for p, s in zip(pairs, scores, strict=True) if s >= self.threshold]
        return sorted(out, key=lambda m: (-m.score, m.cluster_id))

    @property
    def uses_model(self) -> bool:
        """Whether decisions come from the learned model (scores are probabilities)."""
        return self.model is not None


def _match(article: Features, pair: Pair, score: float) -> Match:
    story = pair.candidate.entities
    shared = [article.entity_keys.get(k) or k.removeprefix(ENTITY_PREFIX) for k in article.top_entities if k in story]
    return Match(pair.candidate.cluster_id, score, round(pair.body, 4), round(pair.title, 4), round(pair.entities, 4),
                 round(pair.gap_s / 3600, 2), shared)
