"""Named-entity recognition quality on a public labelled set in CoNLL-2003 format.

Measures the NER wirewatch runs (the extractor's spaCy pipeline with its rules,
`services.extractor.entities`) on token-labelled news text: each document's
tokens are joined with spaces, tagged, and predicted entities are aligned back to
token spans. spaCy's OntoNotes labels map to CoNLL's four types (PERSON -> PER,
ORG -> ORG, GPE/LOC/FAC -> LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW -> MISC; dates,
numbers and the like are not entities in CoNLL and are dropped). Scored as CoNLL
does: an entity counts only if its span and type both match exactly. Sentences are
given to spaCy on lines of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.extractor import entities as tagging

SPACY_TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
                  "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC"}
CONLL_TYPES = ("PER", "ORG", "LOC", "MISC")

Span = tuple[int, int, str]  # first token, token after the last, type


@dataclass
class Document:
    """One -DOCSTART- document: its tokens, gold entity spans (token offsets) and where sentences start."""

    tokens: list[str]
    gold: set[Span]
    sentence_starts: set[int]

    def text(self) -> tuple[str, list[int]]:
        """The document as text (tokens joined by spaces, sentences by newlines) and each token's offset."""
        parts, starts, pos = [], [], 0
        for i, token in enumerate(self.tokens):
            if i:
                parts.append("\n" if i in self.sentence_starts else " ")
                pos += 1
            starts.append(pos)
            parts.append(token)
            pos += len(token)
        return "".join(parts), starts


def read_conll(path: Path) -> list[Document]:
    """Documents of a CoNLL-2003 file (token first, NER tag last; IOB1 or IOB2; blank line between sentences).

    An entity never spans a sentence break."""
    docs: list[Document] = []
    tokens: list[str] = []
    gold: set[Span] = set()
    starts: set[int] = set()
    sentence: list[str] = []

    def close_sentence() -> None:
        offset = len(tokens) - len(sentence)
        if sentence:
            starts.add(offset)
        gold.update((offset + a, offset + b, kind) for a, b, kind in iob_spans(sentence))
        sentence.clear()

    def close_document() -> None:
        close_sentence()
        if tokens:
            docs.append(Document(list(tokens), set(gold), set(starts)))
        tokens.clear()
        gold.clear()
        starts.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            close_sentence()
        elif parts[0] == "-DOCSTART-":
            close_document()
        else:
            tokens.append(parts[0])
            sentence.append(parts[-1])
    close_document()
    return docs


def iob_spans(tags: list[str]) -> Iterator[Span]:
    """Entity spans of an IOB1 or IOB2 tag sequence."""
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        begins = prefix == "B" or (prefix == "I" and label != kind)
        if kind and (prefix == "O" or begins):
            yield start, i, kind
            kind = ""
        if begins:
            start, kind = i, label


def predicted_spans(doc: Any, document: Document, starts: list[int]) -> set[Span]:
    """The spaCy doc's entities as CoNLL token spans.

    An entity not starting and ending on a token edge is widened to the tokens it touches; a leading
    "the" is left out, as CoNLL never counts it and OntoNotes-trained models sometimes do.
    """
    out: set[Span] = set()
    ends = [s + len(t) for s, t in zip(starts, document.tokens, strict=True)]
    for ent in doc.ents:
        kind = SPACY_TO_CONLL.get(ent.label_)
        if kind is None:
            continue
        first = next((i for i, e in enumerate(ends) if e > ent.start_char), None)
        last = next((i for i in range(len(starts) - 1, -1, -1) if starts[i] < ent.end_char), None)
        if first is not None and last is not None and first < last and document.tokens[first].lower() == "the":
            first += 1
        if first is not None and last is not None and last >= first:
            out.add((first, last + 1, kind))
    return out


def evaluate_ner(path: Path, *, model: str, progress: Progress | None = None) -> dict[str, Any]:
    """Entity-level precision, recall and F1 (overall and per CoNLL type) of wirewatch's NER on a CoNLL file."""
    docs = read_conll(path)
    nlp = tagging._pipeline(model)
    found: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    task = progress.add_task("tagging", total=len(docs)) if progress else None
    texts = [doc.text() for doc in docs]
    for doc, (_, starts), parsed in zip(docs, texts, nlp.pipe(t for t, _ in texts), strict=True):
        predicted = predicted_spans(parsed, doc, starts)
        for span in predicted:
            found[span[2]] += 1
        for span in doc.gold:
            gold_n[span[2]] += 1
        for span in predicted & doc.gold:
            correct[span[2]] += 1
        if progress is not None and task is not None:
            progress.advance(task)
    rows = {kind: _prf(correct[kind], found[kind], gold_n[kind]) for kind in CONLL_TYPES}
    rows["all"] = _prf(sum(correct.values()), sum(found.values()), sum(gold_n.values()))
    return {"documents": len(docs), "gold_entities": sum(gold_n.values()), "model": model, **rows}


def _prf(correct: int, found: int, gold: int) -> dict[str, float]:
    precision = correct / found if found else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
