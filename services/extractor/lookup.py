"""Find an entity by any name: a key, a full name, a surname or any alias -> its canonical key.

Pure: `lookup` reads a view of the alias table (services.extractor.aliases) given as plain
mappings (aliases, display names, articles per key, match forms), so `AliasTable.lookup` can call it
with what it read from Redis (the API's `?entity=` and `GET /v1/entities/{name or key}`, the CLI's
`--entity` and `wirewatch entities show`, subscriptions' entities), and tests with dictionaries.

* A key ("person:putin", any case and spacing) resolves through the aliases when the table knows
  it (a display name, an article count or an alias); a key it does not know is looked for by its
  name under its own type ("person:soleimani" -> "person:qassem soleimani").
* A name is normalised as the extractor normalises mentions ("President Putin" -> "putin",
  "Bashar al-Assad" -> "bashar assad") and tried under every entity type; each key the table
  knows, directly, as an alias or by its match form ("Revolutionary Guards" ->
  "org:revolutionary guard"), is a candidate under its canonical key. A one-word name is also
  looked for as the surname of known people ("Palin" -> "Sarah Palin"; "Jordan" -> the country and
  "Michael Jordan"), unless it found a person's full name already (through an alias the table learned).
* One candidate: that is the entity. Several ("Jordan": the country and the player): the answer
  is ambiguous and lists them, most articles first, unless the leader was filed PRIMARY_RATIO times
  as often as all the others together (the model's type confusions: "gpe:putin" in one article
  beside "person:vladimir putin" in three hundred); the others are still listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.extractor.entities import ENTITY_TYPES, normalise_name
from services.extractor.resolve import match_form

__all__ = [
    "INDEX_SEPARATOR", "MAX_HOPS", "PRIMARY_RATIO", "AmbiguousName", "Candidate", "Lookup", "canonical_key",
    "index_members", "lookup", "probe_keys", "surname_probe",
]

#: Aliases followed from a key at most (the alias table's resolution and every reader's).
MAX_HOPS = 4
_KINDS = tuple(sorted(t.lower() for t in ENTITY_TYPES))
_PERSONLIKE = frozenset({"person", "gpe", "loc", "norp"})  # normalised with titles stripped
#: The leading candidate of a name wins outright when filed this many times as often as all the others.
PRIMARY_RATIO = 20
#: Between a name (or name tail) and the entity key in a member of the name index (below every printable
#: character, so all members of one name sort together: 'soleimani\x1f...' before 'soleimani x\x1f...').
INDEX_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Candidate:
    """An entity a query may name."""

    key: str
    name: str | None
    articles: int


@dataclass(frozen=True)
class Lookup:
    """What a query names: `key` when it names one entity, else None (unknown or ambiguous); the
    candidates, most articles first."""

    query: str
    key: str | None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def ambiguous(self) -> bool:
        """More than one entity fits and none stands out."""
        return self.key is None and len(self.candidates) > 1


class AmbiguousName(ValueError):
    """A name that stands for several entities: the caller must pick one of `candidates`."""

    def __init__(self, found: Lookup) -> None:
        listed = "; ".join(f"{c.key} ({c.name or '?'}, {c.articles} article{'' if c.articles == 1 else 's'})"
                           for c in found.candidates)
        super().__init__(f"{found.query!r} names several entities: {listed}; ask for one by its key")
        self.query = found.query
        self.candidates = found.candidates


def canonical_key(key: str, aliases: Mapping[str, str]) -> str:
    """`key` followed through the aliases (at most MAX_HOPS; never loops)."""
    for _ in range(MAX_HOPS):
        nxt = aliases.get(key)
        if not nxt or nxt == key:
            break
        key = nxt
    return key


def _as_key(query: str) -> str | None:
    kind, sep, name = query.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in _KINDS or not name.strip():
        return None
    return f"{kind}:{' '.join(name.casefold().split())}"


def probe_keys(query: str) -> tuple[list[str], list[str]]:
    """(entity keys, match forms) `lookup` may read for `query`: what a caller backed by Redis fetches
    (HMGET of aliases, names and articles for the keys, of forms for the forms, then the alias targets)
    before calling `lookup` with those alone; a key it does not know adds its name under its type. The
    surname search reads the people that `surname_probe` finds in the name index as well."""
    text = " ".join(query.split())
    as_key = _as_key(text) if text else None
    kinds = _KINDS
    if as_key is not None:
        kind, _, text = as_key.partition(":")
        kinds = (kind,)
    keys: list[str] = [as_key] if as_key else []
    found_forms: list[str] = []
    for kind in kinds:
        name = normalise_name(text, kind.upper() if kind in _PERSONLIKE else "ORG") if text else ""
        if name:
            key = f"{kind}:{name}"
            keys.append(key)
            form = match_form(key)
            if form:
                found_forms.append(form)
                keys.append(form)
    return list(dict.fromkeys(keys)), list(dict.fromkeys(found_forms))


def surname_probe(query: str) -> str | None:
    """The surname `lookup` looks for among known people when the query names no known key (a one-word
    name, or a person key of one word): the term a Redis-backed caller reads the name index for."""
    text = " ".join(query.split())
    as_key = _as_key(text) if text else None
    if as_key is not None:
        kind, _, text = as_key.partition(":")
        if kind != "person":
            return None
    surname = normalise_name(text, "PERSON") if text else ""
    return surname if surname and " " not in surname else None


def index_members(key: str, name: str) -> list[str]:
    """The name index's members for an entity key and its display name: every tail of the key's name and
    of the display name, lower case ("qassem soleimani", "soleimani"), each joined to the key."""
    terms: list[str] = []
    for written in (key.partition(":")[2], name.casefold()):
        words = written.split()
        for start in range(len(words)):
            term = " ".join(words[start:])
            if term not in terms:
                terms.append(term)
    return [f"{term}{INDEX_SEPARATOR}{key}" for term in terms]


def lookup(query: str, *, aliases: Mapping[str, str], names: Mapping[str, str],
           articles: Mapping[str, int] | None = None, forms: Mapping[str, str] | None = None) -> Lookup:
    """The entity `query` (a key or a name) names, given the alias table's aliases (alias -> key),
    display names (key -> name), articles per key and match forms (form -> key)."""
    counts = articles or {}
    known_forms = forms or {}

    def known(key: str) -> bool:
        return key in names or key in counts or key in aliases

    def candidate(key: str) -> Candidate:
        return Candidate(key, names.get(key), counts.get(key, 0))

    text = " ".join(query.split())
    if not text:
        return Lookup(query, None)
    as_key = _as_key(text)
    kinds = _KINDS
    if as_key is not None:
        if known(as_key):
            target = canonical_key(as_key, aliases)
            return Lookup(query, target, (candidate(target),))
        kind, _, text = as_key.partition(":")  # a key the table does not know: its name, under its type
        kinds = (kind,)
    found: dict[str, Candidate] = {}
    for kind in kinds:
        name = normalise_name(text, kind.upper() if kind in _PERSONLIKE else "ORG")
        if not name:
            continue
        key = f"{kind}:{name}"
        form = match_form(key)
        if known(key):
            target = canonical_key(key, aliases)
        elif form and form in known_forms:
            target = canonical_key(known_forms[form], aliases)
        elif form and known(form):  # "iranian revolutionary guards" -> "org:iranian revolutionary guard"
            target = canonical_key(form, aliases)
        else:
            continue
        found.setdefault(target, candidate(target))
    surname = surname_probe(query)
    # a surname also names the known people who bear it, unless a full name was found already (through an
    # alias the table learned: "Soleimani" -> "person:qassem soleimani", not every Soleimani)
    if surname and not any(k.startswith("person:") and " " in k for k in found):
        for key in names:
            kind, _, name = key.partition(":")
            if kind == "person" and key not in aliases and name.split()[-1:] == [surname]:
                found.setdefault(key, candidate(key))
    ranked = tuple(sorted(found.values(), key=lambda c: (-c.articles, c.key)))
    if not ranked:
        return Lookup(query, None)
    others = sum(c.articles for c in ranked[1:])
    chosen = len(ranked) == 1 or ranked[0].articles >= PRIMARY_RATIO * max(others, 1)
    return Lookup(query, ranked[0].key if chosen else None, ranked)
