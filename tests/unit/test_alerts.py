"""When a subscriber hears about a story (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.messages import StoryEvent
from services.notifier.alerts import Alert, StorySnapshot, decide, webhook_id

AT = datetime(2026, 11, 24, tzinfo=UTC)


def event(kind: str = "updated", *, independent: int = 1, copies: int = 0, title: str = "Harbour fire",
          article: str = "a1", copy_of: str | None = None, merged_into: str | None = None,
          minutes: int = 1) -> StoryEvent:
    return StoryEvent.model_validate(dict(kind=kind, cluster_id="c1", article_id=article, merged_into=merged_into,
                                          title=title,
                                          size=independent + copies,
                                          outlets=[f"o{i}" for i in range(independent + copies)],
                                          entities=["gpe:port alba"], independent_outlets=independent,
                                          copies=copies, article_copy_of=copy_of,
                                          at=AT + timedelta(minutes=minutes)))


def alert(previous: StorySnapshot | None, e: StoryEvent) -> Alert:
    found = decide(previous, e)
    assert found is not None
    return found


def test_the_first_match_is_created_whatever_the_event() -> None:
    assert alert(None, event("created")).kind == "story.created"
    assert alert(None, event("updated", independent=3)).kind == "story.created"


def test_updates_fire_only_on_real_changes() -> None:
    told = StorySnapshot.of(event(independent=2, minutes=0))
    assert decide(told, event(independent=2, article="a3")) is None, "another article, nothing new"
    assert alert(told, event(independent=3)).reasons == ("more_outlets",)
    assert alert(told, event(independent=2, copies=1, copy_of="a1")).reasons == ("first_pickup",)
    assert alert(told, event(independent=2, title="Harbour fire spreads")).reasons == ("headline",)
    assert "merged" in alert(told, event("merged", independent=2, merged_into="c0")).reasons


def test_copies_never_fire_on_their_own_beyond_the_first_pickup() -> None:
    told = StorySnapshot.of(event(independent=1, copies=1, minutes=0))
    for n in range(2, 20):  # the wire story re-posted by eighteen more outlets
        assert decide(told, event(independent=1, copies=n, article=f"copy{n}", copy_of="a1")) is None


def test_webhook_ids_are_stable_per_subscription_story_and_event() -> None:
    e = event()
    assert webhook_id("s1", e) == webhook_id("s1", e)
    assert webhook_id("s1", e) != webhook_id("s2", e)
    assert webhook_id("s1", e) != webhook_id("s1", event(article="a2"))


def test_snapshots_round_trip() -> None:
    snap = StorySnapshot.of(event(independent=2, copies=1))
    assert StorySnapshot.loads(snap.dumps()) == snap


def test_an_event_no_newer_than_what_was_told_earns_nothing() -> None:
    told = StorySnapshot.of(event(independent=3, minutes=5))
    assert decide(told, event(independent=1, title="Older headline", minutes=2)) is None, "a replayed older event"
    assert decide(told, event(independent=4, minutes=5)) is None


def test_subscribers_get_only_the_kinds_of_event_they_asked_for() -> None:
    from services.notifier.alerts import wanted

    created, more, merged_only = Alert("story.created", ("first_match",)), Alert("story.updated", ("more_outlets",)), \
        Alert("story.updated", ("merged",))
    assert wanted(created, ["created"]) and not wanted(created, ["updated", "merged"])
    assert wanted(more, ["updated"]) and not wanted(more, ["created", "merged"])
    assert wanted(merged_only, ["merged"]) and not wanted(merged_only, ["updated"])
