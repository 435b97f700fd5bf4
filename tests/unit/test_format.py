"""How the story desk words times, delays, leads and entities (services.api.pages.format; pure), and what a
story card tells the page's script."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from services.api.pages import format as fmt
from services.api.pages.render import templates
from services.api.pages.river import Card
from services.api.schemas import StorySummary

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_relative_times_read_as_a_person_says_them() -> None:
    assert fmt.relative_time(NOW - timedelta(seconds=10), NOW) == "just now"
    assert fmt.relative_time(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert fmt.relative_time(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert fmt.relative_time(NOW - timedelta(hours=30), NOW) == "yesterday"
    assert fmt.relative_time(NOW - timedelta(days=4), NOW) == "4 days ago"
    assert fmt.relative_time(NOW - timedelta(days=400), NOW) == "25 Jan 2025"
    assert fmt.relative_time(NOW + timedelta(minutes=5), NOW) == "in 5 min"
    assert fmt.relative_time((NOW - timedelta(minutes=2)).timestamp(), NOW) == "2 min ago", "Unix times too"
    assert fmt.relative_time(None, NOW) == "never"


def test_delays_and_durations() -> None:
    assert fmt.delay(30) == "within a minute"
    assert fmt.delay(12 * 60) == "12 min later"
    assert fmt.delay(2 * 3600 + 5 * 60) == "2 h 5 min later"
    assert fmt.delay(-180) == "3 min before"
    assert fmt.delay(None) == "time unknown"
    assert fmt.duration(3 * 86400) == "3 days"


def test_the_lead_is_the_description_when_it_says_more_than_the_headline_else_the_first_sentences() -> None:
    text = "First sentence of the body. " * 30
    assert fmt.lead("A standfirst that tells the reader what happened.", text, "Headline") == \
        "A standfirst that tells the reader what happened."
    assert fmt.lead("Headline", text, "Headline").startswith("First sentence of the body. First")
    assert fmt.lead("First sentence of the body. First sen", text, "").startswith("First sentence of the body. First "
                                                                           "sentence of the body."), \
        "a description that is the text cut short gives way to the text's sentences"
    cut = fmt.lead(None, text, "")
    assert len(cut) <= fmt.LEAD_CHARS and cut.endswith("body."), "cut at a sentence end"
    long_sentence = "word " * 200
    assert fmt.lead(None, long_sentence).endswith("…") and len(fmt.lead(None, long_sentence)) <= fmt.LEAD_CHARS + 1


def test_entity_names_and_kinds() -> None:
    assert fmt.entity_name("person:qassem soleimani") == "Qassem Soleimani"
    assert fmt.entity_name("org:nato", {"org:nato": "NATO"}) == "NATO"
    assert fmt.entity_kind("gpe:moscow") == "place" and fmt.entity_kind("org:irgc") == "organisation"
    assert fmt.is_entity_key("person:qassem soleimani")
    assert not fmt.is_entity_key("Soleimani") and not fmt.is_entity_key("Note: a name") and not fmt.is_entity_key(":x")


def test_a_card_tells_two_updates_within_one_second_apart() -> None:
    # The river's script replaces a card on screen only when data-updated changed: a re-post joining in the
    # same second as the report before it must still reach the screen (it once stayed at "0 copies").
    card = templates.env.get_template("macros.html").module.card  # type: ignore[attr-defined]
    at = datetime(2026, 12, 7, 8, 7, 45, 20_000, tzinfo=UTC)

    def rendered(last_updated: datetime, copies: int) -> str:
        story = StorySummary(id="c1", title="Port Alba quake", first_seen=at, last_updated=last_updated, size=4,
                             copies=copies, outlets=["a.example"], entities=[])
        match = re.search(r'data-updated="([^"]+)"', str(card(Card(story=story), at)))
        assert match is not None
        return match.group(1)

    assert rendered(at, 0) != rendered(at.replace(microsecond=998_000), 1)
    assert rendered(at, 0) == rendered(at, 0)
