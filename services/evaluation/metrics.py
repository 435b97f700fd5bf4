"""Clustering scores (pure): BCubed and pairwise precision/recall/F1, and how many gold events one story holds.

The same definitions as ../shared/data/score_clusters.py (BCubed after Bagga & Baldwin;
pairwise is the "standard F1" of Miranda et al. 2018: P = same-gold pairs among
same-predicted pairs, 1.0 when no two articles share a predicted cluster). Chaining
shows in what BCubed hides: a story that swallowed many events (`max_events`,
`stories_over`), and pairwise precision, which weighs a large wrong story by its pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: A story holding more gold events than this counts as chained (the issue's target: none).
CHAINED_ABOVE = 3


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class ClusterScores:
    """Every score of one set of articles."""

    articles: int
    bcubed: tuple[float, float, float]
    pairwise: tuple[float, float, float]
    gold_clusters: int
    predicted_clusters: int
    max_events: int  # most gold events inside one predicted story
    stories_over: int  # predicted stories holding more than CHAINED_ABOVE gold events

    def as_json(self) -> dict[str, Any]:
        """Plain JSON, rounded."""
        def row(v: tuple[float, float, float]) -> dict[str, float]:
            return {"precision": round(v[0], 4), "recall": round(v[1], 4), "f1": round(v[2], 4)}
        return {"articles": self.articles, "bcubed": row(self.bcubed), "pairwise": row(self.pairwise),
                "gold_clusters": self.gold_clusters, "predicted_clusters": self.predicted_clusters,
                "max_events_per_story": self.max_events, f"stories_over_{CHAINED_ABOVE}_events": self.stories_over}


def cluster_scores(gold: Mapping[str, str], predicted: Mapping[str, str]) -> ClusterScores:
    """Scores of `predicted` against `gold` over the articles of `gold` (a missing prediction is a singleton)."""
    pred = {i: predicted.get(i, f"missing:{i}") for i in gold}
    cell = Counter((gold[i], pred[i]) for i in gold)
    gsize = Counter(gold.values())
    psize = Counter(pred.values())
    n = len(gold)
    if not n:
        return ClusterScores(0, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 0, 0, 0, 0)
    bp = sum(v * v / psize[p] for (_, p), v in cell.items()) / n
    br = sum(v * v / gsize[g] for (g, _), v in cell.items()) / n
    tp = sum(_pairs(v) for v in cell.values())
    pp = sum(_pairs(v) for v in psize.values())
    gp = sum(_pairs(v) for v in gsize.values())
    pw_p = tp / pp if pp else 1.0
    pw_r = tp / gp if gp else 1.0
    events = Counter(p for (_, p) in cell)  # distinct gold events per predicted story
    return ClusterScores(n, (bp, br, _f1(bp, br)), (pw_p, pw_r, _f1(pw_p, pw_r)), len(gsize), len(psize),
                         max(events.values()), sum(1 for v in events.values() if v > CHAINED_ABOVE))


@dataclass(frozen=True)
class PairReach:
    """Gold same-event pairs by whether the store could join them, and how many the prediction split.

    Each field is (pairs, split). `within`: both dated within the clustering window of each other, or
    both undated; `beyond_window`: both dated, further apart than the window (the store never compares
    them); `undated_vs_dated`: one article without a date (replayed at a fixed fetch time) and one with."""

    within: tuple[int, int]
    beyond_window: tuple[int, int]
    undated_vs_dated: tuple[int, int]

    @property
    def total(self) -> tuple[int, int]:
        """(pairs, split) over all three kinds."""
        kinds = (self.within, self.beyond_window, self.undated_vs_dated)
        return sum(k[0] for k in kinds), sum(k[1] for k in kinds)

    @property
    def recall_within(self) -> float:
        """Pairwise recall over the pairs within reach."""
        pairs, split = self.within
        return (pairs - split) / pairs if pairs else 1.0

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        def row(v: tuple[int, int]) -> dict[str, int]:
            return {"pairs": v[0], "split": v[1]}
        return {"within": row(self.within), "beyond_window": row(self.beyond_window),
                "undated_vs_dated": row(self.undated_vs_dated), "recall_within": round(self.recall_within, 4)}


def pair_reach(gold: Mapping[str, str], predicted: Mapping[str, str], times: Mapping[str, float | None],
               window_s: float) -> PairReach:
    """Split gold pairs by reach (see PairReach); `times`: each article's publication time (None: undated)."""
    members: dict[str, list[str]] = {}
    for item, event in gold.items():
        members.setdefault(event, []).append(item)
    counts = {kind: [0, 0] for kind in ("within", "beyond_window", "undated_vs_dated")}
    for items in members.values():
        for n, a in enumerate(items):
            for b in items[n + 1:]:
                ta, tb = times.get(a), times.get(b)
                if (ta is None) != (tb is None):
                    kind = "undated_vs_dated"
                elif ta is not None and tb is not None and abs(ta - tb) > window_s:
                    kind = "beyond_window"
                else:
                    kind = "within"
                counts[kind][0] += 1
                counts[kind][1] += predicted.get(a, f"missing:{a}") != predicted.get(b, f"missing:{b}")
    return PairReach(**{kind: (pairs, split) for kind, (pairs, split) in counts.items()})
