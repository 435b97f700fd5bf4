"""The key fragmentation measure of `wirewatch eval entities` (pure part)."""

from __future__ import annotations

from services.common.messages import Entity
from services.evaluation.fragmentation import as_queried, fragmented, may_be_one, measure, surname


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
