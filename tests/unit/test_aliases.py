"""Which in-article aliases the alias table may learn (pure rules; the table itself is tested against Redis)."""

from __future__ import annotations

from services.common.messages import Entity
from services.extractor.aliases import learnable_aliases


def entity(key: str, *aliases: str) -> Entity:
    return Entity(key=key, name=key.split(":", 1)[1].title(), type=key.split(":")[0].upper(), count=1,
                  first_position=0, aliases=list(aliases))


def test_a_surname_is_learned_a_first_name_is_not() -> None:
    assert learnable_aliases(entity("person:qassem soleimani", "person:soleimani", "person:qassem")) == [
        "person:soleimani"]


def test_a_tail_of_a_longer_name_is_learned() -> None:
    assert learnable_aliases(entity("person:bashar hafez assad", "person:hafez assad", "person:assad")) == [
        "person:hafez assad", "person:assad"]


def test_other_types_are_never_learned() -> None:
    # "Jordan" tagged as a place once Michael Jordan is known must not turn the country into him.
    assert learnable_aliases(entity("person:michael jordan", "gpe:jordan", "loc:jordan")) == []
    assert learnable_aliases(entity("org:fars news agency", "person:fars")) == []


def test_organisation_acronyms_and_long_names_are_learned_both_ways() -> None:
    assert learnable_aliases(entity("org:irgc", "org:islamic revolutionary guard corps")) == [
        "org:islamic revolutionary guard corps"]
    assert learnable_aliases(entity("org:fars news agency", "org:fars")) == ["org:fars"]


def test_an_alias_equal_to_the_key_or_empty_is_ignored() -> None:
    assert learnable_aliases(entity("gpe:iran", "gpe:iran", "gpe:")) == []
