"""`wirewatch eval stories` end to end on a small labelled file, and the BCubed arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.evaluation.stories import bcubed, evaluate_stories

pytestmark = pytest.mark.integration

STORIES = {
    "quake": ("Strong earthquake shakes {town}", "A magnitude 6.1 earthquake struck near {town} on Tuesday, "
              "collapsing houses and cutting power. Rescue teams searched the rubble for survivors while "
              "aftershocks rattled the region. Governor Elena Marsh said the quake was the strongest in decades."),
    "strike": ("Dock workers strike at {town} port", "Thousands of dock workers walked off the job at the port "
               "of {town} demanding higher wages. Cargo ships queued offshore as the union leader, Victor "
               "Hale, vowed the strike would continue until the port authority made a better offer."),
}


def test_bcubed_of_known_clusterings() -> None:
    gold = {"a": "1", "b": "1", "c": "2"}
    assert bcubed(gold, gold) == (1.0, 1.0, 1.0)
    p, r, f = bcubed(gold, {"a": "x", "b": "y", "c": "z"})
    assert p == 1.0 and abs(r - (0.5 + 0.5 + 1) / 3) < 1e-9 and 0 < f < 1
    p, r, _ = bcubed(gold, {"a": "x", "b": "x", "c": "x"})
    assert r == 1.0 and abs(p - (2 / 3 + 2 / 3 + 1 / 3) / 3) < 1e-9


def test_eval_stories_replays_tags_clusters_and_scores(settings: Settings, tmp_path: Path) -> None:
    lines: list[dict[str, str | int]] = []
    for n in range(3):
        for story, (title, text) in STORIES.items():
            town = "Port Alba"
            lines.append({"id": f"{story}{n}", "corpus": "toy", "outlet": f"outlet{n}.example",
                          "url": f"https://outlet{n}.example/{story}", "title": title.format(town=town),
                          "text": text.format(town=town) + f" Report number {n}.", "published": f"2016-03-0{n + 1}",
                          "cluster": story, "order": len(lines)})
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(line) for line in lines))
    predictions = tmp_path / "pred.jsonl"
    scores = evaluate_stories(data, settings, predictions_path=predictions, workers=1)
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert {r["id"] for r in rows} == {line["id"] for line in lines}
    assert scores.overall == (1.0, 1.0, 1.0), scores
    assert scores.predicted_clusters == 2 and set(scores.per_corpus) == {"toy"}


# Each outlet opens with its own paragraph, so its reports are accounts of the event, not re-posts (copies).
OWN_WORDS = (
    "Our correspondent spoke with neighbours, shopkeepers and a retired teacher who described the morning "
    "in detail, and local radio carried live updates for hours as officials gathered at the town hall.",
    "Residents interviewed by this newspaper said they had feared something like this for years; several "
    "families stayed with relatives overnight and schools announced they would remain closed until Friday.",
    "Video shared widely online showed crowds in the main square; the mayor's office asked people to avoid "
    "travel, and volunteers handed out water and blankets outside the library late into the evening.",
)


def test_cross_validation_scores_test_folds_and_each_fold_model_on_the_whole_stream(settings: Settings,
                                                                                   tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="cross-validation trains the join model: scikit-learn is a dev extra")
    from services.evaluation.train_stories import cross_validate

    lines: list[dict[str, str | int]] = []
    for n in range(3):
        for town in ("Port Alba", "Merrow", "Linden Vale"):
            for story, (title, text) in STORIES.items():
                lines.append({"id": f"{story}-{town}-{n}", "corpus": "toy", "outlet": f"outlet{n}.example",
                              "url": f"https://outlet{n}.example/{story}/{town}", "title": title.format(town=town),
                              "text": OWN_WORDS[n] + " " + text.format(town=town),
                              "published": f"2016-03-0{n + 1}", "cluster": f"{story}-{town}", "order": len(lines)})
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(line) for line in lines))
    found = cross_validate(data, settings, k=2, workers=1)
    assert set(found) == {"normal", "dense", "shared actors"}
    for by in found.values():
        # Pooled test folds, the corpus, then each fold's model scored on the whole stream.
        assert list(by) == ["all", "toy", "stream 1", "stream 2"]
        assert {by[name].articles for name in by} == {len(lines)}
        assert {by[name].gold_clusters for name in by} == {6}
