"""Copy detection, pure: deterministic sketches, the seeds are never copies, edited re-posts are."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from pathlib import Path

import rensa

from services.common import fingerprint
from services.common.fingerprint import Sketch, shingles, sketch
from services.store import dedup
from services.store.dedup import band_hashes, judge_copy

TEXT = " ".join(f"word{i % 97} w{i}" for i in range(400))


def seed_texts(seeds_dir: Path) -> list[str]:
    return [p.read_text() for p in sorted(seeds_dir.glob("*.txt"))]


def test_shingles_are_casefolded_words() -> None:
    assert shingles("The  QUICK brown, fox jumps over", k=5) == {
        "the quick brown fox jumps", "quick brown fox jumps over"}
    assert shingles("Two words") == {"two words"}
    assert shingles("  ... ") == set()
    assert shingles("ﬁne Straße") == shingles("fine STRASSE")  # NFKC + casefold


def test_sketch_is_deterministic_across_processes() -> None:
    here = sketch(TEXT)
    code = ("import sys; from services.common.fingerprint import sketch; "
            "sys.stdout.write(sketch(sys.stdin.read()).encode())")
    for hash_seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], input=TEXT, capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": hash_seed, "PATH": ""}, cwd=Path(__file__).parents[2])
        assert Sketch.decode(out.stdout) == here
    assert rensa.RMinHash.ALGORITHM_VERSION == fingerprint.RENSA_ALGORITHM_VERSION
    assert len(here.signature) == 4 * fingerprint.NUM_PERM and here.size == len(shingles(TEXT))


def test_encode_and_bands() -> None:
    sk = sketch(TEXT)
    assert Sketch.decode(sk.encode()) == sk
    assert Sketch.decode(sk.encode().encode()) == sk
    bands = band_hashes(sk)
    assert len(bands) == 16 and all(len(b) == 8 for b in bands)
    assert band_hashes(sketch(TEXT)) == bands
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
    assert dedup.estimated_jaccard(a, b) < dedup.MIN_JACCARD
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
