"""Find an entity by any name: a key, a full name, a surname or any alias -> its canonical key.

Pure: `lookup` reads a view of the alias table (services.extractor.aliases) given as plain
mappings (aliases, display names, articles per key, match forms), so the API (`?entity=`,
`GET /v1/entities/{name or key}`) and the CLI (`--entity`, `wirewatch entities show`) can call it
with what they read from Redis, and tests with dictionaries.

* A key ("person:putin", any case and spacing) resolves through the aliases; it is found when
  the table knows it (a display name, an article count or an alias).
* A name is normalised as the extractor normalises mentions ("President Putin" -> "putin",
  "Bashar al-Assad" -> "bashar assad") and tried under every entity type; each key the table
  knows, directly, as an alias or by its match form ("Revolutionary Guards" ->
  "org:revolutionary guard"), is a candidate under its canonical key. A one-word name that is no
  known key is also looked for as the surname of known person keys ("Palin" -> "Sarah Palin").
* One candidate: that is the entity. Several ("Jordan": the country and the player): the
  answer is ambiguous and lists them, most articles first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.extractor.entities import ENTITY_TYPES, normalise_name
from services.extractor.resolve import match_form

__all__ = ["MAX_HOPS", "Candidate", "Lookup", "canonical_key", "lookup", "probe_keys"]

MAX_HOPS = 4  # as the alias table (services.extractor.aliases.MAX_HOPS)
_KINDS = tuple(sorted(t.lower() for t in ENTITY_TYPES))
_PERSONLIKE = frozenset({"person", "gpe", "loc", "norp"})  # normalised with titles stripped


@dataclass(frozen=True)
class Candidate:
    """An entity a query may name."""

    key: str
    name: str | None
    articles: int


@dataclass(frozen=True)
class Lookup:
    """What a query names: `key` when it names one entity, else None (unknown or ambiguous)."""

    query: str
    key: str | None
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def ambiguous(self) -> bool:
        """More than one entity fits."""
        return len(self.candidates) > 1


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
    before calling `lookup` with those alone. The surname search over every person key needs the whole
    names hash; without it a one-word name finds what the aliases know."""
    text = " ".join(query.split())
    as_key = _as_key(text) if text else None
    if as_key is not None:
        return [as_key], []
    keys: list[str] = []
    found_forms: list[str] = []
    for kind in _KINDS:
        name = normalise_name(text, kind.upper() if kind in _PERSONLIKE else "ORG") if text else ""
        if name:
            key = f"{kind}:{name}"
            keys.append(key)
            form = match_form(key)
            if form:
                found_forms.append(form)
                keys.append(form)
    return keys, found_forms


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
    if as_key is not None:
        if not known(as_key):
            return Lookup(query, None)
        target = canonical_key(as_key, aliases)
        return Lookup(query, target, (candidate(target),))
    found: dict[str, Candidate] = {}
    for kind in _KINDS:
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
    surname = normalise_name(text, "PERSON")
    if not found and surname and " " not in surname:
        for key in names:
            kind, _, name = key.partition(":")
            if kind == "person" and key not in aliases and name.split()[-1:] == [surname]:
                found.setdefault(key, candidate(key))
    ranked = tuple(sorted(found.values(), key=lambda c: (-c.articles, c.key)))
    return Lookup(query, ranked[0].key if len(ranked) == 1 else None, ranked)
