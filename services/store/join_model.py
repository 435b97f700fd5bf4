"""The learned join decision (pure): which candidate story an article joins, if any.

A small model over services.store.join_features, trained by `wirewatch train
stories` (services.evaluation.train_stories) and shipped as a JSON file next to
this module (`join_model.json`): feature names, the model, the decision threshold.
Two kinds are read:

* "gradient_boosting": a few dozen shallow regression trees whose leaf values add up
  to log-odds (scikit-learn's HistGradientBoostingClassifier, exported node by node).
  They are compiled once, at load, into one Python function of nested comparisons
  built only from the file's numbers (feature indices, thresholds, leaf values, each
  checked to be a number): ~5 µs per candidate where walking the nodes costs ~35;
* "logistic_regression": standardised coefficients, folded into raw-feature weights.

Neither needs scikit-learn at run time. `Joiner` is what the store calls: it scores
each candidate of an article and returns the ones it would join, most probable
first. With `model=None` it is the legacy rule (weighted similarity sum ≥ a
threshold), kept for comparison (`WIREWATCH_CLUSTER_JOIN_MODEL=none`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from services.common.settings import Settings
from services.store.cluster import ENTITY_PREFIX, Candidate, Features, Match, Weights
from services.store.join_features import FEATURE_NAMES, Pair, pair_features, rank_features

MODEL_FILE = "join_model.json"
MODEL_FORMAT = 1
KINDS = ("gradient_boosting", "logistic_regression")


@dataclass(frozen=True)
class JoinModel:
    """P(join) = sigmoid(log_odds(feature row)); the most probable candidate joins at `threshold` or above."""

    kind: str
    log_odds: Callable[[Sequence[float]], float] = field(repr=False)
    threshold: float
    meta: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JoinModel:
        """Read the exported form (services.evaluation.train_stories writes it)."""
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"join model format {data.get('format')!r}, expected {MODEL_FORMAT}")
        names = data.get("features")
        if names is None or tuple(names) != FEATURE_NAMES:
            raise ValueError(f"join model features {names} differ from this code's {list(FEATURE_NAMES)}: "
                             f"retrain it with `wirewatch train stories`")
        kind = data.get("kind")
        if kind == "logistic_regression":
            log_odds = _linear(data)
        elif kind == "gradient_boosting":
            log_odds = _trees(data)
        else:
            raise ValueError(f"join model kind {kind!r}, expected one of {KINDS}")
        meta = {k: v for k, v in data.items() if k in ("kind", "trained_on", "rows", "positives", "params")}
        return cls(kind, log_odds, float(data.get("threshold", 0.5)), meta)

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
        z = self.log_odds(row)
        if z < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))


def _linear(data: dict[str, Any]) -> Callable[[Sequence[float]], float]:
    coef, mean, scale = data["coef"], data["mean"], data["scale"]
    weights = tuple(float(c) / float(s) for c, s in zip(coef, scale, strict=True))
    bias = float(data["intercept"]) - sum(float(c) * float(m) / float(s) for c, m, s in zip(coef, mean, scale,
                                                                                             strict=True))

    def log_odds(row: Sequence[float]) -> float:
        return bias + math.fsum(w * x for w, x in zip(weights, row, strict=True))
    return log_odds


def _trees(data: dict[str, Any]) -> Callable[[Sequence[float]], float]:
    """The trees' sum as one compiled function. Each tree is {"feature", "threshold", "left", "right",
    "value"} node arrays (feature < 0 marks a leaf); a row goes left when row[feature] <= threshold."""
    n = len(FEATURE_NAMES)

    def number(v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"join model: {v!r} is not a finite number")
        return repr(float(v))

    def node(tree: dict[str, list[Any]], i: int, depth: int) -> str:
        if depth > 32:
            raise ValueError("join model: a tree deeper than 32 levels")
        f = tree["feature"][i]
        if not isinstance(f, int) or f >= n:
            raise ValueError(f"join model: feature index {f!r} out of range")
        if f < 0:
            return number(tree["value"][i])
        left, right = tree["left"][i], tree["right"][i]
        if not (isinstance(left, int) and isinstance(right, int) and i < left and i < right):
            raise ValueError(f"join model: bad children of node {i}")
        return (f"({node(tree, left, depth + 1)} if x[{f}] <= {number(tree['threshold'][i])} "
                f"else {node(tree, right, depth + 1)})")

    terms = [node(tree, 0, 0) for tree in data["trees"]]
    scale = number(data["learning_rate"])
    source = f"lambda x: {number(data['init'])} + {scale} * ({' + '.join(terms) or '0.0'})"
    # Only numbers and the row's indices went into `source` (checked above): nothing else can run.
    compiled: Callable[[Sequence[float]], float] = eval(compile(source, "<join model>", "eval"), {"__builtins__": {}})
    return compiled


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
        family = site_family(outlet)
        return [pair_features(article, s.candidate, s.size, self.weights,
                              any(site_family(o) == family for o in s.outlets))
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


# Second-level labels under which a country's registrable domains sit (news.bbc.co.uk -> bbc.co.uk).
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or"})


def site_family(host: str) -> str:
    """The registrable domain of an outlet's host: the sites of one group (stlouis.cbslocal.com,
    denver.cbslocal.com) share their page templates and boilerplate."""
    labels = host.lower().split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def _match(article: Features, pair: Pair, score: float) -> Match:
    story = pair.candidate.entities
    shared = [article.entity_keys.get(k) or k.removeprefix(ENTITY_PREFIX) for k in article.top_entities if k in story]
    return Match(pair.candidate.cluster_id, score, round(pair.body, 4), round(pair.title, 4), round(pair.entities, 4),
                 round(pair.gap_s / 3600, 2), shared)
