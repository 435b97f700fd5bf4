"""The join decision (services.store.join_model): the shipped model, its JSON form, the legacy rule kept."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest

from services.common.settings import Settings
from services.store.cluster import Candidate, Features, Weights, ranked_matches
from services.store.join_features import FEATURE_NAMES, Pair
from services.store.join_model import Joiner, JoinModel, Story, joiner_of, site_family

W = Weights(body=0.6, title=0.1, entities=0.3, time_scale_s=5 * 86400.0)
DAY = 86400.0


def feats(body: dict[str, float], ents: dict[str, float], t: float = 0.0) -> Features:
    return Features(body=body, title={}, entities=ents, time=t)


def story(cid: str, body: dict[str, float], ents: dict[str, float]) -> Candidate:
    return Candidate(cid, body, {}, ents, 0.0, 0.0)


def test_legacy_joiner_reproduces_the_weighted_rule() -> None:
    article = feats({"a": 0.6, "b": 0.8}, {"e|gpe:x": 1.0}, t=10 * DAY)
    cands = [story("c1", {"a": 1.0}, {"e|gpe:x": 1.0}), story("c2", {"b": 1.0}, {})]
    legacy = ranked_matches(article, cands, W, 0.13, 365 * DAY)
    joiner = Joiner(W, model=None, threshold=0.13, window_s=365 * DAY)
    mine = joiner.rank(article, [Story(c, 1, []) for c in cands], "o")
    assert [(m.cluster_id, m.score) for m in mine] == [(m.cluster_id, m.score) for m in legacy]


def model_json(weights: dict[str, float], intercept: float) -> dict[str, object]:
    n = len(FEATURE_NAMES)
    return {"format": 1, "kind": "logistic_regression", "features": list(FEATURE_NAMES), "mean": [0.5] * n,
            "scale": [2.0] * n,
            "coef": [weights.get(f, 0.0) for f in FEATURE_NAMES], "intercept": intercept, "threshold": 0.5}


def test_model_folds_standardisation_and_decides() -> None:
    model = JoinModel.from_json(model_json({"body": 4.0}, -1.0))
    row = [0.0] * len(FEATURE_NAMES)
    row[FEATURE_NAMES.index("body")] = 1.5  # standardised: (1.5 - 0.5) / 2 = 0.5 -> z = 4 * 0.5 - 1 = 1
    assert model.probability(row) == pytest.approx(1 / (1 + 2.718281828 ** -1.0), rel=1e-6)
    joiner = Joiner(W, model=model, threshold=0.13, window_s=365 * DAY)
    article = feats({"a": 1.0}, {})
    ranked = joiner.rank(article, [Story(story("near", {"a": 1.0}, {}), 1, []),
                                   Story(story("far", {"z": 1.0}, {}), 1, [])], "o")
    assert [m.cluster_id for m in ranked] == ["near"]


def test_model_with_other_features_is_refused() -> None:
    data = model_json({}, 0.0)
    data["features"] = ["body"]
    with pytest.raises(ValueError, match="features"):
        JoinModel.from_json(json.loads(json.dumps(data)))


def test_settings_choose_the_shipped_model_the_legacy_rule_or_a_file(tmp_path: Path) -> None:
    shipped = joiner_of(Settings())
    assert shipped.model is not None and 0 < shipped.threshold < 1
    assert shipped.merge_threshold == Settings().cluster_merge_probability
    legacy = joiner_of(Settings(cluster_join_model="none"))
    assert legacy.model is None and legacy.threshold == Settings().cluster_threshold
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model_json({"body": 1.0}, 0.0)))
    assert joiner_of(Settings(cluster_join_model=str(path))).model is not None
    with pytest.raises(ValueError, match="WIREWATCH_CLUSTER_JOIN_MODEL"):
        joiner_of(Settings(cluster_join_model=str(tmp_path / "missing.json")))


def trees_json(trees: list[dict[str, list[float | int]]], init: float = 0.0, rate: float = 1.0) -> dict[str, object]:
    return {"format": 1, "kind": "gradient_boosting", "features": list(FEATURE_NAMES), "threshold": 0.5,
            "init": init, "learning_rate": rate, "trees": trees}


def test_boosted_trees_add_their_leaves_as_log_odds() -> None:
    body = FEATURE_NAMES.index("body")
    stump: dict[str, list[float | int]] = {"feature": [body, -1, -1], "threshold": [0.3, 0.0, 0.0],
                                           "left": [1, -1, -1], "right": [2, -1, -1], "value": [0.0, -2.0, 3.0]}
    model = JoinModel.from_json(trees_json([stump, stump], init=-1.0, rate=0.5))
    row = [0.0] * len(FEATURE_NAMES)
    assert model.log_odds(row) == pytest.approx(-1.0 + 0.5 * (-2.0 - 2.0))
    row[body] = 0.3  # at the threshold: left, as scikit-learn decides
    assert model.log_odds(row) == pytest.approx(-3.0)
    row[body] = 0.31
    assert model.log_odds(row) == pytest.approx(-1.0 + 0.5 * 6.0)
    assert model.probability(row) == pytest.approx(1 / (1 + math.exp(-2.0)))


@pytest.mark.parametrize("bad", [{"value": [0.0, "__import__('os')", 1.0]}, {"feature": [999, -1, -1]},
                                 {"left": [0, -1, -1]}, {"threshold": [float("nan"), 0.0, 0.0]}])
def test_a_tree_file_with_anything_but_numbers_in_range_is_refused(bad: dict[str, list[object]]) -> None:
    stump: dict[str, list[object]] = {"feature": [0, -1, -1], "threshold": [0.3, 0.0, 0.0], "left": [1, -1, -1],
                                      "right": [2, -1, -1], "value": [0.0, -2.0, 3.0]}
    with pytest.raises(ValueError, match="join model"):
        JoinModel.from_json(trees_json([cast("dict[str, list[float | int]]", {**stump, **bad})]))


def test_sites_of_one_group_are_one_family() -> None:
    assert site_family("stlouis.cbslocal.com") == site_family("denver.cbslocal.com") == "cbslocal.com"
    assert site_family("news.bbc.co.uk") == "bbc.co.uk" and site_family("bbc.co.uk") == "bbc.co.uk"
    assert site_family("chicagotribune.com") == "chicagotribune.com"


def test_a_story_with_an_article_of_the_same_site_family_is_flagged() -> None:
    seen: list[float] = []

    class Recorder(Joiner):
        def pairs(self, article: Features, candidates: Sequence[Story], outlet: str) -> list[Pair]:
            found = super().pairs(article, candidates, outlet)
            seen.extend(p.values[FEATURE_NAMES.index("same_outlet")] for p in found)
            return found

    joiner = Recorder(W, model=None, threshold=0.0, window_s=365 * DAY)
    article = feats({"a": 1.0}, {})
    joiner.rank(article, [Story(story("s1", {"a": 1.0}, {}), 1, ["denver.cbslocal.com"]),
                          Story(story("s2", {"a": 1.0}, {}), 1, ["kmov.com"])], "stlouis.cbslocal.com")
    assert seen == [1.0, 0.0]
