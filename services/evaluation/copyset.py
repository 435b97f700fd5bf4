"""A labelled copy (syndication) set built from the story dev data, and the copy-judge measurement on it.

No corpus has gold copy labels, so we make them: a seeded sample of dev articles
(at least MIN_WORDS words, dated) is re-posted by made-up outlets with the edits
syndication really makes, each kind named:

* ``headline``     new headline, body untouched
* ``dateline``     "WASHINGTON (AP) — " put in front
* ``trim_tail``    the last 20–40 % of paragraphs dropped
* ``trimmed_repost`` only the first 40–90 % of paragraphs kept (the wire pickup that runs
  the top of the story), followed by the outlet's own furniture lines
* ``boilerplate``  copyright / follow-us / related-links lines added
* ``word_swap``    3–5 % of the words substituted
* ``update``       an update paragraph prepended or appended
* combinations of 2–3 of them (kind ``a+b[+c]``)

Hard negatives are the other articles of the same gold cluster: own-words
accounts of the same event, which must not be judged copies of each other (nor of
a copy of one of them). Pairs the dev file marks as `near_dup_auto` are natural
re-posts and count as copies; pairs only linked through a chain of such marks are
left out of both sides (ambiguous).

The data stays in ../shared/data; this module reads it and never writes it into
the repository. Measure the judge alone, without the LSH candidate step (precision/recall
over pairs, plus the seeds; --sweep tries other thresholds, a lead J of 1.01 turning the
lead rule off):

    .venv/bin/python -m services.evaluation.copyset [--n 400] [--seed 0] [--sweep]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common import fingerprint
from services.common.settings import Settings
from services.store import dedup

MIN_WORDS = 120
#: A trimmed re-post keeps at least this many words: a shorter excerpt is a quotation, not a re-post
#: (and below the copy judge's floor of shingles on the smaller side).
MIN_KEPT_WORDS = 50
SINGLE_KINDS = ("headline", "dateline", "trim_tail", "trimmed_repost", "boilerplate", "word_swap", "update")
# Combinations syndication produces together (a wire re-post typically gets a dateline and the
# site's furniture; a trimmed re-post often a new headline). Each original gets all singles and
# COMBOS_PER_ORIGINAL of these.
COMBOS = (
    ("dateline", "boilerplate"),
    ("headline", "trim_tail"),
    ("word_swap", "boilerplate"),
    ("dateline", "update"),
    ("trim_tail", "boilerplate"),
    ("headline", "word_swap", "update"),
    ("dateline", "trim_tail", "boilerplate"),
    ("headline", "dateline", "word_swap"),
    ("trim_tail", "word_swap", "boilerplate"),
    ("update", "word_swap", "headline"),
    ("headline", "trimmed_repost"),
    ("dateline", "trimmed_repost"),
    ("trimmed_repost", "word_swap"),
    ("trimmed_repost", "boilerplate"),
)
COMBOS_PER_ORIGINAL = 2

DEFAULT_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stories-dev.jsonl.gz"
DEFAULT_SEEDS = DEFAULT_DEV.parent.parent / "seeds"

_DATELINES = ("WASHINGTON (AP) — ", "NEW YORK (AP) — ", "CHICAGO (AP) — ", "LOS ANGELES (Reuters) - ",
              "LONDON (Reuters) - ", "HOUSTON (AP) — ", "ATLANTA — ", "DENVER (AP) — ")
_BOILERPLATE = (
    "Copyright 2016 The Associated Press. All rights reserved. This material may not be published, "
    "broadcast, rewritten or redistributed.",
    "Follow us on Twitter and Facebook for the latest updates.",
    "Related: More local news stories",
    "Related links: Police blotter | Weather | Traffic",
    "Click here to download our free news app.",
    "Copyright 2015 Nexstar Broadcasting, Inc. All rights reserved.",
    "Sign up for our daily newsletter.",
    "Have a news tip? Email us or call the newsroom.",
)
_HEADLINE_PREFIXES = ("UPDATE: ", "WATCH: ", "Police: ", "BREAKING: ", "Report: ")
_UPDATES = (
    "UPDATE: Authorities said later in the day that the investigation is continuing and that more "
    "information would be released as it becomes available.",
    "This story has been updated to include comments from officials and new details released on the day.",
    "Check back for updates on this developing story. Officials were expected to hold a news conference "
    "later in the afternoon.",
    "Editor's note: An earlier version of this story misstated a detail. It has been corrected.",
)
# Substitutes for word_swap: plausible copy-desk changes (synonyms, style), then a neutral filler.
_SWAPS = {
    "said": "stated", "says": "states", "told": "informed", "police": "officers", "man": "male",
    "woman": "female", "killed": "slain", "shot": "wounded", "home": "house", "car": "vehicle",
    "children": "kids", "people": "residents", "about": "around", "after": "following", "before": "prior to",
    "later": "afterwards", "officials": "authorities", "and": "as well as", "but": "yet", "very": "really",
}
_FILLERS = ("reportedly", "local", "nearby", "also", "early", "late", "several", "another")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class CopyRecord:
    """One article of the copy set. `original` is the gold `copy_of` (None for an original)."""

    id: str
    original: str | None
    kind: str
    outlet: str
    title: str
    text: str
    published: str | None
    cluster: str
    url: str


@dataclass
class CopySet:
    """Originals (sampled articles and their gold-cluster mates), generated copies, and labelled pairs."""

    originals: list[CopyRecord]
    copies: list[CopyRecord]
    #: (earlier, later) pairs that are copies in the dev data (`near_dup_auto`).
    natural_copies: list[tuple[str, str]] = field(default_factory=list)
    #: Same-event pairs that must not be judged copies (own words), including copy-vs-mate pairs.
    negatives: list[tuple[str, str]] = field(default_factory=list)
    #: Same-cluster pairs linked only through a chain of near duplicates: in neither set.
    ambiguous: list[tuple[str, str]] = field(default_factory=list)

    def records(self) -> list[CopyRecord]:
        """Every article, originals first (in dev stream order), then copies."""
        return [*self.originals, *self.copies]

    def positives(self) -> list[tuple[str, str]]:
        """Every (original, copy) pair: generated and natural."""
        return [(c.original, c.id) for c in self.copies if c.original] + self.natural_copies


# --- text edits (pure; each takes the rng so the whole set is reproducible) ---------------------
def paragraphs(text: str) -> tuple[list[str], str]:
    """The text's paragraphs and the separator to join them with (blank lines, lines, or sentences)."""
    for sep in ("\n\n", "\n"):
        parts = [p for p in text.split(sep) if p.strip()]
        if len(parts) >= 3:
            return parts, sep
    return [p for p in _SENTENCE_END.split(text.strip()) if p], " "


def edit_headline(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """A new headline (prefix, or the lead's first words when the original has none); body untouched."""
    base = title or " ".join(_WORD.findall(text)[:10])
    words = base.split()
    if len(words) > 6 and rng.random() < 0.5:
        words = words[: max(5, len(words) - rng.randint(2, 4))]
    return rng.choice(_HEADLINE_PREFIXES) + " ".join(words), text


def edit_dateline(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """A wire dateline in front of the body."""
    return title, rng.choice(_DATELINES) + text.lstrip()


def edit_trim_tail(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """Drop the last 20–40 % of paragraphs (at least one, never all)."""
    parts, sep = paragraphs(text)
    drop = min(len(parts) - 1, max(1, round(len(parts) * rng.uniform(0.2, 0.4))))
    return title, sep.join(parts[: len(parts) - drop])


def edit_trimmed_repost(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """Keep only the first 40–90 % of paragraphs (at least MIN_KEPT_WORDS words, never all), then one or
    two of the re-posting outlet's furniture lines after them."""
    parts, sep = paragraphs(text)
    keep = min(len(parts) - 1, max(1, round(len(parts) * rng.uniform(0.4, 0.9))))
    while keep < len(parts) - 1 and len(_WORD.findall(sep.join(parts[:keep]))) < MIN_KEPT_WORDS:
        keep += 1
    furniture = rng.sample(_BOILERPLATE, rng.randint(1, 2))
    return title, sep.join(parts[:keep]) + "\n\n" + "\n\n".join(furniture)


def edit_boilerplate(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """One to three furniture lines (copyright, follow us, related links) after the body, sometimes one before."""
    lines = rng.sample(_BOILERPLATE, rng.randint(1, 3))
    if rng.random() < 0.3:
        return title, lines[0] + "\n\n" + text + "\n\n" + "\n\n".join(lines[1:])
    return title, text + "\n\n" + "\n\n".join(lines)


def edit_word_swap(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """Substitute 3–5 % of the words (a synonym when we know one, else a filler word)."""
    spans = [m.span() for m in _WORD.finditer(text)]
    n = max(1, round(len(spans) * rng.uniform(0.03, 0.05)))
    chosen = sorted(rng.sample(range(len(spans)), min(n, len(spans))))
    out, last = [], 0
    for i in chosen:
        start, end = spans[i]
        word = text[start:end]
        swap = _SWAPS.get(word.lower()) or rng.choice([f for f in _FILLERS if f != word.lower()])
        out += [text[last:start], swap]
        last = end
    out.append(text[last:])
    return title, "".join(out)


def edit_update(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """An update paragraph before or after the body."""
    para = rng.choice(_UPDATES)
    return (title, para + "\n\n" + text) if rng.random() < 0.5 else (title, text + "\n\n" + para)


EDITS = {
    "headline": edit_headline,
    "dateline": edit_dateline,
    "trim_tail": edit_trim_tail,
    "trimmed_repost": edit_trimmed_repost,
    "boilerplate": edit_boilerplate,
    "word_swap": edit_word_swap,
    "update": edit_update,
}


def apply_edits(kinds: Iterable[str], title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """Apply the named edits in order (trim before furniture is added, as a copy desk would)."""
    order = {k: i for i, k in enumerate(("trim_tail", "trimmed_repost", "word_swap", "headline", "update", "dateline",
                                         "boilerplate"))}
    for kind in sorted(kinds, key=order.__getitem__):
        title, text = EDITS[kind](title, text, rng)
    return title, text


# --- building the set ----------------------------------------------------------------------------
def read_dev(dev_path: Path | str) -> list[dict[str, Any]]:
    """The dev articles in stream order."""
    with gzip.open(dev_path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return sorted(rows, key=lambda r: r["order"])


def _published(date: str | None, rng: random.Random) -> datetime | None:
    if not date:
        return None
    # Dev dates are days; give the original a time of day so copies can come minutes later.
    day = datetime.fromisoformat(date).replace(tzinfo=UTC)
    return day + timedelta(hours=rng.randint(6, 11), minutes=rng.randint(0, 59))


def _as_record(row: dict[str, Any], original: str | None, published: datetime | None) -> CopyRecord:
    return CopyRecord(id=row["id"], original=original, kind="original" if original is None else "near_dup_auto",
                      outlet=row["outlet"] or "unknown", title=row["title"] or "", text=row["text"],
                      published=published.isoformat() if published else row["published"],
                      cluster=row["cluster"], url=row["url"] or f"https://unknown/{row['id']}")


def build_copy_set(dev_path: Path | str = DEFAULT_DEV, *, seed: int = 0, n: int = 400) -> CopySet:
    """A labelled copy set from the dev file: `n` sampled originals re-posted with every edit kind.

    Deterministic for a given (dev file, seed, n). Includes every article of the
    sampled originals' gold clusters, so hard negatives and natural copies come along.
    """
    rows = read_dev(dev_path)
    by_id = {r["id"]: r for r in rows}
    eligible = sorted(r["id"] for r in rows if r["published"] and len(_WORD.findall(r["text"])) >= MIN_WORDS)
    rng = random.Random(seed)
    sampled = set(rng.sample(eligible, min(n, len(eligible))))
    clusters = {by_id[i]["cluster"] for i in sampled}
    members = [r for r in rows if r["cluster"] in clusters]
    outlets = sorted({r["outlet"] for r in rows if r["outlet"]})

    originals: list[CopyRecord] = []
    copies: list[CopyRecord] = []
    for row in members:
        rrng = random.Random(f"{seed}:{row['id']}")  # per article: adding articles does not reshuffle others
        nda = row.get("near_dup_auto")
        gold = nda["of"] if nda and nda["of"] in by_id and by_id[nda["of"]]["cluster"] in clusters else None
        published = _published(row["published"], rrng) if row["id"] in sampled else None
        record = _as_record(row, gold, published)
        originals.append(record)
        if row["id"] not in sampled:
            continue
        assert published is not None
        combos = rrng.sample(COMBOS, COMBOS_PER_ORIGINAL)
        for number, kinds in enumerate([(k,) for k in SINGLE_KINDS] + [tuple(c) for c in combos]):
            title, text = apply_edits(kinds, record.title, record.text, rrng)
            outlet = rrng.choice([o for o in outlets if o != record.outlet] or ["copy.example"])
            cid = f"copy:{row['id']}:{number}"
            when = published + timedelta(minutes=rrng.randint(3, 12 * 60))
            copies.append(CopyRecord(id=cid, original=row["id"], kind="+".join(kinds), outlet=outlet, title=title,
                                     text=text, published=when.isoformat(), cluster=row["cluster"],
                                     url=f"https://{outlet}/syndicated/{cid.replace(':', '-')}"))
    return CopySet(originals, copies, *_label_pairs(originals, copies))


def meets_near_dup_definition(a: str, b: str) -> bool:
    """The dev file's `near_dup_auto` rule on exact 5-shingles: J ≥ 0.5, or C ≥ 0.8 with ≥ 30 on the smaller side."""
    sa, sb = fingerprint.shingles(a), fingerprint.shingles(b)
    if not sa or not sb:
        return False
    inter = len(sa & sb)
    small = min(len(sa), len(sb))
    return inter / len(sa | sb) >= 0.5 or (small >= 30 and inter / small >= 0.8)


def _label_pairs(originals: list[CopyRecord], copies: list[CopyRecord]
                 ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Natural copies, negatives and ambiguous pairs among same-cluster articles."""
    natural = [(r.original, r.id) for r in originals if r.original]
    # Components of the near-duplicate graph: pairs inside one are copies or ambiguous, never negatives.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in natural:
        parent[find(a)] = find(b)
    direct = {frozenset(p) for p in natural}
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for r in originals:
        by_cluster[r.cluster].append(r.id)
    negatives: list[tuple[str, str]] = []
    ambiguous: list[tuple[str, str]] = []
    texts = {r.id: r.text for r in originals}
    unclear: set[frozenset[str]] = set()
    for ids in by_cluster.values():
        for a, b in itertools.combinations(ids, 2):
            if frozenset((a, b)) in direct:
                continue
            # near_dup_auto keeps one `of` per article, so a pair inside one near-duplicate
            # component, or one that meets the file's own near-duplicate definition exactly,
            # is not an own-words account: neither a copy label we can trust nor a negative.
            linked = find(a) == find(b) or meets_near_dup_definition(texts[a], texts[b])
            (ambiguous if linked else negatives).append((a, b))
            if linked:
                unclear.add(frozenset((a, b)))
    # A copy of A against A's own-words cluster mates; against a mate A copies (or is a copy of), unclear.
    for c in copies:
        assert c.original is not None
        for other in by_cluster[c.cluster]:
            if other == c.original:
                continue
            linked = frozenset((other, c.original)) in unclear or frozenset((other, c.original)) in direct
            (ambiguous if linked else negatives).append((other, c.id))
    return natural, negatives, ambiguous


# --- JSON Lines -----------------------------------------------------------------------------------
def write_copy_set(copy_set: CopySet, path: Path | str) -> None:
    """Write the articles as JSON Lines (fields of CopyRecord; `original` is the gold copy_of)."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in copy_set.records():
            fh.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")


def iter_records(path: Path | str) -> Iterator[CopyRecord]:
    """Read CopyRecords back from a JSON Lines file (gzip if it ends with .gz)."""
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield CopyRecord(**json.loads(line))


def read_copy_set(path: Path | str) -> CopySet:
    """Read a written copy set; the pairs are derived again from the records' clusters and originals."""
    records = list(iter_records(path))
    originals = [r for r in records if not r.id.startswith("copy:")]
    copies = [r for r in records if r.id.startswith("copy:")]
    return CopySet(originals, copies, *_label_pairs(originals, copies))


# --- measurement ----------------------------------------------------------------------------------
@dataclass
class Measurement:
    """Pairwise copy-judge quality on a copy set, plus the seed check."""

    tp: int
    fn: int
    fp: int
    tn: int
    seed_copies: int
    recall_by_kind: dict[str, float]
    missed: list[tuple[str, str, float, float]]
    false_positives: list[tuple[str, str, float, float]]

    @property
    def precision(self) -> float:
        """TP / (TP + FP)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def measure(copy_set: CopySet, rules: dedup.CopyRules, *, seeds_dir: Path | None = DEFAULT_SEEDS,
            sketches: dict[str, fingerprint.Sketch] | None = None) -> Measurement:
    """Judge every labelled pair with dedup.judge_copy under `rules` (`sketches` by id, computed when not given)."""
    if sketches is None:
        sketches = {r.id: fingerprint.sketch(r.text) for r in copy_set.records()}
    kinds = {c.id: c.kind for c in copy_set.copies}
    hits: dict[str, list[bool]] = defaultdict(list)
    tp = fn = fp = tn = 0
    missed, false_pos = [], []
    for a, b in copy_set.positives():
        verdict = dedup.judge_copy(sketches[a], sketches[b], rules)
        hits[kinds.get(b, "near_dup_auto")].append(verdict is not None)
        if verdict is not None:
            tp += 1
        else:
            fn += 1
            j = dedup.estimated_jaccard(sketches[a], sketches[b])
            missed.append((a, b, j, dedup.estimated_containment(sketches[a], sketches[b])))
    for a, b in copy_set.negatives:
        verdict = dedup.judge_copy(sketches[a], sketches[b], rules)
        if verdict is None:
            tn += 1
        else:
            fp += 1
            false_pos.append((a, b, verdict.jaccard, verdict.containment))
    seed_copies = 0
    if seeds_dir is not None and seeds_dir.is_dir():
        seed_sketches = [fingerprint.sketch(p.read_text()) for p in sorted(seeds_dir.glob("*.txt"))]
        seed_copies = sum(dedup.judge_copy(x, y, rules) is not None
                          for x, y in itertools.combinations(seed_sketches, 2))
    by_kind = {k: sum(v) / len(v) for k, v in sorted(hits.items())}
    return Measurement(tp, fn, fp, tn, seed_copies, by_kind, missed, false_pos)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    """Print the copy judge's precision/recall on a generated copy set (and optionally a threshold sweep)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--write", type=Path, help="also write the copy set as JSON Lines here (outside the repo)")
    parser.add_argument("--sweep", action="store_true", help="try a grid of thresholds")
    args = parser.parse_args(argv)
    copy_set = build_copy_set(args.dev, seed=args.seed, n=args.n)
    if args.write:
        write_copy_set(copy_set, args.write)
    _say(f"copy set: {len(copy_set.originals)} originals, {len(copy_set.copies)} generated copies, "
          f"{len(copy_set.natural_copies)} natural copies, {len(copy_set.negatives)} hard negatives, "
          f"{len(copy_set.ambiguous)} ambiguous pairs left out")
    current = dedup.CopyRules.of(Settings())  # the thresholds the store runs with
    grid = [current]
    if args.sweep:
        grid += [dedup.CopyRules(j, c, s, lj, lc) for j in (0.4, 0.45, 0.5) for c in (0.8, 0.85) for s in (30, 50)
                 for lj in (0.5, 0.6, 0.7, 1.01) for lc in (0.5, 0.6, 0.7)]
    sketches = {r.id: fingerprint.sketch(r.text) for r in copy_set.records()}
    for rules in grid:
        m = measure(copy_set, rules, sketches=sketches)
        _say(f"J>={rules.min_jaccard:.2f} C>={rules.min_containment:.2f} min_shingles={rules.min_shingles} "
             f"lead J>={rules.min_lead_jaccard:.2f} C>={rules.min_lead_containment:.2f}: "
             f"precision {m.precision:.4f} recall {m.recall:.4f} (tp {m.tp} fn {m.fn} fp {m.fp} tn {m.tn}) "
             f"seed copies {m.seed_copies}")
        if rules == grid[0]:
            _say("  recall by kind: " + ", ".join(f"{k} {v:.3f}" for k, v in m.recall_by_kind.items()))
            for a, b, ej, ec in m.missed[:10]:
                _say(f"  missed {b} of {a}: J {ej:.3f} C {ec:.3f}")
            for a, b, ej, ec in m.false_positives[:10]:
                _say(f"  false copy {a} ~ {b}: J {ej:.3f} C {ec:.3f}")


if __name__ == "__main__":
    main()
