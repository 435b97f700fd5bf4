"""The copy-set generator: deterministic, and each edit kind changes the text as it is named."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from services.evaluation import copyset
from services.evaluation.copyset import EDITS, apply_edits, build_copy_set, read_copy_set, write_copy_set

DEV = copyset.DEFAULT_DEV
TITLE = "Man shot outside downtown bar, police say"
TEXT = "\n\n".join(
    f"Paragraph {i}: police said a man was shot after an argument and taken to the hospital in stable condition."
    for i in range(10)
)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.fixture(scope="module")
def dev() -> Path:
    if not DEV.is_file():
        pytest.skip(f"dev data not found at {DEV} (it lives in ../shared/data, beside the repository)")
    return DEV


def test_headline_changes_only_the_title() -> None:
    title, text = EDITS["headline"](TITLE, TEXT, random.Random(0))
    assert title != TITLE and text == TEXT


def test_dateline_is_prefixed() -> None:
    title, text = EDITS["dateline"](TITLE, TEXT, random.Random(0))
    assert title == TITLE and text.endswith(TEXT) and re.match(r"^[A-Z ]+( \(\w+\))? [—-] ", text)


def test_trim_tail_drops_20_to_40_percent_of_paragraphs() -> None:
    for seed in range(20):
        _, text = EDITS["trim_tail"](TITLE, TEXT, random.Random(seed))
        kept = text.split("\n\n")
        assert TEXT.startswith(text) and 6 <= len(kept) <= 8


def test_trimmed_repost_keeps_the_top_40_to_90_percent_and_adds_furniture() -> None:
    kept_counts = set()
    for seed in range(40):
        _, text = EDITS["trimmed_repost"](TITLE, TEXT, random.Random(seed))
        kept = [p for p in text.split("\n\n") if p.startswith("Paragraph")]
        furniture = [p for p in text.split("\n\n") if not p.startswith("Paragraph")]
        assert TEXT.startswith("\n\n".join(kept)) and 4 <= len(kept) <= 9 and 1 <= len(furniture) <= 2
        kept_counts.add(len(kept))
    assert min(kept_counts) <= 5 and max(kept_counts) >= 8  # the whole range is drawn


def test_trimmed_repost_keeps_enough_words_to_be_a_re_post() -> None:
    short = "\n\n".join(["Short lead."] * 3 + [" ".join(["word"] * 40)] * 5)
    for seed in range(10):
        _, text = EDITS["trimmed_repost"](TITLE, short, random.Random(seed))
        body = [p for p in text.split("\n\n") if p == "Short lead." or p.startswith("word")]
        assert len(words(" ".join(body))) >= copyset.MIN_KEPT_WORDS


def test_boilerplate_adds_furniture_lines() -> None:
    _, text = EDITS["boilerplate"](TITLE, TEXT, random.Random(0))
    assert TEXT in text and len(text) > len(TEXT)
    extra = text.replace(TEXT, "")
    assert any(marker in extra for marker in ("Copyright", "Follow us", "Related", "newsletter", "app", "tip"))


def test_word_swap_changes_three_to_five_percent() -> None:
    before = words(TEXT)
    for seed in range(10):
        _, text = EDITS["word_swap"](TITLE, TEXT, random.Random(seed))
        after = words(text)
        # A swap may be two words ("as well as"), so compare by diff of the original positions.
        changed = sum(1 for w in before if w not in after) + abs(len(after) - len(before))
        assert text != TEXT and changed <= 0.08 * len(before)
        assert 0.02 * len(before) <= len([1 for a, b in zip(before, after, strict=False) if a != b]) or changed


def test_update_paragraph_before_or_after() -> None:
    sides = set()
    for seed in range(10):
        _, text = EDITS["update"](TITLE, TEXT, random.Random(seed))
        assert TEXT in text
        sides.add("after" if text.startswith(TEXT) else "before")
    assert sides == {"before", "after"}


def test_combination_applies_each_edit() -> None:
    title, text = apply_edits(("dateline", "trim_tail", "boilerplate"), TITLE, TEXT, random.Random(0))
    assert title == TITLE and re.match(r"^[A-Z ]+", text) and "Paragraph 9" not in text and "Paragraph 0" in text


def test_build_is_deterministic_and_round_trips(dev: Path, tmp_path: Path) -> None:
    a = build_copy_set(dev, seed=3, n=15)
    b = build_copy_set(dev, seed=3, n=15)
    assert a == b
    assert build_copy_set(dev, seed=4, n=15).copies != a.copies
    kinds = {c.kind for c in a.copies}
    assert set(copyset.SINGLE_KINDS) <= kinds and any("+" in k for k in kinds)
    originals = {r.id: r for r in a.originals}
    for c in a.copies:
        assert c.original in originals and c.cluster == originals[c.original].cluster
        assert c.published is not None and c.published > (originals[c.original].published or "")
    assert a.negatives  # own-words accounts of the same events
    path = tmp_path / "copies.jsonl"
    write_copy_set(a, path)
    assert read_copy_set(path) == a
