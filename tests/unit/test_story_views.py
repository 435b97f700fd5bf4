"""The API's whole-story view (services.api.schemas.story_public): every member once, originals then copies (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.api.schemas import story_public, story_summary
from services.store.repository import StoredStory, StoryMember

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def member(mid: str, minutes: int, copy_of: str | None = None) -> StoryMember:
    return StoryMember(id=mid, outlet=f"{mid}.example", title=mid, url=f"https://{mid}.example/",
                       published_at=T0 + timedelta(minutes=minutes), copy_of=copy_of)


def test_members_come_as_originals_each_followed_by_its_copies_then_those_under_no_report() -> None:
    members = [member("late", 30), member("copy-b", 25, "wire"), member("orphan", 1, "gone"), member("wire", 0),
               member("copy-a", 5, "wire"), member("copy-of-copy", 9, "copy-a")]
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=6, outlets=[], members=members)
    view = story_public(story)
    assert [m.id for m in view.members] == ["wire", "copy-a", "copy-b", "late", "orphan", "copy-of-copy"]
    assert view.originals == ["wire", "late"] and view.earliest_publisher == "wire.example"
    assert story_summary(story).lead_article == "wire"


def test_a_story_of_thousands_of_members_is_viewed_whole() -> None:
    members = [member(f"m{i}", i, copy_of=f"m{i - 1}" if i % 2 else None) for i in range(4000)]
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=4000, outlets=[], members=members)
    view = story_public(story)
    assert [m.id for m in view.members] == [f"m{i}" for i in range(4000)]
    assert len(view.reports) == 2000 and all(len(r.copies) == 1 for r in view.reports)
