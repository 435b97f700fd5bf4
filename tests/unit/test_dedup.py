"""Copy detection (services.store.dedup, pure): LSH bands, the seeds are never copies, edited re-posts are."""

from __future__ import annotations

import itertools
import random
from functools import partial
from pathlib import Path

from services.common.fingerprint import sketch
from services.common.settings import Settings
from services.store import dedup
from services.store.dedup import band_hashes
from services.store.lsh import LSH_BANDS, LSH_ROWS

TEXT = " ".join(f"word{i % 97} w{i}" for i in range(400))
SETTINGS = Settings()
# The copy judge with the thresholds the store runs with.
judge_copy = partial(dedup.judge_copy, min_jaccard=SETTINGS.copy_min_jaccard,
                     min_containment=SETTINGS.copy_min_containment, min_shingles=SETTINGS.copy_min_shingles)


def seed_texts(seeds_dir: Path) -> list[str]:
    return [p.read_text() for p in sorted(seeds_dir.glob("*.txt"))]


def test_bands() -> None:
    sk = sketch(TEXT)
    bands = band_hashes(sk, LSH_BANDS, LSH_ROWS)
    assert len(bands) == LSH_BANDS and all(len(b) == 8 for b in bands)
    assert band_hashes(sketch(TEXT), LSH_BANDS, LSH_ROWS) == bands
    assert dedup.estimated_jaccard(sk, sk) == 1.0
    assert dedup.estimated_jaccard(sk, sketch("")) == 0.0


def test_seeds_are_never_copies(seeds_dir: Path) -> None:
    sketches = [sketch(t) for t in seed_texts(seeds_dir)]
    assert len(sketches) == 3
    for a, b in itertools.combinations(sketches, 2):
        assert judge_copy(a, b) is None
        assert dedup.estimated_jaccard(a, b) < 0.1


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
