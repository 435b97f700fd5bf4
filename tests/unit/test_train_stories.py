"""Training the join decision (services.evaluation.train_stories): the exported trees, the DAgger rows."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from services.evaluation.train_stories import MONOTONIC, PolicyJoiner, Row, fit
from services.store.cluster import Candidate, Features, Weights
from services.store.join_features import FEATURE_NAMES
from services.store.join_model import Joiner, JoinModel, Story

pytest.importorskip("sklearn", reason="training needs scikit-learn (the dev extra)")

W = Weights(body=0.6, title=0.1, entities=0.3, time_scale_s=5 * 86400.0)
BODY = FEATURE_NAMES.index("body")
PERSON_OUT = FEATURE_NAMES.index("person_unshared")


def rows(n: int = 3000) -> list[Row]:
    """Joins are likely with a high body cosine and few unshared people, except in a small band of body
    cosines where the labels say the opposite (a few events' rows the trees could overfit)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        x = [0.0] * len(FEATURE_NAMES)
        x[BODY], x[PERSON_OUT] = rng.random(), rng.random()
        label = int(x[BODY] - 0.5 * x[PERSON_OUT] + rng.gauss(0, 0.1) > 0.3)
        if 0.12 < x[BODY] < 0.18:
            label = 1
        out.append(Row(f"a{i}", f"e{i % 50}", tuple(x), label))
    return out


def probability(model: JoinModel, body: float, person_out: float) -> float:
    x = [0.0] * len(FEATURE_NAMES)
    x[BODY], x[PERSON_OUT] = body, person_out
    return model.probability(x)


def test_exported_trees_keep_the_monotonic_constraints() -> None:
    assert MONOTONIC["body"] == 1 and MONOTONIC["person_unshared"] == -1
    model = JoinModel.from_json(fit(rows()))
    grid = [i / 50 for i in range(51)]
    by_body = [probability(model, b, 0.2) for b in grid]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(by_body)), by_body
    # The band of positive labels at low cosines cannot make a low cosine likelier than a middling one.
    assert probability(model, 0.15, 0.2) <= probability(model, 0.3, 0.2)
    by_people = [probability(model, 0.6, p) for p in grid]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(by_people)), by_people
    assert probability(model, 0.9, 0.0) > 0.5 > probability(model, 0.05, 0.9)


def test_training_is_deterministic() -> None:
    assert fit(rows()) == fit(rows())


def candidate(cid: str) -> Story:
    return Story(Candidate(cid, {"quake": 1.0}, {}, {}, 0.0, 0.0), 3, [])


def test_policy_rows_come_from_mixed_stories_labelled_by_their_main_event() -> None:
    model = JoinModel.from_json(fit(rows()))
    base = Joiner(W, model=None, threshold=0.13, window_s=365 * 86400.0)
    policy = PolicyJoiner(base, model, {"x": "B", "y": "A"}, merge_threshold=0.95)
    policy.events["mixed"] = Counter({"A": 2, "B": 1})
    policy.events["pure"] = Counter({"B": 2})
    article = Features(body={"quake": 1.0}, title={}, entities={}, time=0.0)
    stories = [candidate("mixed"), candidate("pure")]
    policy.current = "x"
    policy.rank(article, stories, "o.example")
    policy.current = "y"
    policy.rank(article, stories, "o.example")
    # The pure story was shown by teacher forcing already; the mixed one belongs to A, whatever B's share.
    assert [(r.article_id, r.story_event, r.label) for r in policy.rows] == [("x", "A", 0), ("y", "A", 1)]
    assert len(policy.rows[0].features) == len(FEATURE_NAMES)
