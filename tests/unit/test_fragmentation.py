"""The key fragmentation measure of `wirewatch eval entities` (pure part)."""

from __future__ import annotations

from services.common.messages import Entity
from services.evaluation.fragmentation import (
    as_queried,
    fragmented,
    may_be_one,
    measure,
    place_evidence,
    surname,
    two_entities,
)
from services.evaluation.stories import Labelled


def test_surname_of_person_keys_only() -> None:
    assert surname("person:qassem soleimani") == "soleimani"
    assert surname("person:brian posley jr.") == "posley"
    assert surname("gpe:soleimani") is None


def test_what_may_be_one_entity() -> None:
    assert may_be_one("person:qassem soleimani", "loc:soleimani")  # a surname under another type
    assert may_be_one("person:qassem soleimani", "org:iranian revolutionary guards' soleimani")  # glued
    assert may_be_one("person:karen b. olson", "person:karen olson")  # a middle initial
    assert may_be_one("org:jason varitek", "person:jason varitek")  # one name, two types
    assert not may_be_one("person:mary smith", "person:john smith")  # two people of one family
    assert not may_be_one("person:james glass jr.", "person:james glass sr.")  # father and son
    assert not may_be_one("org:betty ford center", "org:cliffside rehab center")


def test_measure_counts_story_name_pairs() -> None:
    stories = {
        "a": [["person:qassem soleimani", "gpe:iran"], ["loc:soleimani", "person:vladimir putin"],
              ["person:vladimir putin"]],
        "b": [["person:mary smith", "person:john smith"]],
    }
    f = measure(stories)
    assert (f.pairs, f.fragmented) == (3, 1)  # (a, soleimani) split; (a, putin) and (b, smith) are not
    assert (f.multi_article_pairs, f.multi_article_fragmented) == (2, 1)
    assert f.examples == [("a", "soleimani", ["loc:soleimani", "person:qassem soleimani"])]
    assert not fragmented(["person:mary smith"])


def test_as_queried_puts_each_key_through_the_final_table() -> None:
    final = {"a1": [Entity(key="person:nixon", name="Nixon", type="PERSON", count=1, first_position=0)],
             "a2": [Entity(key="gpe:moscow", name="Moscow", type="GPE", count=1, first_position=0)]}
    seen = as_queried(final, {"person:nixon": "person:richard nixon"})
    assert [e.key for e in seen["a1"]] == ["person:richard nixon"] and [e.key for e in seen["a2"]] == ["gpe:moscow"]


def test_a_place_with_its_own_evidence_and_a_person_sharing_its_name_are_two_entities() -> None:
    places = frozenset({"gpe:jordan", "gpe:salinas", "fac:76 partridge drive"})
    assert two_entities("gpe:jordan", "person:eddie jordan", places)  # the country and a person
    assert two_entities("person:mark salinas", "gpe:salinas", places)
    assert not two_entities("gpe:soleimani", "person:qassem soleimani", places), "no evidence of a place"
    assert not two_entities("fac:76 partridge drive", "person:partridge drive", places), "one street"
    assert not two_entities("gpe:salinas", "person:trendy salinas", places, frozenset({"trendy"})), (
        "a first word the texts write in lower case: no person")
    assert not two_entities("gpe:jordan", "org:jordan", places)
    stories = {"a": [["gpe:jordan", "person:eddie jordan"], ["loc:soleimani", "person:qassem soleimani"]]}
    raw, apart = measure(stories), measure(stories, places={"a": frozenset({"gpe:jordan"})})
    assert (raw.pairs, raw.fragmented) == (2, 2)  # the raw figure counts both
    assert (apart.pairs, apart.fragmented) == (2, 1)  # only Soleimani is a split
    assert apart.excluded == [("a", "jordan", ["gpe:jordan", "person:eddie jordan"])]
    assert fragmented(["gpe:jordan", "person:eddie jordan"]) and not fragmented(
        ["gpe:jordan", "person:eddie jordan"], frozenset({"gpe:jordan"}))


def article(rid: str, text: str, story: str = "s") -> Labelled:
    return Labelled(id=rid, corpus="gva", outlet="o", url=f"urn:{rid}", title="", text=text, published=None,
                    cluster=story, order=0)


def test_place_evidence_is_a_country_a_locative_word_or_a_state_after_a_comma() -> None:
    def ent(key: str, name: str) -> Entity:
        return Entity(key=key, name=name, type=key.split(":")[0].upper(), count=1, first_position=0)

    records = [article("1", "He was shot in Salinas on Monday."), article("2", "Police in Tyler, Texas, said so."),
               article("3", "Amman is the capital of Jordan."), article("4", "He shot at Barfield. Near Gibson."),
               article("5", "In Zawahri's bedroom and in the Penix family; a run-in Lowery had.")]
    final = {"1": [ent("gpe:salinas", "Salinas")], "2": [ent("gpe:tyler", "Tyler")], "3": [ent("gpe:jordan", "Jordan")],
             "4": [ent("gpe:barfield", "Barfield"), ent("gpe:gibson", "Gibson")],
             "5": [ent("gpe:zawahri", "Zawahri"), ent("gpe:penix", "Penix"), ent("gpe:lowery", "Lowery")]}
    assert place_evidence(records, final) == {"s": frozenset({"gpe:salinas", "gpe:tyler", "gpe:jordan"})}
