"""Copy detection (pure): word shingles, MinHash sketches, LSH band hashes and the copy verdict.

A *copy* is an outlet re-posting another's text with light edits (new headline,
dateline, trimmed tail, boilerplate, a few words changed, an update paragraph).
Two articles are compared through their MinHash sketches over 5-word shingles:
the estimated Jaccard catches edited copies of similar length, and the estimated
containment of the smaller shingle set in the larger catches trimmed or padded
copies whose Jaccard is low only because one side is longer. A re-post that keeps
only the top of a story (40-90 % of its paragraphs) and adds its own furniture has
both too low (J ~0.3, C ~0.6-0.8, noisy): the *lead* rule catches it by the same
opening (the Jaccard of the two leads' small sketches, see fingerprint.LEAD_SHINGLES)
together with a looser containment.

Sketches come from services.common.fingerprint.

The thresholds are settings (copy_min_jaccard, copy_min_containment,
copy_min_shingles, copy_min_lead_jaccard, copy_min_lead_containment), measured on the
generated copy set (services.evaluation.copyset, `python -m services.evaluation.copyset
--sweep`, seed 0, n 400: 3,632 copy pairs, 11,426 hard negatives; the judge alone, without
the LSH step): J 0.45 / C 0.85 / 30 alone gives precision 0.998, recall 0.975 (0.89 on
re-posts trimmed to 40-90 %); with the lead rule (lead J 0.6, C 0.5) recall is 0.993
(0.98 on the trimmed) at the same precision, and no seed pair is a copy. Lead J 0.5 gains
0.003 of recall for 2-6 more false copies (seeds 0-2); leads of 40 or 50 shingles let
more versions of one wire lead through, 80 reach past short trims. The residual false
copies are versions of one wire story (the same lead and paragraphs, one updated), which
the set counts as negatives because they share less than the dev file's near-duplicate bar.
Containment estimated from J is noisy when the sizes differ a lot (one J standard error
of ~0.03 moves C by up to ~0.1), which is why C needs 0.85 rather than the exact-shingle
0.8 of the dev file's near_dup_auto, and it needs a floor on the smaller side, or a
snippet found in a long article would count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from services.common.fingerprint import LEAD_PERM, NUM_PERM, Sketch
from services.common.settings import Settings


def band_hashes(sk: Sketch, bands: int, rows: int) -> list[bytes]:
    """One 8-byte hash per LSH band (blake2b of the band's rows); equal bands give equal hashes.

    The banding is the LSH index's (services.store.lsh: LSH_BANDS x LSH_ROWS). The band index
    is mixed in so that two bands with the same rows still land in different places even if a
    caller puts all bands in one table.
    """
    if bands * rows > len(sk.signature) // 4:
        raise ValueError(f"{bands} bands x {rows} rows exceed the {len(sk.signature) // 4} permutations")
    width = rows * 4
    return [
        hashlib.blake2b(sk.signature[b * width:(b + 1) * width], digest_size=8, salt=b.to_bytes(2, "little")).digest()
        for b in range(bands)
    ]


def lead_band_hashes(sk: Sketch, bands: int, rows: int, *, first_band: int) -> list[bytes]:
    """One 8-byte hash per band of the lead's signature (none without a lead), salted with the band's
    number counted from `first_band`, so lead bands never meet the body's bands."""
    if bands * rows > LEAD_PERM:
        raise ValueError(f"{bands} bands x {rows} rows exceed the {LEAD_PERM} lead permutations")
    if not sk.lead or sk.size == 0:
        return []
    width = rows * 4
    return [
        hashlib.blake2b(sk.lead[b * width:(b + 1) * width], digest_size=8,
                        salt=(first_band + b).to_bytes(2, "little")).digest()
        for b in range(bands)
    ]


def estimated_jaccard(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard of two shingle sets: the fraction of equal MinHash values (0 if either is empty)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    return sum(x == y for x, y in zip(a.values(), b.values(), strict=True)) / NUM_PERM


def estimated_lead_jaccard(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard of the two leads' shingle sets (0 if either has no lead)."""
    if not a.lead or not b.lead or a.size == 0 or b.size == 0:
        return 0.0
    return sum(x == y for x, y in zip(a.lead_values(), b.lead_values(), strict=True)) / LEAD_PERM


def containment_from(jaccard: float, size_a: int, size_b: int) -> float:
    """Containment of the smaller set in the larger implied by their Jaccard and sizes.

    |A∩B| = J(|A|+|B|)/(1+J) follows from J = |A∩B| / (|A|+|B|-|A∩B|).
    """
    small = min(size_a, size_b)
    if small == 0:
        return 0.0
    inter = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, inter / small)


def estimated_containment(a: Sketch, b: Sketch) -> float:
    """Estimated fraction of the smaller article's shingles that occur in the larger one."""
    return containment_from(estimated_jaccard(a, b), a.size, b.size)


@dataclass(frozen=True)
class CopyRules:
    """The thresholds of the copy verdict (settings copy_min_*; see judge_copy)."""

    min_jaccard: float
    min_containment: float
    min_shingles: int
    min_lead_jaccard: float
    min_lead_containment: float

    @classmethod
    def of(cls, settings: Settings) -> CopyRules:
        """The rules the store runs with."""
        return cls(min_jaccard=settings.copy_min_jaccard, min_containment=settings.copy_min_containment,
                   min_shingles=settings.copy_min_shingles, min_lead_jaccard=settings.copy_min_lead_jaccard,
                   min_lead_containment=settings.copy_min_lead_containment)


@dataclass(frozen=True)
class CopyVerdict:
    """Why two articles are copies: the estimated Jaccard and containment, and which rule fired."""

    jaccard: float
    containment: float
    rule: Literal["jaccard", "containment", "lead"]

    @property
    def similarity(self) -> float:
        """One number to report with the copy relation: the stronger of the two measures."""
        return max(self.jaccard, self.containment)


def judge_copy(a: Sketch, b: Sketch, rules: CopyRules) -> CopyVerdict | None:
    """A verdict if `a` and `b` are copies of each other (direction is the caller's: earliest wins), else None.

    Copy if estimated Jaccard ≥ min_jaccard; or, with at least min_shingles
    shingles on the smaller side (a snippet found in a long article is no copy),
    estimated containment of the smaller in the larger ≥ min_containment, or the
    same lead (lead Jaccard ≥ min_lead_jaccard) and containment ≥ min_lead_containment.
    """
    j = estimated_jaccard(a, b)
    c = containment_from(j, a.size, b.size)
    if j >= rules.min_jaccard:
        return CopyVerdict(j, c, "jaccard")
    if min(a.size, b.size) < rules.min_shingles:
        return None
    if c >= rules.min_containment:
        return CopyVerdict(j, c, "containment")
    if c >= rules.min_lead_containment and estimated_lead_jaccard(a, b) >= rules.min_lead_jaccard:
        return CopyVerdict(j, c, "lead")
    return None
