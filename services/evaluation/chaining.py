"""Why stories chain: a replay's wrong joins and merges, attributed to the suspected causes.

    .venv/bin/python -m services.evaluation.chaining ../shared/data/stories-dev.jsonl.gz \
        --entities-cache /tmp/ents.jsonl [--dense] [--ablations]

From the trace of a replay (services.evaluation.stories.replay) it counts, against
the gold labels:

* wrong joins: an article placed by similarity in a story none of whose members is
  about its event, and the different-event pairs they create;
* merges: an article scoring at or above the merge threshold with two stories joins
  them; wrong when the stories share no gold event (pairs created across them);
* per wrong join, what carried it: the entity part alone (the text part, faded by the
  time gap, is below the threshold), with a time gap (entities that would have faded
  as wording does), and with only frequent entities shared (named in more than
  FREQUENT_SHARE of the file's articles: a head of state, a country).

`--ablations` replays again with one cause switched off at a time (merges off;
every entity fading with time; a story's centroid frozen at its first article, so it
cannot widen; frequent entities dropped from the entity vectors) and prints the
scores of each, so each cause's share is measured rather than guessed. The
attribution and the entity-fading ablation read the weighted legacy score: run it
with WIREWATCH_CLUSTER_JOIN_MODEL=none to diagnose that rule.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.logging import configure_logging
from services.common.settings import Settings
from services.evaluation.dense import compress_dates
from services.evaluation.metrics import cluster_scores
from services.evaluation.stories import REPLAY_FETCH_TIME, Labelled, Step, read_labelled, redis_for, replay, tag_all
from services.store import cluster as clustering
from services.store import placement
from services.store.cluster import ENTITY_PREFIX, Candidate, Features
from services.store.text import l2_normalise

#: An entity named in more than this share of the articles counts as frequent.
FREQUENT_SHARE = 0.01


@dataclass
class Diagnosis:
    """Counts of one replay's wrong decisions."""

    joins: int = 0
    join_wrong_pairs: int = 0  # different-event pairs created by every join (also into partly right stories)
    wrong_joins: int = 0
    wrong_join_pairs: int = 0
    merges: int = 0
    wrong_merges: int = 0
    wrong_merge_pairs: int = 0
    merge_steps_wrong_pairs: int = 0  # the merging article's own wrong pairs
    entity_carried: int = 0
    entity_carried_with_gap: int = 0
    entity_carried_frequent_only: int = 0
    by_story_size: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        return [
            f"similar joins {self.joins}, creating {self.join_wrong_pairs} different-event pairs; wrong (no member "
            f"of the article's event) {self.wrong_joins}, creating {self.wrong_join_pairs} of them",
            f"merges {self.merges}: wrong (stories share no event) {self.wrong_merges}, creating "
            f"{self.wrong_merge_pairs} different-event pairs across the stories (+{self.merge_steps_wrong_pairs} "
            f"of the merging article)",
            f"wrong joins carried by entities alone (text part below the threshold): {self.entity_carried}; "
            f"of which with a time gap (would fail if entities faded like wording): {self.entity_carried_with_gap}; "
            f"sharing only frequent entities (> {FREQUENT_SHARE:.0%} of articles): {self.entity_carried_frequent_only}",
            "wrong joins by the story's size before the join: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(self.by_story_size.items())),
        ]


def _size_bucket(n: int) -> str:
    return "1" if n == 1 else "2-3" if n <= 3 else "4-9" if n <= 9 else "10+"


def diagnose(records: list[Labelled], trace: list[Step], entity_share: dict[str, float],
             settings: Settings) -> Diagnosis:
    """Attribute the wrong joins and merges of a replay's trace (see the module docstring)."""
    gold = {r.id: r.cluster for r in records}
    members: dict[str, list[str]] = defaultdict(list)
    alias: dict[str, str] = {}

    def resolve(cid: str) -> str:
        while cid in alias:
            cid = alias[cid]
        return cid

    def wrong_pairs(xs: list[str], ys: list[str]) -> int:
        gx, gy = Counter(gold[x] for x in xs), Counter(gold[y] for y in ys)
        return len(xs) * len(ys) - sum(n * gy[g] for g, n in gx.items())

    d = Diagnosis()
    thr, scale_h = settings.cluster_threshold, settings.cluster_time_scale_days * 24
    wb, wt = settings.cluster_weight_body, settings.cluster_weight_title
    for step in trace:
        a, j = step.article_id, step.joined
        target = resolve(step.story_id)
        if j.merged_clusters:
            stories = list(dict.fromkeys([target, *(resolve(m) for m in j.merged_clusters)]))
            d.merges += 1
            groups = [members[s] for s in stories]
            cross = 0
            for i in range(len(groups)):
                for k in range(i + 1, len(groups)):
                    cross += wrong_pairs(groups[i], groups[k])
            events = [{gold[m] for m in g} for g in groups]
            if any(not (events[i] & events[k]) for i in range(len(events)) for k in range(i + 1, len(events))):
                d.wrong_merges += 1
            d.wrong_merge_pairs += cross
            d.merge_steps_wrong_pairs += wrong_pairs([a], [m for g in groups for m in g])
            for s in stories[1:]:
                members[target] += members.pop(s)
                alias[s] = target
        elif j.rule == "similar":
            before = members[target]
            d.joins += 1
            d.join_wrong_pairs += wrong_pairs([a], before)
            if all(gold[m] != gold[a] for m in before):
                d.wrong_joins += 1
                d.wrong_join_pairs += len(before)
                d.by_story_size[_size_bucket(len(before))] += 1
                fade = 1.0 / (1.0 + (j.time_gap_hours or 0.0) / scale_h)
                text = (wb * (j.text_similarity or 0.0) + wt * (j.title_similarity or 0.0)) * fade
                if text < thr:
                    d.entity_carried += 1
                    ents = (j.score or 0.0) - text
                    if (j.time_gap_hours or 0.0) > 0 and text + ents * fade < thr:
                        d.entity_carried_with_gap += 1
                    if j.shared_entities and all(entity_share.get(e, 0.0) > FREQUENT_SHARE
                                                 for e in j.shared_entities):
                        d.entity_carried_frequent_only += 1
        members[target].append(a)
    return d


# --- ablations: one suspected cause switched off at a time (experiments only; monkeypatches restored) ------
@contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _frozen_grow(candidate: Candidate, article: Features) -> Candidate:
    # The story keeps its first article's vectors: its centroid cannot widen; the time span still grows.
    return Candidate(candidate.cluster_id, candidate.body, candidate.title, candidate.entities,
                     min(candidate.first_time, article.time), max(candidate.last_time, article.time))


def _without_frequent_entities(share: float) -> Callable[..., Features]:
    original = clustering.features_of

    def features_of(terms: clustering.ArticleTerms, time: float, df: Any, n_docs: int) -> Features:
        feats = original(terms, time, df, n_docs)
        if n_docs < 200:
            return feats
        n_body = len(terms.body)
        frequent = {k for k, f in zip(terms.entities, df[n_body:n_body + len(terms.entities)].tolist(), strict=True)
                    if f > share * n_docs}
        if not frequent:
            return feats
        kept = {k: v for k, v in feats.entities.items() if k not in frequent}
        return Features(feats.body, feats.title, l2_normalise(kept), feats.time, feats.entity_keys)
    return features_of


ABLATIONS: dict[str, Callable[[], Any]] = {
    "all entities fade with the gap": lambda: _patched(clustering, "PLACE_PREFIXES", (ENTITY_PREFIX,)),
    "centroid frozen at the first article": lambda: _patched(placement, "grow", _frozen_grow),
    "frequent entities dropped": lambda: _patched(placement, "features_of",
                                                  _without_frequent_entities(FREQUENT_SHARE)),
}


def run(path: Path, settings: Settings, *, cache: Path | None, dense: bool, ablations: bool) -> None:
    """Print the diagnosis of one replay, then (optionally) the scores of each ablation."""
    records = read_labelled(path)
    if dense:
        records = compress_dates(records, undated=REPLAY_FETCH_TIME)
    entities = tag_all(records, settings, workers=2, cache=cache, progress=None)
    counts: Counter[str] = Counter()
    for r in records:
        counts.update({e.key for e in entities.get(r.id, [])})
    share = {k: v / len(records) for k, v in counts.items()}
    gold = {r.id: r.cluster for r in records}

    def once(label: str, extra: dict[str, Any] | None = None) -> None:
        run_settings = settings.model_copy(update={"key_prefix": f"chain{uuid.uuid4().hex[:8]}:", **(extra or {})})
        trace: list[Step] = []
        with redis_for(run_settings) as with_redis:
            predictions = asyncio.run(replay(records, entities, with_redis, None, trace=trace))
        predicted = {i: str(p["cluster"]) for i, p in predictions.items()}
        _say(f"== {label}{' (dense)' if dense else ''}")
        for corpus in ["all", *sorted({r.corpus for r in records})]:
            ids = [r.id for r in records if corpus in ("all", r.corpus)]
            s = cluster_scores({i: gold[i] for i in ids}, predicted)
            _say(f"  {corpus:<8} B3 {s.bcubed[0]:.4f}/{s.bcubed[1]:.4f}/{s.bcubed[2]:.4f}  pairwise "
                 f"{s.pairwise[0]:.4f}/{s.pairwise[1]:.4f}/{s.pairwise[2]:.4f}  max events {s.max_events}  "
                 f">3: {s.stories_over}")
        for line in diagnose(records, trace, share, run_settings).lines():
            _say("  " + line)

    once("as configured")
    if not ablations:
        return
    once("merges off", {"cluster_merge_threshold": 1.0, "cluster_merge_probability": 1.0})
    for name, patch in ABLATIONS.items():
        with patch():
            once(name)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--entities-cache", type=Path)
    parser.add_argument("--dense", action="store_true")
    parser.add_argument("--ablations", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(json=False, level="WARNING")
    run(args.file, Settings(), cache=args.entities_cache, dense=args.dense, ablations=args.ablations)


if __name__ == "__main__":
    main()
