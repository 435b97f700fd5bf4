"""Reading CoNLL-2003 files and scoring NER the CoNLL way (spans and types must match exactly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.evaluation.ner import evaluate_ner, iob_spans, read_conll

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP I-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Vladimir NNP B-NP B-PER
Putin NNP I-NP I-PER
met VBD B-VP O
officials NNS B-NP O
in IN B-PP O
Moscow NNP B-NP B-LOC
on IN B-PP O
Tuesday NNP B-NP O
. . O O
"""


def test_iob1_and_iob2_spans() -> None:
    assert list(iob_spans(["I-PER", "I-PER", "O", "I-LOC"])) == [(0, 2, "PER"), (3, 4, "LOC")]
    assert list(iob_spans(["B-PER", "I-PER", "B-PER", "O"])) == [(0, 2, "PER"), (2, 3, "PER")]
    assert list(iob_spans(["I-ORG", "I-LOC"])) == [(0, 1, "ORG"), (1, 2, "LOC")]


def test_read_conll_documents_and_sentence_breaks(tmp_path: Path) -> None:
    path = tmp_path / "sample.conll"
    path.write_text(CONLL, encoding="utf-8")
    docs = read_conll(path)
    assert len(docs) == 2
    assert docs[0].tokens[:3] == ["EU", "rejects", "German"]
    assert docs[0].gold == {(0, 1, "ORG"), (2, 3, "MISC"), (6, 7, "MISC"), (9, 11, "PER")}
    assert docs[1].gold == {(0, 2, "PER"), (5, 6, "LOC")}


def test_evaluate_ner_scores_the_extractor_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "sample.conll"
    path.write_text(CONLL, encoding="utf-8")
    result = evaluate_ner(path, model="en_core_web_sm")
    assert result["documents"] == 2 and result["gold_entities"] == 6
    assert result["PER"]["recall"] == pytest.approx(1.0)  # Peter Blackburn, Vladimir Putin
    assert 0.5 <= result["all"]["f1"] <= 1.0


def test_predicted_entities_align_to_tokens_and_drop_a_leading_the() -> None:
    from types import SimpleNamespace

    from services.evaluation.ner import Document, predicted_spans

    document = Document(["He", "won", "the", "World", "Cup", "in", "Paris"], set(), {0})
    text, starts = document.text()
    assert text == "He won the World Cup in Paris"

    def ent(surface: str, label: str) -> SimpleNamespace:
        start = text.index(surface)
        return SimpleNamespace(start_char=start, end_char=start + len(surface), label_=label)

    doc = SimpleNamespace(ents=[ent("the World Cup", "EVENT"), ent("Paris", "GPE"), ent("in", "DATE")])
    assert predicted_spans(doc, document, starts) == {(3, 5, "MISC"), (6, 7, "LOC")}
