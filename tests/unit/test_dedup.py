"""Copy detection (services.store.dedup, pure): LSH bands, the seeds are never copies, edited and trimmed re-posts
are."""

from __future__ import annotations

import itertools
import random
from functools import partial
from pathlib import Path

from services.common.fingerprint import Sketch, sketch
from services.common.settings import Settings
from services.store import dedup
from services.store.dedup import CopyRules, band_hashes, lead_band_hashes
from services.store.lsh import LEAD_BANDS, LEAD_ROWS, LSH_BANDS, LSH_ROWS

TEXT = " ".join(f"word{i % 97} w{i}" for i in range(400))
SETTINGS = Settings()
RULES = CopyRules.of(SETTINGS)
# The copy judge with the thresholds the store runs with.
judge_copy = partial(dedup.judge_copy, rules=RULES)
FURNITURE = ("Copyright 2015 The Associated Press. All rights reserved. This material may not be published, "
             "broadcast, rewritten or redistributed.\n\nFollow us on Twitter and Facebook for the latest updates."
             "\n\nSign up for our daily newsletter.\n\nHave a news tip? Email us or call the newsroom.\n\n"
             "Related links: Police blotter | Weather | Traffic\n\nClick here to download our free news app.")


def seed_texts(seeds_dir: Path) -> list[str]:
    return [p.read_text() for p in sorted(seeds_dir.glob("*.txt"))]


def test_bands() -> None:
    sk = sketch(TEXT)
    bands = band_hashes(sk, LSH_BANDS, LSH_ROWS)
    assert len(bands) == LSH_BANDS and all(len(b) == 8 for b in bands)
    assert band_hashes(sketch(TEXT), LSH_BANDS, LSH_ROWS) == bands
    assert dedup.estimated_jaccard(sk, sk) == 1.0
    assert dedup.estimated_jaccard(sk, sketch("")) == 0.0


def random_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(100_000)}" for _ in range(words))


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def test_lead_bands_are_apart_from_the_body_bands() -> None:
    sk = sketch(TEXT)
    lead = lead_band_hashes(sk, LEAD_BANDS, LEAD_ROWS, first_band=LSH_BANDS)
    assert len(lead) == LEAD_BANDS and not set(lead) & set(band_hashes(sk, LSH_BANDS, LSH_ROWS))
    # The same opening gives the same lead bands, whatever follows it.
    opening = " ".join(TEXT.split()[:100])
    other = sketch(opening + " " + random_text(9, 300))
    assert lead_band_hashes(other, LEAD_BANDS, LEAD_ROWS, first_band=LSH_BANDS) == lead
    assert lead_band_hashes(sketch(""), LEAD_BANDS, LEAD_ROWS, first_band=LSH_BANDS) == []


def test_seeds_are_never_copies(seeds_dir: Path) -> None:
    sketches = [sketch(t) for t in seed_texts(seeds_dir)]
    assert len(sketches) == 3
    for a, b in itertools.combinations(sketches, 2):
        assert judge_copy(a, b) is None
        assert dedup.estimated_jaccard(a, b) < 0.1
        assert dedup.estimated_lead_jaccard(a, b) < 0.2


def test_edited_repost_of_a_seed_is_a_copy(seeds_dir: Path) -> None:
    original = seed_texts(seeds_dir)[0]
    rng = random.Random(1)
    words = original.split()
    for i in rng.sample(range(len(words)), len(words) // 30):  # ~3 % of the words changed
        words[i] = "changed"
    repost = ("MOSCOW (AP) — " + " ".join(words)
              + "\n\nCopyright 2015 The Associated Press. All rights reserved.\n\nFollow us on Twitter.")
    verdict = judge_copy(sketch(repost), sketch(original))
    assert verdict is not None and verdict.rule == "jaccard"
    others = [sketch(t) for t in seed_texts(seeds_dir)[1:]]
    assert all(judge_copy(sketch(repost), o) is None for o in others)


def test_containment_catches_a_trimmed_copy() -> None:
    rng = random.Random(2)
    long_text = " ".join(f"w{rng.randrange(100_000)}" for _ in range(1000))
    trimmed = " ".join(long_text.split()[:400])  # the first 40 %: Jaccard ~0.4
    a, b = sketch(long_text), sketch(trimmed)
    assert dedup.estimated_jaccard(a, b) < SETTINGS.copy_min_jaccard
    verdict = judge_copy(b, a)
    assert verdict is not None and verdict.rule == "containment" and verdict.containment > 0.9
    # ...but a short snippet needs the min_shingles floor on the smaller side.
    snippet = sketch(" ".join(long_text.split()[:20]))
    assert judge_copy(snippet, a) is None


def test_unrelated_texts_are_not_copies() -> None:
    rng = random.Random(3)
    a = sketch(" ".join(f"w{rng.randrange(100_000)}" for _ in range(500)))
    b = sketch(" ".join(f"w{rng.randrange(100_000)}" for _ in range(500)))
    assert judge_copy(a, b) is None


def test_trimmed_repost_of_a_seed_is_a_copy_of_it_alone(seeds_dir: Path) -> None:
    """The top 40 % of a seed's paragraphs and a wire agency's furniture: too little of the seed for the Jaccard or
    containment rule, the same lead."""
    seeds = seed_texts(seeds_dir)
    for i, original in enumerate(seeds):
        parts = paragraphs(original)
        trimmed = "\n".join(parts[:max(1, round(0.4 * len(parts)))]) + "\n\n" + FURNITURE
        repost, whole = sketch(trimmed), sketch(original)
        assert dedup.estimated_jaccard(repost, whole) < RULES.min_jaccard
        verdict = judge_copy(repost, whole)
        assert verdict is not None and verdict.rule == "lead", (i, verdict)
        assert all(judge_copy(repost, sketch(other)) is None for j, other in enumerate(seeds) if j != i)


def test_lead_rule_catches_a_deep_trim_and_needs_both_lead_and_containment() -> None:
    long_text = random_text(5, 1000)
    words = long_text.split()
    furniture = random_text(6, 150)
    trimmed = sketch(" ".join(words[:400]) + " " + furniture)  # 40 % and the outlet's own lines
    whole = sketch(long_text)
    assert dedup.estimated_jaccard(trimmed, whole) < RULES.min_jaccard
    assert dedup.estimated_containment(trimmed, whole) < RULES.min_containment
    verdict = judge_copy(trimmed, whole)
    assert verdict is not None and verdict.rule == "lead"
    assert dedup.estimated_lead_jaccard(trimmed, whole) >= RULES.min_lead_jaccard
    # The same opening followed by other text (a press release's first paragraph, then own words): no copy.
    same_opening = sketch(" ".join(words[:80]) + " " + random_text(7, 400))
    assert dedup.estimated_lead_jaccard(same_opening, whole) >= RULES.min_lead_jaccard
    assert judge_copy(same_opening, whole) is None
    # Much of the text but another opening: the lead rule does not apply.
    other_opening = sketch(random_text(8, 200) + " " + " ".join(words[200:500]))
    assert dedup.estimated_lead_jaccard(other_opening, whole) < RULES.min_lead_jaccard
    assert judge_copy(other_opening, whole) is None
    # Without a lead (a sketch stored by fingerprint version 2), the rule cannot fire.
    leadless = Sketch(whole.signature, whole.size)
    assert dedup.estimated_lead_jaccard(trimmed, leadless) == 0.0
    assert judge_copy(trimmed, leadless) is None
