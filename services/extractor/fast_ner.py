"""Entities for a fraction of the model's time: the model reads the title, the lead and the sentences with new names.

spaCy's NER costs ~80 % of an article's CPU and grows with the text. The names a story is about are
introduced at the top of a news article (the inverted pyramid): the headline and the first paragraphs
name the people, organisations and places, and the rest of the text mostly repeats them, often shorter
("Qassem Soleimani" ... "Soleimani"). So the statistical model reads the title and the first `lead_chars`
characters (cut at a paragraph, sentence or word end), and of the rest only the sentences holding a
capitalised word that no known name covers. Known names are the lead's (with a full name's surname and
display forms) and those the model tagged in earlier articles (KnownNames); they are matched in the
sentences the model skips by one compiled pattern per article (longest name first, whole words, case as
written). The matches are character spans that go through the same within-article resolution as the
model's (services.extractor.entities.entities_from_spans): counts, first positions, surnames joined to full
names and acronyms to long names come out as full-text tagging gives them.

Matching a name where the model would not tag it is the main way to differ from full-text NER, so a known
name is matched only where it stands alone (not inside a longer capitalised run: "James" of "James
Russell"), and only while the model gives it one clear label wherever it reads it (its untagged readings
count against it: "Crime Stoppers"). `wirewatch eval ner-budget` measures the difference on the entities
that matter (people, organisations and places that recur across a story's articles) against full-text NER
on the same articles, and the CPU of both.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from spacy.lang.en.stop_words import STOP_WORDS as _STOP_WORDS

from services.common.messages import Entity
from services.extractor import entities

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc, Span

__all__ = ["lead_end", "propagated_names", "tag_entities_many"]

_TAIL_CHUNK_CHARS = 5_000
# Labels whose names are looked for in the rest of the text (those tag_entities keeps).
_PROPAGATED = entities.ENTITY_TYPES
_SHORT_FORM = re.compile(r"^[A-Z][\w'\-]{2,}$")  # a surname worth matching alone: capitalised, 3+ letters


def lead_end(text: str, lead_chars: int) -> int:
    """Where the lead ends: at most `lead_chars`, cut at a paragraph, sentence or word end in its second half."""
    if len(text) <= lead_chars:
        return len(text)
    window = text[:lead_chars]
    for sep in ("\n", ". ", " "):
        pos = window.rfind(sep)
        if pos > lead_chars // 2:
            return pos + len(sep)
    return lead_chars


def _lead_pieces(text: str, cut: int, title: str | None) -> list[tuple[int, str]]:
    """What the model reads of the title and the lead: entities.text_pieces of the whole text, cut at the lead's
    end. Not text_pieces of the lead alone: a headline in Title Case is put in sentence case by how the body
    writes each word, and the lead alone may not write the name ("Yvonne Hiller" would become "yvonne hiller")."""
    pieces = entities.text_pieces(text, title)
    body = "".join(piece for offset, piece in pieces if offset >= 0)  # the chunks cover the text, same length
    return [(offset, piece) for offset, piece in pieces if offset < 0] + [(0, body[:cut])]


def propagated_names(docs: Sequence[Doc]) -> dict[str, str]:
    """{surface: label} to look for in the rest of an article: every entity the model tagged in its lead,
    its display form (titles stripped) and, for a person named in full, the surname alone."""
    names: dict[str, str] = {}
    for doc in docs:
        for ent in doc.ents:
            if ent.label_ not in _PROPAGATED:
                continue
            surface = ent.text.strip()
            display = entities.display_name(surface, ent.label_)
            for form in (surface, display):
                if len(form) >= 2 and any(ch.isupper() for ch in form):
                    names.setdefault(form, ent.label_)
            words = display.split()
            if ent.label_ == "PERSON" and len(words) >= 2 and _SHORT_FORM.match(words[-1]):
                names.setdefault(words[-1], "PERSON")
    return names


# Where a known name may start and end: whole words, not inside "AT&T", "U.S." or "e-mail".
_NAME_START = r"(?<![\w&.\-])"
_NAME_END = r"(?![\w&\-]|\.\w)"
_STARTS_NAME = re.compile(_NAME_START)
_ENDS_NAME = re.compile(_NAME_END)


def _pattern(names: dict[str, str]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"{_NAME_START}(?:{alternatives}){_NAME_END}")


def _tail_pieces(text: str, start: int) -> Iterator[tuple[int, str]]:
    """(offset, chunk) pieces of text[start:], cut at paragraph, sentence or word ends."""
    n = len(text)
    while start < n:
        end = min(n, start + _TAIL_CHUNK_CHARS)
        if end < n:
            window = text[start:end]
            for sep in ("\n", ". ", " "):
                pos = window.rfind(sep)
                if pos > _TAIL_CHUNK_CHARS // 4:
                    end = start + pos + len(sep)
                    break
        yield start, text[start:end]
        start = end


def _with_known(
    text: str, ents: Sequence[Span], pattern: re.Pattern[str] | None, names: dict[str, str]
) -> list[entities.Span]:
    """A piece's entity spans for the resolution: the model's `ents` in it (if it read it) and the names of `names`
    where `pattern` finds them (those the model tagged win). No tokenising: the resolution reads character
    offsets, and the pattern's matches are whole words already."""
    out = [(e.start_char, e.end_char, e.label_) for e in ents if e.label_ in _PROPAGATED]
    last_end = -1
    for match in _matches(pattern, text):
        name = match.group()
        if name not in names or match.start() < last_end:
            continue
        if any(e.start_char < match.end() and match.start() < e.end_char for e in ents):
            continue
        out.append((match.start(), match.end(), names[name]))
        last_end = match.end()
    return sorted(out)


# A sentence ends at . ! or ? (and any closing quote) before a space, unless the word before is an initial
# or a short abbreviation ("J. Smith", "U.S. officials", "Gen. Lee"); a line break ends one too.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"\u201d\u2019)]*\s+|\n+")
_ABBREVIATION = re.compile(r"(?:^|\s)(?:[A-Z]|[A-Z][a-z]{1,3}|(?:[A-Za-z]\.)+[A-Za-z])\.$")
_CAPITALISED = re.compile(r"(?<![\w'\u2019-])[A-Z][\w'\u2019.\-]*")
_LOWER_WORD = re.compile(r"(?<![\w'\u2019-])[a-z][a-z'\u2019\-]+")
_CONTRACTION = re.compile(r"['\u2019](?:s|m|re|ve|d|ll|t)$")
_OPENING = re.compile(r"[^A-Za-z0-9]*")
# Capitalised words that name nothing the tagger keeps (dates are not entities here; "I" is a pronoun).
_CALENDAR = frozenset(
    "I Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April "
    "May June July August September October November December".split()
)
# Titles before a name: the name itself decides ("President Obama").
_TITLE_WORDS = frozenset(
    "Mr Mrs Ms Dr President Vice Prime Minister Secretary Judge Justice Chief Deputy Officer "
    "Sheriff Lt Sgt Gen Col Capt Cpl Det Const Rep Sen Gov Mayor Coach Detective Sergeant "
    "Lieutenant General Captain Governor Senator Representative Councilman Councilwoman "
    "Commissioner Superintendent Director Professor Prof Rev Pastor".split()
)
_NOT_NAMES = _CALENDAR | _TITLE_WORDS

# The capitalised word right before or after a match, joined to it by spaces only (not a line break).
_WORD_BEFORE = re.compile(r"(?<![\w'\u2019.\-])([A-Z][\w'\u2019.\-]*)[ \t]+$")
_WORD_AFTER = re.compile(r"[ \t]+([A-Z][\w'\u2019\-]*)")
_POSSESSIVE = re.compile(r"['\u2019]s?$")


def _inside_longer_name(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is only part of a longer run of capitalised words ("James" of "James Russell",
    "Sheriff's Office" of "Preble County Sheriff's Office", "U. S." of "U. S. Fish and Wildlife Service"):
    full-text NER tags the run as one name, or none, so a known name must not be matched alone there. A
    stop word ("The Pentagon"), a title ("Sheriff Wayne Anderson"), a date word or a possessive ("Iran's
    Quds Force") before it, a stop word or date word after it, do not make a run."""
    before = _WORD_BEFORE.search(text, max(0, start - 40), start)
    if before is not None:
        word = before.group(1).rstrip(".")
        if not (word.lower() in _STOP_WORDS or word in _NOT_NAMES or _POSSESSIVE.search(word)):
            return True
    after = _WORD_AFTER.match(text, end)
    if after is not None:
        word = after.group(1)
        if not (word.lower() in _STOP_WORDS or word in _CALENDAR):
            return True
    return False


def _matches(pattern: re.Pattern[str] | None, text: str) -> Iterator[re.Match[str]]:
    """The pattern's matches in `text` that are whole names (not part of a longer capitalised run)."""
    if pattern is None:
        return
    for match in pattern.finditer(text):
        if not _inside_longer_name(text, match.start(), match.end()):
            yield match


def sentences(text: str) -> Iterator[tuple[int, str]]:
    """(offset, sentence) pieces of `text`, each with the spaces that follow it; together they are `text`."""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.group().strip() == "" and "\n" not in match.group() and _ABBREVIATION.search(text, 0, match.start()):
            continue
        yield start, text[start : match.end()]
        start = match.end()
    if start < len(text):
        yield start, text[start:]


def _common(word: str, common: set[str], known: KnownNames | None = None) -> bool:
    """A word of ordinary prose: a stop word, or written in lower case in this article (or often elsewhere)."""
    low = _CONTRACTION.sub("", word.lower())
    return low in common or low in _STOP_WORDS or low == "i" or (known is not None and known.is_common(low))


def _unknown(sentence: str, covered: list[tuple[int, int]], common: set[str], known: KnownNames) -> list[int]:
    """Where a sentence holds a capitalised word that no known name covers (and is not a common word that
    opens the sentence, unless the model has tagged that word as a name in other articles: "Parliament has 125
    seats"): only the model can say what it is."""
    opening = _OPENING.match(sentence)
    first = opening.end() if opening else 0
    out = []
    for match in _CAPITALISED.finditer(sentence):
        word = match.group().rstrip(".")
        if word in _NOT_NAMES or any(a <= match.start() < b for a, b in covered):
            continue
        if match.start() == first and _common(word, common, known) and not known.tagged(word):
            continue
        out.append(match.start())
    return out


def _windows(sentence: str, unknown: list[int], context: int) -> list[tuple[int, int]]:
    """Character spans of the sentence the model reads: each unknown word's capitalised run with `context`
    words either side (spaCy's NER looks a few tokens around a word), overlapping ones joined."""
    words = [(m.start(), m.end()) for m in _WORD_SPAN.finditer(sentence)]
    spans: list[tuple[int, int]] = []
    w = 0
    for at in unknown:
        while w < len(words) - 1 and words[w][1] <= at:
            w += 1
        first, last = w, w
        while first > 0 and sentence[words[first - 1][0]].isupper():
            first -= 1
        while last + 1 < len(words) and sentence[words[last + 1][0]].isupper():
            last += 1
        a, b = max(0, first - context), min(len(words) - 1, last + context)
        start = 0 if a == 0 else words[a][0]
        end = len(sentence) if b == len(words) - 1 else words[b + 1][0]
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


_WORD_SPAN = re.compile(r"\S+")
#: Words either side of an unknown name that the model reads with it: in practice the whole sentence (on the
#: dev set, 12 words read 15 % less text but cost 0.01 F1 on recurring story entities; 6 words 0.02).
CONTEXT_WORDS = 40


#: The label KnownNames counts for a known name the model read without tagging it (see _untagged).
UNTAGGED = ""


class KnownNames:
    """Names the model has tagged in earlier articles of this process, with their labels: the rest of an
    article is read by the model only where it holds a capitalised word none of them covers. A name is used
    once its label is clear, a single word only once tagged twice. Clear is nine in ten of the articles where the
    model read it, counting those where it left it untagged (UNTAGGED): a name the model labels differently by
    context ("Harry Winston" the jeweller, the store) is left to the model wherever it occurs."""

    def __init__(self, capacity: int = 50_000, common_capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.labels: dict[str, Counter[str]] = {}
        self.common_capacity = common_capacity
        self.lower: Counter[str] = Counter()  # articles each lower-case word was seen in

    def read(self, words: set[str]) -> None:
        """Count the lower-case words of one article (ordinary prose: "according", "despite")."""
        self.lower.update(words)
        if len(self.lower) > self.common_capacity:  # keep the commonest half
            self.lower = Counter(dict(self.lower.most_common(self.common_capacity // 2)))

    def is_common(self, low: str) -> bool:
        """Whether a lower-case word was seen in several articles."""
        return self.lower.get(low, 0) >= 3

    def learn(self, names: dict[str, str]) -> None:
        """Count one tagging of each name (with its label); the least recently tagged go beyond capacity."""
        for name, label in names.items():
            counts = self.labels.pop(name, None) or Counter()  # re-inserted: the newest last
            counts[label] += 1
            self.labels[name] = counts
        while len(self.labels) > self.capacity:
            del self.labels[next(iter(self.labels))]

    def tagged(self, name: str) -> bool:
        """Whether the model has tagged the name in at least two articles (with any label)."""
        counts = self.labels.get(name)
        return counts is not None and sum(counts.values()) - counts[UNTAGGED] >= 2

    def label(self, name: str) -> str | None:
        """The name's label if it is a known name with a clear one (the model read without tagging it counts
        against it: UNTAGGED), else None."""
        counts = self.labels.get(name)
        if not counts:
            return None
        named = [(label, n) for label, n in counts.most_common() if label != UNTAGGED]
        if not named:
            return None
        label, top = named[0]
        total = sum(counts.values())
        if top * 10 < total * 9 or (" " not in name and total - counts[UNTAGGED] < 2):
            return None
        return label


KNOWN = KnownNames()


def tag_entities_many(
    articles: Sequence[tuple[str, str | None, str | None]],
    *,
    model: str,
    ner_max_chars: int,
    lead_chars: int,
    batch_size: int = entities.NER_BATCH,
    known: KnownNames | None = None,
) -> list[list[Entity]]:
    """entities.tag_entities_many with the model reading each article's title and lead, and of the rest only
    the sentences with a capitalised word that no name already known covers (the lead's names, and those the
    model tagged in earlier articles: `known`, this process's by default); the known names are matched in the
    sentences it skips. Same output shape; other languages give []."""
    known = KNOWN if known is None else known
    nlp = entities.pipeline(model)
    jobs = []
    for i, (text, title, language) in enumerate(articles):
        if not entities.is_english(language) or not text.strip():
            continue
        capped = text[: max(1, ner_max_chars)]
        cut = lead_end(capped, max(1, lead_chars))
        jobs.append((i, capped, cut, _lead_pieces(capped, cut, title)))
    lead_docs = iter(nlp.pipe([p for _, _, _, pieces in jobs for _, p in pieces], batch_size=batch_size))
    plans = []
    model_pieces: list[str] = []
    for i, text, cut, pieces in jobs:
        docs = [next(lead_docs) for _ in pieces]
        names = propagated_names(docs)
        common = set(_LOWER_WORD.findall(text))
        lead_read = [(doc.text, list(doc.ents)) for doc in docs]
        lead_known = {n: label for doc in docs for n, label in _known_in(doc.text, known, common).items()}
        known.learn({name: UNTAGGED for name in _untagged(lead_read, lead_known) if name not in names})
        known.learn(names)
        plans.append((i, text, cut, pieces, docs, names, common))
    out: list[list[Entity]] = [[] for _ in articles]
    tail_plans = []
    for i, text, cut, pieces, docs, names, common in plans:
        lookup = dict(names)
        known.read(common)
        tail_known = _known_in(text[cut:], known, common)
        for name, label in tail_known.items():
            lookup.setdefault(name, label)
        pattern = _pattern(lookup)
        kinds: list[tuple[int, str, bool]] = []
        for offset, piece in _tail_pieces(text, cut):
            for at, sentence in sentences(piece):
                covered = [(x.start(), x.end()) for x in _matches(pattern, sentence)]
                unknown = _unknown(sentence, covered, common, known) if sentence.strip() else []
                pos = 0
                for a, b in _windows(sentence, unknown, CONTEXT_WORDS):
                    if a > pos:
                        _add_part(kinds, offset + at + pos, sentence[pos:a], False)
                    _add_part(kinds, offset + at + a, sentence[a:b], True)
                    pos = b
                if pos < len(sentence):
                    _add_part(kinds, offset + at + pos, sentence[pos:], False)
        for _, t, needs in kinds:
            if needs:
                model_pieces.append(t)
        tail_plans.append((i, pieces, docs, kinds, pattern, lookup, names, tail_known))
    tail_docs = iter(nlp.pipe(model_pieces, batch_size=batch_size))
    for i, pieces, docs, kinds, pattern, lookup, names, tail_known in tail_plans:
        spans = [entities.doc_spans(doc) for doc in docs]
        learned: dict[str, str] = {}
        read: list[tuple[str, list[Span]]] = []
        for offset, piece, needs in kinds:
            if needs:
                doc = next(tail_docs)
                ents = list(doc.ents)
                learned.update({e.text.strip(): e.label_ for e in ents if e.label_ in _PROPAGATED})
                read.append((doc.text, ents))
                # The article's own lead names where the model, reading a sentence alone, missed them.
                piece_spans = _with_known(piece, ents, pattern, names)
            else:
                piece_spans = _with_known(piece, (), pattern, lookup)
                if not piece_spans:
                    continue  # no name in it
            pieces.append((offset, piece))
            spans.append(piece_spans)
        known.learn({n: UNTAGGED for n in _untagged(read, tail_known) if n not in learned})
        known.learn({n: label for n, label in learned.items() if any(ch.isupper() for ch in n)})
        out[i] = entities.entities_from_spans(pieces, spans)
    return out


def _add_part(parts: list[tuple[int, str, bool]], start: int, part: str, needs_model: bool) -> None:
    """Append (offset, text, needs model) to `parts`, joined to the last one when it is of the same kind."""
    if (
        parts
        and parts[-1][2] == needs_model
        and len(parts[-1][1]) + len(part) <= _TAIL_CHUNK_CHARS
        and parts[-1][0] + len(parts[-1][1]) == start
    ):
        parts[-1] = (parts[-1][0], parts[-1][1] + part, needs_model)
    else:
        parts.append((start, part, needs_model))


def _known_in(text: str, known: KnownNames, common: set[str]) -> dict[str, str]:
    """{name: label} of the known names that occur in `text`; a known single word is left out where the article
    also writes it in lower case ("police")."""
    found: dict[str, str] = {}
    for match in _CAPITALISED.finditer(text):
        for end in (match.end(), match.end() - 1):
            word = text[match.start() : end]
            label = None if _common(word, common) else known.label(word)
            if label is not None:
                found.setdefault(word, label)
    # Multi-word known names: try the capitalised runs of the text.
    for run in _CAP_RUN.finditer(text):
        words = run.group().split()
        for a in range(len(words)):
            for b in range(len(words), a + 1, -1):
                name = " ".join(words[a:b])
                label = known.label(name)
                if label is not None:
                    found.setdefault(name, label)
                    break
    return found


def _occurrences(text: str, name: str) -> Iterator[int]:
    """Where `name` occurs in `text` as whole words (as _pattern matches it), without compiling a pattern."""
    start = text.find(name)
    while start >= 0:
        if _STARTS_NAME.match(text, start) and _ENDS_NAME.match(text, start + len(name)):
            yield start
        start = text.find(name, start + 1)


def _untagged(read: Sequence[tuple[str, Sequence[Span]]], found: dict[str, str]) -> set[str]:
    """The known names of `found` ({name: label}) that the model read in `read` ((text, the model's entities in
    it) pairs; as whole names, see _matches) without once tagging them there as a name of their own: evidence that
    it does not tag them in every context, so matching them everywhere would add mentions that full-text NER does
    not ("Crime Stoppers")."""
    seen: set[str] = set()
    tagged: set[str] = set()
    for text, spans in read:
        for name, label in found.items():
            display = None
            for start in _occurrences(text, name):
                end = start + len(name)
                if _inside_longer_name(text, start, end):
                    continue
                display = display or entities.display_name(name, label)
                covering = (e for e in spans if e.start_char <= start and end <= e.end_char)
                if any(entities.display_name(e.text, e.label_) == display for e in covering):
                    tagged.add(name)
                else:
                    seen.add(name)
    return seen - tagged


_CAP_RUN = re.compile(r"(?:[A-Z][\w'\u2019.\-]*(?:\s+(?:of|the|de|al|bin|van|von|for|and)\s+|\s+)?)+")
