"""What the extractor computes once per article (services.common.fingerprint, pure): body hash, shingles, sketches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rensa

from services.common import fingerprint
from services.common.fingerprint import Sketch, body_hash, shingles, sketch

TEXT = " ".join(f"word{i % 97} w{i}" for i in range(400))


def test_body_hash_ignores_case_spacing_and_punctuation_only() -> None:
    assert body_hash("Putin met Soleimani.\n\nIn Moscow!") == body_hash("putin  met soleimani in moscow")
    assert body_hash("Putin met Soleimani") != body_hash("Putin met Assad")


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


def test_a_sketch_survives_encoding() -> None:
    sk = sketch(TEXT)
    assert Sketch.decode(sk.encode()) == sk
    assert Sketch.decode(sk.encode().encode()) == sk


def test_the_lead_is_the_first_shingles_in_text_order() -> None:
    words = fingerprint.words(TEXT)
    lead = fingerprint.lead_shingles_of(words)
    assert len(lead) == fingerprint.LEAD_SHINGLES and lead[0] == " ".join(words[:5])
    assert set(lead) <= shingles(TEXT)
    assert fingerprint.lead_shingles_of(["a", "b"]) == ["a b"] and fingerprint.lead_shingles_of([]) == []
    # Repeated shingles count once: the lead reaches further into the text.
    repeated = fingerprint.lead_shingles_of(("x y z w v " * 20 + TEXT).split())
    assert len(repeated) == fingerprint.LEAD_SHINGLES and len(set(repeated) & set(lead)) > 40


def test_a_trimmed_text_keeps_its_lead() -> None:
    whole, top = sketch(TEXT), sketch(" ".join(TEXT.split()[:300]))
    assert len(whole.lead) == 4 * fingerprint.LEAD_PERM and top.lead == whole.lead
    assert sketch("").lead == b""


def test_a_sketch_without_a_lead_still_decodes() -> None:
    sk = sketch(TEXT)
    v2 = sk.encode().rsplit(":", 1)[0]  # what fingerprint version 2 stored: size:signature
    assert Sketch.decode(v2) == Sketch(sk.signature, sk.size) and Sketch.decode(v2).lead_values() == ()
    assert Sketch(sk.signature, sk.size).encode() == v2
