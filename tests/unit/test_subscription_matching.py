"""The subscription predicate and the index choice: pure, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.keys import Keys
from services.common.messages import StoryEvent
from services.notifier.subscriptions import (
    Query,
    StoryFacts,
    Subscription,
    candidate_sets,
    index_entries,
    matches,
)
from services.notifier.webhooks.signing import generate_secret

SOLEIMANI = "person:qassem soleimani"
PUTIN = "person:vladimir putin"


def story(**overrides: Any) -> StoryFacts:
    base: dict[str, Any] = {
        "kind": "created", "cluster_id": "c1", "title": "Soleimani meets Putin in Moscow, sources say",
        "entities": frozenset({SOLEIMANI, PUTIN, "gpe:moscow"}), "outlets": frozenset({"reuters", "al jazeera"}),
        "size": 2, "independent_outlets": 2, "languages": frozenset({"en"}),
    }
    return StoryFacts(**{**base, **overrides})


@pytest.mark.parametrize(("query", "expected"), [
    (Query(entities=[SOLEIMANI]), True),
    (Query(entities=["PERSON:Qassem  Soleimani"]), True),  # keys are compared normalised
    (Query(entities=["person:donald trump"]), False),
    (Query(entities=["person:donald trump", PUTIN]), True),  # any
    (Query(entities=["person:donald trump", PUTIN], entities_mode="all"), False),
    (Query(entities=[SOLEIMANI, PUTIN], entities_mode="all"), True),
    (Query(entities=["Qassem Soleimani"]), True),  # a bare name matches any type with that name
    (Query(entities=["Moscow"]), True),
    (Query(entities=["org:moscow"]), False),  # a key names its type
    (Query(entities=["Soleimani"]), False),  # names are whole names, not parts
    (Query(entities=["Moscow", "person:donald trump"], entities_mode="all"), False),
])
def test_entities_by_key_or_name_any_or_all(query: Query, expected: bool) -> None:
    assert matches(query, story()) is expected


@pytest.mark.parametrize(("keywords", "expected"), [
    (["moscow"], True),
    (["MOSCOW"], True),
    (["meets putin"], True),  # a phrase: its words in a row
    (["Meets  PUTIN"], True),
    (["putin meets"], False),  # same words, other order
    (["put"], False),  # whole words only
    (["kremlin"], False),
    (["kremlin", "sources say"], True),  # any keyword
    (["moscow,"], True),  # punctuation is ignored
])
def test_keywords_and_phrases_in_the_title(keywords: list[str], expected: bool) -> None:
    assert matches(Query(keywords=keywords), story()) is expected


def test_keywords_also_match_the_article_text_but_not_across_title_and_text() -> None:
    facts = story(text="Iran's Quds Force commander travelled to the Kremlin.")
    assert matches(Query(keywords=["quds force"]), facts)
    assert matches(Query(keywords=["the kremlin"]), facts)
    assert not matches(Query(keywords=["say iran"]), facts), "a phrase does not run from the title into the text"
    assert not matches(Query(keywords=["quds force"]), story())


def test_outlets_are_any_of_and_case_insensitive() -> None:
    assert matches(Query(outlets=["Reuters"]), story())
    assert matches(Query(outlets=["BBC", "Al  Jazeera"]), story())
    assert not matches(Query(outlets=["BBC"]), story())


def test_languages_by_code_and_primary_subtag() -> None:
    assert matches(Query(languages=["EN"]), story())
    assert matches(Query(languages=["en"]), story(languages=frozenset({"en-gb"})))
    assert not matches(Query(languages=["en-gb"]), story())
    assert not matches(Query(languages=["de"]), story())
    assert not matches(Query(languages=["en"]), story(languages=frozenset())), "unknown language fails a filter"
    assert matches(Query(), story(languages=frozenset())), "no filter, no constraint"


def test_min_outlets_counts_independent_outlets() -> None:
    assert matches(Query(min_outlets=2), story())
    assert not matches(Query(min_outlets=3), story())
    assert not matches(Query(min_outlets=2), story(independent_outlets=1, size=5))


@pytest.mark.parametrize(("kind", "events", "expected"), [
    ("created", None, True), ("updated", None, True), ("merged", None, False),
    ("merged", ["merged"], True), ("created", ["updated"], False), ("updated", ["created", "updated"], True),
])
def test_events_default_to_created_and_updated(kind: str, events: list[str] | None, expected: bool) -> None:
    query = Query() if events is None else Query.model_validate({"events": events})
    assert matches(query, story(kind=kind)) is expected


def test_criteria_combine_with_and() -> None:
    query = Query(entities=[SOLEIMANI], keywords=["moscow"], outlets=["reuters"], min_outlets=2, languages=["en"])
    assert matches(query, story())
    assert not matches(query.model_copy(update={"outlets": ["bbc"]}), story())
    assert not matches(query.model_copy(update={"keywords": ["tehran"]}), story())


@pytest.mark.parametrize("body", [
    {"keywords": ["!!!"]}, {"entities": ["x" * 300]}, {"events": []}, {"events": ["deleted"]},
    {"min_outlets": 0}, {"entities_mode": "some"}, {"entity": ["typo"]}, {"keywords": ["k"] * 101},
])
def test_invalid_queries_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Query.model_validate(body)


def test_query_values_are_normalised_and_deduplicated() -> None:
    query = Query(entities=[" Qassem Soleimani ", "qassem soleimani", ""], keywords=["Big  News"],
                  events=["created", "created"])
    assert query.entities == ["qassem soleimani"]
    assert query.keywords == ["big news"]
    assert query.events == ["created"]


def test_facts_from_a_story_event() -> None:
    event = StoryEvent(kind="updated", cluster_id="c9", article_id="a1", title="Putin and Soleimani", size=3,
                       outlets=["Reuters", "TASS", "Reuters"], entities=[PUTIN], at=datetime.now(UTC))
    facts = StoryFacts.from_event(event, article_title="Kremlin talks", article_text="The Quds Force chief.",
                                  language="en", outlet="Al Jazeera")
    assert facts.kind == "updated" and facts.cluster_id == "c9" and facts.size == 3
    assert facts.outlets == {"reuters", "tass", "al jazeera"}
    assert facts.independent_outlets == 3, "an event without the count: its distinct outlets"
    counted = event.model_copy(update={"independent_outlets": 1})
    assert StoryFacts.from_event(counted).independent_outlets == 1, "copies do not count as outlets"
    assert not matches(Query(min_outlets=2), StoryFacts.from_event(counted))
    assert facts.entities == {PUTIN} and facts.entity_names == {"vladimir putin"}
    assert matches(Query(keywords=["quds force"], languages=["en"]), facts)
    assert matches(Query(keywords=["kremlin talks"]), facts)


def test_subscription_validates_target_url_and_secret() -> None:
    now = datetime.now(UTC)
    sub = Subscription(id="s", target_url="HTTPS://Hooks.Example:443/x#frag", secret=generate_secret(),
                       query=Query(), created_at=now)
    assert sub.target_url == "https://hooks.example/x"
    assert sub.secret.startswith("whsec_")
    for bad_url in ("ftp://hooks.example/", "file:///etc/passwd", "http://user:pw@hooks.example/", "not a url"):
        with pytest.raises(ValidationError):
            Subscription(id="s", target_url=bad_url, secret=generate_secret(), query=Query(), created_at=now)
    for bad_secret in ("secret", "whsec_not*base64", "whsec_c2hvcnQ="):
        with pytest.raises(ValidationError):
            Subscription(id="s", target_url="https://h.example/", secret=bad_secret, query=Query(), created_at=now)
    assert generate_secret() != generate_secret()


def test_a_subscription_is_indexed_under_one_criterion_a_matching_story_always_hits() -> None:
    keys = Keys("p:")
    assert index_entries(keys, Query(entities=[SOLEIMANI, "Moscow"], keywords=["x"])) == [
        keys.subscription_index("ent", SOLEIMANI), keys.subscription_index("name", "moscow")]
    assert index_entries(keys, Query(keywords=["Meets Putin", "kremlin"], outlets=["bbc"])) == [
        keys.subscription_index("kw", "kremlin"), keys.subscription_index("kw", "meets")]
    assert index_entries(keys, Query(outlets=["BBC"])) == [keys.subscription_index("outlet", "bbc")]
    assert index_entries(keys, Query(min_outlets=3)) == [keys.subscriptions_broad]
    # Whatever matches is reachable from the story's sets.
    facts = story(text="Quds Force")
    sets = set(candidate_sets(keys, facts))
    for query in (Query(entities=["qassem soleimani"]), Query(keywords=["quds force"]), Query(outlets=["Reuters"]),
                  Query(), Query(entities=["gpe:moscow"], entities_mode="all")):
        assert matches(query, facts)
        assert sets.intersection(index_entries(keys, query))
