"""Finding an entity by any name (pure lookup over a view of the alias table)."""

from __future__ import annotations

from services.extractor.lookup import (
    INDEX_SEPARATOR,
    PRIMARY_RATIO,
    AmbiguousName,
    canonical_key,
    index_members,
    lookup,
    probe_keys,
    surname_probe,
)

ALIASES = {
    "person:soleimani": "person:qassem soleimani",
    "gpe:soleimani": "person:soleimani",  # a type repair, then the surname
    "person:putin": "person:vladimir putin",
    "org:fars": "org:fars news agency",
    "org:iranian revolutionary guard": "org:irgc",
    "person:jordan": "person:michael jordan",
    "person:khamenei": "person:ali khamenei",
}
NAMES = {
    "person:qassem soleimani": "Qassem Soleimani", "person:vladimir putin": "Vladimir Putin",
    "org:fars news agency": "Fars news agency", "org:irgc": "Islamic Revolutionary Guard Corps",
    "gpe:jordan": "Jordan", "person:michael jordan": "Michael Jordan", "person:ali khamenei": "Ali Khamenei",
    "person:sarah palin": "Sarah Palin", "person:bashar assad": "Bashar al-Assad",
}
ARTICLES = {"gpe:jordan": 40, "person:michael jordan": 12, "person:qassem soleimani": 3}
FORMS = {"org:revolutionary guard": "org:irgc"}


def find(query: str) -> str | None:
    return lookup(query, aliases=ALIASES, names=NAMES, articles=ARTICLES, forms=FORMS).key


def test_a_key_resolves_through_the_aliases() -> None:
    assert find("person:qassem soleimani") == "person:qassem soleimani"
    assert find("person:soleimani") == "person:qassem soleimani"
    assert find("  GPE:Soleimani ") == "person:qassem soleimani"  # two hops, any case and spacing
    assert find("person:nobody known") is None


def test_a_name_a_surname_or_a_titled_name() -> None:
    assert find("Soleimani") == "person:qassem soleimani"
    assert find("Qassem Soleimani") == "person:qassem soleimani"
    assert find("Gen. Qassem Soleimani") == "person:qassem soleimani"
    assert find("President Putin") == "person:vladimir putin"
    assert find("Putin") == "person:vladimir putin"
    assert find("Ayatollah Khamenei") == "person:ali khamenei"
    assert find("Bashar al-Assad") == "person:bashar assad"


def test_organisations_by_short_name_and_spelling_variant() -> None:
    assert find("Fars") == "org:fars news agency"
    assert find("the Fars News Agency") == "org:fars news agency"
    assert find("Iranian Revolutionary Guards") == "org:irgc"  # alias of a variant
    assert find("Revolutionary Guards") == "org:irgc"  # by match form
    assert find("IRGC") == "org:irgc"


def test_a_surname_no_article_used_alone_is_found_among_full_names() -> None:
    assert find("Palin") == "person:sarah palin"


def test_an_ambiguous_name_lists_its_candidates_most_articles_first() -> None:
    found = lookup("Jordan", aliases=ALIASES, names=NAMES, articles=ARTICLES, forms=FORMS)
    assert found.key is None and found.ambiguous
    assert [c.key for c in found.candidates] == ["gpe:jordan", "person:michael jordan"]
    assert [c.articles for c in found.candidates] == [40, 12]


def test_a_first_name_or_an_unknown_name_finds_nothing() -> None:
    assert lookup("Qassem", aliases=ALIASES, names=NAMES).candidates == ()
    assert lookup("", aliases=ALIASES, names=NAMES).key is None


def test_canonical_key_never_loops() -> None:
    assert canonical_key("a:x", {"a:x": "a:y", "a:y": "a:x"}) in {"a:x", "a:y"}


def test_probe_keys_are_what_lookup_reads() -> None:
    keys, forms = probe_keys("Revolutionary Guards")
    assert "org:revolutionary guards" in keys and "org:revolutionary guard" in forms
    assert probe_keys("person:Putin") == (["person:putin"], [])
    # lookup over only the probed keys finds what it finds over the whole table
    keys, forms = probe_keys("Soleimani")
    aliases = {k: v for k, v in ALIASES.items() if k in keys}
    targets = {canonical_key(k, ALIASES) for k in keys}
    assert lookup("Soleimani", aliases=ALIASES, names={t: NAMES[t] for t in targets if t in NAMES}).key == (
        "person:qassem soleimani")
    assert aliases


def test_a_key_the_table_does_not_know_is_looked_for_by_its_name_under_its_type() -> None:
    assert find("person:palin") == "person:sarah palin"  # a surname key never written alone
    assert find("gpe:palin") is None  # a place is never a person's surname
    assert find("org:revolutionary guards") == "org:irgc"  # by its match form


def test_a_leader_filed_far_more_often_than_the_other_candidates_takes_the_name() -> None:
    names = {"person:vladimir putin": "Vladimir Putin", "gpe:putin": "Putin"}
    aliases = {"person:putin": "person:vladimir putin"}
    found = lookup("Putin", aliases=aliases, names=names, articles={"person:vladimir putin": 300, "gpe:putin": 1})
    assert found.key == "person:vladimir putin" and not found.ambiguous
    assert [c.key for c in found.candidates] == ["person:vladimir putin", "gpe:putin"], "the others stay listed"
    close = lookup("Putin", aliases=aliases, names=names,
                   articles={"person:vladimir putin": PRIMARY_RATIO - 1, "gpe:putin": 1})
    assert close.key is None and close.ambiguous


def test_an_ambiguous_name_says_which_entities_it_may_be() -> None:
    found = lookup("Jordan", aliases=ALIASES, names=NAMES, articles=ARTICLES, forms=FORMS)
    message = str(AmbiguousName(found))
    assert "'Jordan' names several entities" in message
    assert "gpe:jordan (Jordan, 40 articles)" in message and "person:michael jordan (Michael Jordan, 12" in message


def test_the_surname_probe_is_one_word_of_a_person() -> None:
    assert surname_probe("Soleimani") == "soleimani"
    assert surname_probe("President Putin") == "putin"
    assert surname_probe("person:Soleimani") == "soleimani"
    assert surname_probe("gpe:soleimani") is None
    assert surname_probe("Qassem Soleimani") is None
    assert surname_probe("  ") is None


def test_index_members_are_every_tail_of_the_key_and_of_the_display_name() -> None:
    sep = INDEX_SEPARATOR
    assert index_members("person:bashar assad", "Bashar al-Assad") == [
        f"bashar assad{sep}person:bashar assad", f"assad{sep}person:bashar assad",
        f"bashar al-assad{sep}person:bashar assad", f"al-assad{sep}person:bashar assad"]
    assert index_members("person:putin", "") == [f"putin{sep}person:putin"]
    # all members of one term sort together, before any longer term that starts with it
    assert sorted([f"soleimani x{sep}a:b", f"soleimani{sep}person:z", f"soleimanis{sep}a:c"])[0] == (
        f"soleimani{sep}person:z")


def test_a_surname_also_names_the_people_who_bear_it_unless_the_table_tied_it_to_one() -> None:
    names = {"gpe:jordan": "Jordan", "person:michael jordan": "Michael Jordan", "person:matsuzaka": "Matsuzaka",
             "person:daisuke matsuzaka": "Daisuke Matsuzaka"}
    jordan = lookup("Jordan", aliases={}, names=names)
    assert jordan.ambiguous and {c.key for c in jordan.candidates} == {"gpe:jordan", "person:michael jordan"}
    matsuzaka = lookup("Matsuzaka", aliases={}, names=names)
    assert {c.key for c in matsuzaka.candidates} == {"person:matsuzaka", "person:daisuke matsuzaka"}
    # the table learned that "Soleimani" alone means Qassem: the chef who shares the surname is not asked about
    soleimani = lookup("Soleimani", aliases={"person:soleimani": "person:qassem soleimani"},
                       names={"person:qassem soleimani": "Qassem Soleimani", "person:ali soleimani": "Ali Soleimani"})
    assert soleimani.key == "person:qassem soleimani" and len(soleimani.candidates) == 1
