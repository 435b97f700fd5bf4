"""`wirewatch eval copies` scoring (services.evaluation.copies, pure parts): labels read, pairs counted."""

from __future__ import annotations

from typing import Any

from services.evaluation.copies import (
    BEYOND_WINDOW,
    OWN_WORDS,
    WITHIN_WINDOW,
    has_copy_labels,
    label_of,
    labelled_copies,
    score_copies,
    score_groups,
    within_window,
)
from services.evaluation.copyset import CopyRecord, CopySet


def always(a: str, b: str) -> bool:
    return True


def test_labels_come_from_copy_of_then_near_dup_auto() -> None:
    assert label_of({"id": "b", "copy_of": "a"}) == "a"
    assert label_of({"id": "b", "near_dup_auto": {"of": "a", "jaccard5": 0.9}}) == "a"
    assert label_of({"id": "b", "copy_of": None, "near_dup_auto": None}) is None
    assert has_copy_labels([{"id": "a"}, {"id": "b", "copy_of": None}])  # "copies nothing" is a label too
    assert has_copy_labels([{"id": "a", "near_dup_auto": None}])
    assert not has_copy_labels([{"id": "a", "cluster": "x"}])


def test_labelled_lines_in_stream_order_with_unknown_targets_dropped() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "c", "copy_of": "nowhere", "text": "t", "order": 2, "published": "2016-03-01"},
        {"id": "a", "text": "t", "order": 0, "published": "2016-03-01T08:30:00+00:00"},
        {"id": "b", "copy_of": "a", "text": "t", "order": 1},
        {"id": "d", "copy_of": "d", "text": "t", "order": 3},
    ]
    out = labelled_copies(rows)
    assert [c.record.id for c in out] == ["a", "b", "c", "d"]
    assert [c.copy_of for c in out] == [None, "a", None, None]
    assert out[0].record.published == "2016-03-01T08:30:00+00:00"
    assert out[2].record.published == "2016-03-01T12:00:00+00:00"  # a bare date at noon, as eval stories
    assert out[1].record.published is None


def test_pairs_follow_chains_and_count_every_wrong_link() -> None:
    # Gold: b and c copy a (so b~c too), e copies d. Predicted: b copies a, c missed, f wrongly copies a.
    gold: dict[str, str | None] = {"a": None, "b": "a", "c": "b", "d": None, "e": "d", "f": None}
    predicted: dict[str, str | None] = {"a": None, "b": "a", "c": None, "d": None, "e": "d", "f": "a"}
    scores = score_groups(gold, predicted, always)
    # Gold pairs: ab ac bc de. Predicted: ab af bf de.
    assert (scores.true_positives, scores.false_negatives, scores.false_positives) == (2, 2, 2)
    assert scores.true_negatives == 15 - 6
    assert scores.precision == 0.5 and scores.recall == 0.5
    assert score_groups(gold, gold, always).precision == score_groups(gold, gold, always).recall == 1.0


def test_pairs_beyond_the_copy_window_are_scored_apart() -> None:
    gold: dict[str, str | None] = {"a": None, "b": "a", "c": None, "d": "c"}
    near = within_window({"a": 0.0, "b": 3600.0, "c": 0.0, "d": 30 * 86400.0}, 14 * 86400.0)
    scores = score_groups(gold, {"b": "a"}, near)
    assert scores.by_kind[WITHIN_WINDOW].recall == 1.0
    assert scores.by_kind[BEYOND_WINDOW].false_negatives == 1 and scores.recall == 0.5


def record(rid: str, original: str | None = None, kind: str = "original", cluster: str = "e1") -> CopyRecord:
    return CopyRecord(id=rid, original=original, kind=kind, outlet="o", title="", text="t",
                      published="2016-03-01T08:00:00+00:00", cluster=cluster, url=f"https://o/{rid}")


def test_synthetic_scores_by_edit_kind() -> None:
    copy_set = CopySet(
        originals=[record("a"), record("m")],
        copies=[record("copy:a:0", "a", "trimmed_repost"), record("copy:a:1", "a", "headline")],
        negatives=[("m", "copy:a:0"), ("m", "copy:a:1"), ("a", "m")],
    )
    # The trimmed re-post is found; the headline copy is missed; m is wrongly taken for a copy of a.
    predicted: dict[str, str | None] = {"copy:a:0": "a", "copy:a:1": None, "m": "a"}
    scores = score_copies(copy_set, predicted, always)
    assert scores.by_kind["trimmed_repost"].recall == 1.0
    assert scores.by_kind["trimmed_repost"].false_positives == 1  # m ~ copy:a:0 share the root a
    assert scores.by_kind["headline"].recall == 0.0
    assert scores.by_kind[OWN_WORDS].false_positives == 1
    assert (scores.true_positives, scores.false_negatives, scores.false_positives) == (1, 1, 2)
    assert scores.as_json()["by_kind"]["headline"]["recall"] == 0.0
