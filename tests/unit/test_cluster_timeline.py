"""A story's timeline: when each outlet joined, and whether with its own report or a copy (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.api.routes.stories import timeline
from services.store.repository import StoredStory, StoryMember

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def member(mid: str, outlet: str, minutes: int | None, copy_of: str | None = None) -> StoryMember:
    return StoryMember(id=mid, outlet=outlet, title=mid, url=f"https://{outlet}/{mid}",
                         published_at=T0 + timedelta(minutes=minutes) if minutes is not None else None,
                         copy_of=copy_of)


def test_each_outlet_appears_once_at_its_first_article_earliest_first() -> None:
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=5, outlets=["w", "a", "b", "c"],
                            members=[member("a2", "a", 30), member("w1", "wire", 0), member("a1", "a", 10, "w1"),
                                     member("b1", "b", 20), member("c1", "c", None)])
    assert [(t.outlet, t.article_id, t.kind) for t in timeline(story)] == [
        ("wire", "w1", "report"), ("a", "a1", "copy"), ("b", "b1", "report"), ("c", "c1", "report")]
