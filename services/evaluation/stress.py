"""The shared-actors stress replay (pure): dense news where every article names the same prominent actors.

A fortnight of politics coverage names the same head of state, capital and party in
every article, whatever the event; a country's shootings name the same governor and
state capital. The dev set has no such period, so this builds one from the dense
replay (services.evaluation.dense): within each dense window (a GVA month squeezed
into two days; an ECB+ topic on one day) every article gets the same three actors
(a head of state, a capital, a party) in one sentence added after its first
paragraph, and the entities a tagger would find for them. The actors rotate between
windows over a small pool, so each appears in a large share of the stream (like a
president) without being in all of it (which IDF would simply discount).

The events stay the gold labels: a store that joins articles because they name the
same president chains them here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol, TypeVar

from services.common.messages import Entity

#: (head of state, capital, party): fictional, so they never collide with the corpus's own names.
ACTORS = (
    ("Elena Marsh", "Calder City", "Unity Party"),
    ("Viktor Hallam", "Port Ellery", "National Alliance"),
    ("Amara Okafor", "New Brenton", "Civic Front"),
    ("Jonas Ferreira", "Lake Haven", "Progress Union"),
    ("Celia Vance", "Fort Ardmore", "People's League"),
    ("Tomas Riedel", "Westmere", "Reform Bloc"),
)
#: The sentence added to every article of a window.
SENTENCE = "President {person} said in {capital} that the {party} government was following events closely."


class Windowed(Protocol):
    """What the stress replay reads of a record (services.evaluation.stories.Labelled)."""

    @property
    def id(self) -> str: ...
    @property
    def corpus(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def topic(self) -> str | None: ...


R = TypeVar("R", bound=Windowed)


def window_of(record: Windowed) -> str:
    """The dense window of a record: its ECB+ topic, else its corpus and month (undated: the corpus)."""
    if record.topic is not None:
        return f"topic:{record.topic}"
    month = record.published.strftime("%Y-%m") if record.published is not None else "undated"
    return f"{record.corpus}:{month}"


def actors_of(window: str) -> tuple[str, str, str]:
    """The window's actors: a fixed pick from ACTORS (stable across runs and machines)."""
    n = int.from_bytes(hashlib.sha256(window.encode()).digest()[:4], "big")
    return ACTORS[n % len(ACTORS)]


def add_shared_actors(records: Sequence[R], entities: dict[str, list[Entity]],
                      ) -> tuple[list[R], dict[str, list[Entity]]]:
    """The records with their window's actor sentence added after the first paragraph, and their entities
    with the actors added (as the extractor would tag them)."""
    out: list[R] = []
    tagged: dict[str, list[Entity]] = {}
    for r in records:
        person, capital, party = actors_of(window_of(r))
        sentence = SENTENCE.format(person=person, capital=capital, party=party)
        head, sep, rest = r.text.partition("\n")
        text = f"{head}\n{sentence}{sep}{rest}" if sep else f"{head}\n{sentence}"
        at = len(head) + 1
        actors = [
            Entity(key=f"person:{person.lower()}", name=person, type="PERSON", count=1, first_position=at + 10),
            Entity(key=f"gpe:{capital.lower()}", name=capital, type="GPE", count=1, first_position=text.index(capital)),
            Entity(key=f"org:{party.lower()}", name=party, type="ORG", count=1, first_position=text.index(party)),
        ]
        own = entities.get(r.id, [])
        known = {e.key for e in own}
        tagged[r.id] = [*own, *(a for a in actors if a.key not in known)]
        out.append(replace(r, text=text))  # type: ignore[type-var]
    return out, tagged
