"""The fast NER path: the model reads the title, the lead and the sentences with unknown names; the rest is matched."""

from __future__ import annotations

import pytest

from services.extractor import entities, fast_ner
from services.extractor.fast_ner import UNTAGGED, KnownNames, _inside_longer_name, _untagged, lead_end, sentences

MODEL = "en_core_web_sm"

LEAD = (
    "Qassem Soleimani, the commander of Iran's Quds Force, was killed in a US drone strike at Baghdad "
    "airport on Friday, the Pentagon said."
)
TAIL = (
    "Soleimani had led the force for two decades. Officials in Baghdad said the strike also killed an Iraqi "
    "militia leader.\n\nAngela Merkel called for restraint. The Pentagon said the strike was defensive, "
    "and Soleimani's funeral is expected in Tehran."
)


def test_the_lead_ends_at_a_sentence_end_within_the_budget() -> None:
    text = "One sentence here. Another one follows. And a third."
    assert lead_end(text, 100) == len(text)
    assert text[: lead_end(text, 45)] == "One sentence here. Another one follows. "
    assert lead_end("x" * 50, 20) == 20  # no break anywhere: a hard cut


def test_sentences_cover_the_text_and_keep_initials_and_abbreviations_inside() -> None:
    text = "J. Smith met U.S. officials. Gen. Lee left!\nNew line here"
    parts = list(sentences(text))
    assert "".join(p for _, p in parts) == text
    assert [p.strip() for _, p in parts] == ["J. Smith met U.S. officials.", "Gen. Lee left!", "New line here"]
    assert all(text[at : at + len(p)] == p for at, p in parts)


def test_a_name_is_known_once_its_label_is_clear() -> None:
    known = KnownNames()
    known.learn({"Merkel": "PERSON", "Angela Merkel": "PERSON"})
    assert known.label("Angela Merkel") == "PERSON"  # a full name: once is enough
    assert known.label("Merkel") is None  # a single word: twice
    known.learn({"Merkel": "PERSON"})
    assert known.label("Merkel") == "PERSON"
    known.learn({"Merkel": "GPE"})
    known.learn({"Merkel": "GPE"})
    assert known.label("Merkel") is None  # 2 of 4: no clear label


def test_a_name_labelled_differently_in_one_tenth_of_its_taggings_is_left_to_the_model() -> None:
    known = KnownNames()
    for _ in range(9):
        known.learn({"Harry Winston": "PERSON"})
    known.learn({"Harry Winston": "FAC"})
    assert known.label("Harry Winston") == "PERSON"  # counter-case: 9 of 10 is clear
    known.learn({"Harry Winston": "FAC"})
    assert known.label("Harry Winston") is None  # 9 of 11: the label depends on the context, the model decides


def test_names_of_the_lead_are_matched_below_it_and_new_names_are_read_by_the_model() -> None:
    text = LEAD + "\n\n" + TAIL
    [fast] = fast_ner.tag_entities_many(
        [(text, None, "en")], model=MODEL, ner_max_chars=20_000, lead_chars=len(LEAD), known=KnownNames()
    )
    by_key = {e.key: e for e in fast}
    soleimani = by_key["person:qassem soleimani"]
    assert soleimani.count == 3  # the lead's full name, then "Soleimani" twice below it, joined to it
    assert "person:angela merkel" in by_key  # only below the lead: the model read that sentence
    assert "gpe:tehran" in by_key
    assert by_key["org:pentagon"].count == 2
    full = entities.tag_entities(text, title=None, language="en", model=MODEL, ner_max_chars=20_000)
    assert {e.key for e in full if e.type in ("PERSON", "GPE", "ORG")} <= set(by_key)


def test_a_sentence_with_only_known_names_is_not_read_by_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    read = _record_model_reads(monkeypatch)
    text = LEAD + "\n\nSoleimani was buried in Kerman. The Pentagon said nothing more about Soleimani."
    [fast] = fast_ner.tag_entities_many(
        [(text, None, None)], model=MODEL, ner_max_chars=20_000, lead_chars=len(LEAD), known=KnownNames()
    )
    tail_reads = [t for t in read if t not in (LEAD, LEAD + "\n\n")]
    assert any("Kerman" in t for t in tail_reads)  # an unknown name: read, with a few words around it
    assert not any("said nothing more" in t for t in tail_reads)  # only known names: matched
    full = entities.tag_entities(text, title=None, language=None, model=MODEL, ner_max_chars=20_000)
    assert {e.key: e.count for e in fast}["person:qassem soleimani"] == {e.key: e.count for e in full}[
        "person:qassem soleimani"
    ]


def test_other_languages_and_empty_texts_give_nothing() -> None:
    out = fast_ner.tag_entities_many(
        [("Der Bundestag tagte in Berlin.", None, "de"), ("  ", None, None)],
        model=MODEL,
        ner_max_chars=20_000,
        lead_chars=400,
        known=KnownNames(),
    )
    assert out == [[], []]


def test_a_known_name_is_not_matched_as_part_of_a_longer_capitalised_run() -> None:
    lead = "A man was shot dead on Friday night in Eaton, police said. Deputies found him in a car on a county road."
    tail = (
        '"He was quiet," said James Russell, who lives nearby. A spokesman for the Preble County Sheriff\'s '
        "Office asked anyone with information to call. James said so."
    )
    text = lead + "\n\n" + tail
    known = KnownNames()
    for _ in range(2):  # every word of both runs is a known name, so only the matcher would see these sentences
        known.learn({"James": "PERSON", "Russell": "PERSON", "Preble County": "GPE", "Sheriff's Office": "ORG"})
    [fast] = fast_ner.tag_entities_many(
        [(text, None, "en")], model=MODEL, ner_max_chars=20_000, lead_chars=len(lead), known=known
    )
    keys = {e.key: e.count for e in fast}
    assert "org:sheriff's office" not in keys and "person:russell" not in keys  # the model read those runs
    assert keys["org:preble county sheriff's office"] == 1
    assert keys["person:james russell"] == 2  # counter-case: "James" alone ("James said so.") is still matched
    full = entities.tag_entities(text, title=None, language="en", model=MODEL, ner_max_chars=20_000)
    assert {e.key: e.count for e in full} == keys


@pytest.mark.parametrize(
    ("text", "name", "inside"),
    [
        ("said James Russell, who", "James", True),
        ("the Preble County Sheriff's Office said", "Sheriff's Office", True),
        ("at the U. S. Fish and Wildlife Service", "U. S.", True),
        ("Miami-Dade Crime Stoppers at", "Crime Stoppers", True),
        ("The Pentagon said", "Pentagon", False),  # a stop word before it
        ("Sheriff Anderson said", "Anderson", False),  # a title before it
        ("Iran's Quds Force", "Quds Force", False),  # a possessive: another name
        ("met Merkel on Monday", "Merkel", False),
        ("Merkel\nBerlin", "Merkel", False),  # a line break ends a run
    ],
)
def test_a_run_of_capitalised_words_is_one_name(text: str, name: str, inside: bool) -> None:
    start = text.index(name)
    assert _inside_longer_name(text, start, start + len(name)) is inside


def test_a_known_name_the_model_reads_without_tagging_loses_its_label() -> None:
    known = KnownNames()
    known.learn({"Crime Stoppers": "PERSON"})
    known.learn({"Crime Stoppers": "PERSON"})
    nlp = entities.pipeline(MODEL)
    doc = nlp.make_doc("Anyone with information should call Crime Stoppers at 555-1234.")
    found = fast_ner._known_in(doc.text, known, set())
    assert found == {"Crime Stoppers": "PERSON"}
    assert _untagged([(doc.text, [])], found) == {"Crime Stoppers"}  # read, and not tagged
    start = doc.text.index("Crime")
    tagged = doc.char_span(start, start + len("Crime Stoppers"), label="ORG")
    assert tagged is not None
    assert _untagged([(doc.text, [tagged])], found) == set()  # counter-case: tagged (any label) is no evidence
    longer = nlp.make_doc("Call Miami-Dade Crime Stoppers at 555-1234.")
    assert _untagged([(longer.text, [])], found) == set()  # part of a longer run: never matched there
    for _ in range(7):
        known.learn({"Crime Stoppers": "PERSON"})
    known.learn({"Crime Stoppers": UNTAGGED})
    assert known.label("Crime Stoppers") == "PERSON"  # tagged 9 of the 10 times the model read it
    known.learn({"Crime Stoppers": UNTAGGED})
    assert known.label("Crime Stoppers") is None  # 9 of 11: not clear
    known.learn({"Angela Merkel": UNTAGGED})
    assert known.label("Angela Merkel") is None  # never tagged: no label


def test_a_title_case_headline_is_recased_by_the_whole_text_not_the_lead_alone() -> None:
    title = "Kraft Shooting: Yvonne Hiller Charged With Murder"
    lead = "A plant worker who had been suspended returned with a handgun, police said Friday.\n"
    text = lead + "Yvonne Hiller, 43, was charged with murder on Saturday. Hiller had argued with co-workers."
    [(offset, headline), (start, body)] = fast_ner._lead_pieces(text, len(lead), title)
    assert (offset, start, body) == (-1, 0, lead)
    assert "Yvonne Hiller charged with murder" in headline  # names as the body writes them, other words in lower case
    [(_, lead_only), _] = entities.text_pieces(lead, title)
    assert "yvonne hiller" in lead_only  # what the lead alone would have given the model


@pytest.mark.parametrize("tagged_before", [True, False])
def test_a_sentence_opening_with_a_common_word_the_model_tags_as_a_name_is_read(
    monkeypatch: pytest.MonkeyPatch, tagged_before: bool
) -> None:
    read = _record_model_reads(monkeypatch)
    known = KnownNames()
    if tagged_before:
        known.learn({"Parliament": "ORG"})
        known.learn({"Parliament": "ORG"})
    text = LEAD + "\n\nThe parliament met in the evening. Parliament has 125 seats and meets in the capital."
    fast_ner.tag_entities_many(
        [(text, None, None)], model=MODEL, ner_max_chars=20_000, lead_chars=len(LEAD), known=known
    )
    # "parliament" is written in lower case in the article: a common word, read only if the model tags it elsewhere
    assert any("125 seats" in t for t in read) is tagged_before


def _record_model_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the spaCy model is given from now on (the list fills as it reads)."""
    read: list[str] = []
    nlp = entities.pipeline(MODEL)
    original = nlp.pipe

    def pipe(texts, **kwargs):  # type: ignore[no-untyped-def]
        texts = list(texts)
        read.extend(texts)
        return original(texts, **kwargs)

    monkeypatch.setattr(nlp, "pipe", pipe)
    return read
