"""Spokespeople (services.store.spokespeople) and the join features that leave them out."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.messages import Article, Entity
from services.store.placement import prepare
from services.store.spokespeople import spokespeople


def person(name: str) -> Entity:
    return Entity(key=f"person:{name.lower()}", name=name, type="PERSON", count=1, first_position=0)


ESTRADA, SEDEVIC, DOE, SMITH = person("Jose Estrada"), person("Janel Sedevic"), person("Jane Doe"), person("Tom Smith")


def test_the_role_before_or_after_the_name_makes_a_spokesperson() -> None:
    text = ("Two men were shot, said Officer Janel Sedevic, a Chicago Police spokeswoman. Tom Smith, 19, was "
            "taken to a hospital. News Affairs Officer Jose Estrada said nobody was in custody.")
    assert spokespeople(text, [ESTRADA, SEDEVIC, SMITH]) == {"person:jose estrada", "person:janel sedevic"}
    assert spokespeople("Police spokesman Jose Estrada said the boy was 15.", [ESTRADA]) == {"person:jose estrada"}


def test_the_one_spoken_for_or_a_text_without_a_role_names_none() -> None:
    assert spokespeople("A spokesman for Jane Doe declined to comment.", [DOE]) == frozenset()
    assert spokespeople("Jane Doe, a teacher, said a spokesman called.", [DOE]) == frozenset()
    assert spokespeople("Jose Estrada said the boy was 15.", [ESTRADA]) == frozenset()
    surname_only = Entity(key="person:estrada", name="Estrada", type="PERSON", count=1, first_position=0)
    assert spokespeople("Estrada, a police spokesman, said so.", [surname_only]) == frozenset()


def test_a_spokesperson_is_left_out_of_what_placement_compares_but_stays_on_the_article() -> None:
    article = Article(
        id="a1", url="https://o.example/a1", outlet="o.example", title="Teen shot in Austin",
        text="A teen was shot, said Officer Jose Estrada, a police spokesman. Tom Smith saw it.",
        language="en", entities=[ESTRADA, SMITH], fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    compared = prepare(article).terms.entity_keys.values()
    assert "person:tom smith" in compared and "person:jose estrada" not in compared
    assert [e.key for e in article.entities] == ["person:jose estrada", "person:tom smith"]
