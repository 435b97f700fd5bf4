"""Which in-article aliases the alias table may learn (pure rules; the table itself is tested against Redis)."""

from __future__ import annotations

from services.common.messages import Entity
from services.extractor.aliases import learnable_aliases, person_forms, person_tails, surname_mate


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


def test_a_person_key_may_be_a_known_person_behind_words_glued_in_front() -> None:
    assert person_tails("person:colts qb andrew luck") == [
        "person:qb andrew luck", "person:andrew luck"]
    assert person_tails("person:andrew luck") == [], "two words: nothing glued"
    assert person_tails("person:howard county sheriff") == [], "institution words are no person"
    assert person_tails("person:michael thomas jr.") == [], "a generational suffix is no surname"
    # another type than a place: only behind a title or rank
    assert person_tails("org:carolina panthers qb cam newton") == ["person:cam newton"]
    # behind no title: marked for the table to check that the tail's first word is someone's first name
    assert person_tails("org:victims shane newland") == ["?person:shane newland"]
    assert person_tails("org:broward crime stoppers") == ["?person:crime stoppers"]
    assert person_tails("org:broward county sheriff office") == [], "institution words are no person"
    assert person_tails("gpe:new york city mayor bill de blasio") == [], "a place keeps its name"


def test_a_one_word_name_of_another_type_is_paired_with_the_one_person_who_bears_it() -> None:
    palin, sarah = entity("gpe:palin"), entity("person:sarah palin")
    assert surname_mate(palin, [palin, sarah]) == "person:sarah palin"
    assert surname_mate(palin, [palin, sarah, entity("person:todd palin")]) == "", "two Palins: neither"
    assert surname_mate(sarah, [palin, sarah]) == "", "a person needs no mate"
    assert surname_mate(entity("gpe:alaska"), [palin, sarah]) == ""
    kissimmee = entity("gpe:kissimmee")
    assert surname_mate(kissimmee, [kissimmee, entity("person:florida hospital kissimmee")]) == "", (
        "a 'person' made of institution words is no person")
    junior = entity("gpe:jr.")
    assert surname_mate(junior, [junior, entity("person:martinez jr.")]) == ""
    cochran = entity("org:cochran")
    assert surname_mate(cochran, [cochran, entity("person:douglas cochran jr.")]) == "person:douglas cochran jr.", (
        "the surname is read behind a generational suffix")


def test_a_name_without_its_generational_suffix_is_learned() -> None:
    harmon = entity("person:anthony harmon jr.", "person:anthony harmon")
    assert learnable_aliases(harmon) == ["person:anthony harmon"]
    # not the other way round: "Anthony Harmon" teaches nothing about a Jr.
    assert learnable_aliases(entity("person:anthony harmon", "person:anthony harmon jr.")) == []


def test_a_key_of_another_type_may_be_a_persons_full_name_by_first_and_last_name() -> None:
    assert person_forms("org:jason brian holt") == ["person:jason holt"]
    assert person_forms("product:ethan payne") == ["person:ethan payne"]
    assert person_forms("person:jason holt") == [], "a person already"
    assert person_forms("org:fire department") == [], "institution words are no person"
    assert person_forms("gpe:new york") == [], "a US state keeps its name"
    assert person_forms("org:mozilla") == [], "one word is no full name"
    assert person_forms("org:1st cavalry division") == [], "no name words"
