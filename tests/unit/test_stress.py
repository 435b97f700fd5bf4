"""The shared-actors stress replay (services.evaluation.stress)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.messages import Entity
from services.evaluation.stress import actors_of, add_shared_actors, window_of


@dataclass(frozen=True)
class Rec:
    id: str
    corpus: str
    text: str
    published: datetime | None
    topic: str | None = None


def test_every_article_of_a_window_names_the_same_actors_and_carries_their_entities() -> None:
    march = datetime(2015, 3, 1, tzinfo=UTC)
    recs = [Rec("a", "gva", "First para.\n\nSecond.", march), Rec("b", "gva", "One line only.", march),
            Rec("c", "ecbplus", "Quake hits.", None, "t1")]
    own = Entity(key="person:smith", name="Smith", type="PERSON", count=1, first_position=0)
    out, entities = add_shared_actors(recs, {"a": [own]})
    person, capital, party = actors_of(window_of(recs[0]))
    assert window_of(recs[0]) == window_of(recs[1]) != window_of(recs[2])
    assert out[0].text.startswith("First para.\n") and person in out[0].text and out[0].text.endswith("Second.")
    assert capital in out[1].text and party in out[1].text
    assert entities["a"][0] == own
    assert {e.key for e in entities["a"]} - {own.key} == {e.key for e in entities["b"]} == {
        f"person:{person.lower()}", f"gpe:{capital.lower()}", f"org:{party.lower()}"}
    for r, found in zip(out, [entities["a"][1:], entities["b"]], strict=False):
        for e in found:
            assert r.text[e.first_position:].startswith(e.name)
