"""Features of one (article, candidate story) pair (services.store.join_features)."""

from __future__ import annotations

import pytest

from services.store.cluster import Candidate, Features, Weights
from services.store.join_features import FEATURE_NAMES, pair_features, rank_features

W = Weights(body=0.6, title=0.1, entities=0.3, time_scale_s=5 * 86400.0)


def feats(body: dict[str, float], ents: dict[str, float], t: float = 0.0) -> Features:
    return Features(body=body, title={}, entities=ents, time=t)


def story(cid: str, body: dict[str, float], ents: dict[str, float]) -> Candidate:
    return Candidate(cid, body, {}, ents, 0.0, 0.0)


def test_entity_cosine_is_split_by_kind_and_unshared_mass_counted() -> None:
    article = feats({"shot": 1.0}, {"e|person:smith": 0.6, "e|gpe:chicago": 0.8})
    pair = pair_features(article, story("c1", {"shot": 2.0}, {"e|gpe:chicago": 1.0}), 3, W)
    row = dict(zip(FEATURE_NAMES, rank_features([pair])[0], strict=True))
    assert row["body"] == pytest.approx(1.0)
    assert row["ent_place"] == pytest.approx(0.8) and row["ent_person"] == 0.0
    assert row["person_unshared"] == pytest.approx(0.36) and row["place_unshared"] == 0.0
    assert row["best_other_body"] == 0.0 and row["body_margin"] == pytest.approx(1.0)


def test_competition_features_compare_with_the_best_other() -> None:
    article = feats({"a": 0.6, "b": 0.8}, {})
    pairs = [pair_features(article, story("c1", {"a": 1.0}, {}), 1, W),
             pair_features(article, story("c2", {"b": 1.0}, {}), 1, W)]
    rows = [dict(zip(FEATURE_NAMES, r, strict=True)) for r in rank_features(pairs)]
    assert rows[0]["best_other_body"] == pytest.approx(0.8) and rows[0]["body_margin"] == pytest.approx(-0.2)
    assert rows[1]["best_other_body"] == pytest.approx(0.6) and rows[1]["body_margin"] == pytest.approx(0.2)
