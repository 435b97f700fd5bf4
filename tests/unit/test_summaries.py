"""Read views of stories (services.store.summaries): timeline, listing filter (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.store.repository import StoredStory, StoryMember
from services.store.summaries import (
    StoryFilter,
    copy_graph,
    copy_only_outlets,
    independent_outlets,
    lead_report,
    timeline,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def member(mid: str, outlet: str, minutes: int | None, copy_of: str | None = None,
           language: str | None = None) -> StoryMember:
    return StoryMember(id=mid, outlet=outlet, title=mid, url=f"https://{outlet}/{mid}",
                       published_at=T0 + timedelta(minutes=minutes) if minutes is not None else None,
                       copy_of=copy_of, language=language)


def test_each_outlet_appears_once_at_its_first_article_earliest_first() -> None:
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=5, outlets=["w", "a", "b", "c"],
                        members=[member("a2", "a", 30), member("w1", "wire", 0), member("a1", "a", 10, "w1"),
                                 member("b1", "b", 20), member("c1", "c", None)])
    assert [(t.outlet, t.article_id, t.kind) for t in timeline(story)] == [
        ("wire", "w1", "report"), ("a", "a1", "copy"), ("b", "b1", "report"), ("c", "c1", "report")]


def test_the_listing_filter_checks_each_field_and_an_empty_filter_passes_everything() -> None:
    story = StoredStory(id="c1", title="Putin meets Soleimani", first_seen=T0, last_updated=T0, size=2,
                        outlets=["Reuters", "AP"], entities={"person:vladimir putin": 2, "gpe:moscow": 1},
                        members=[member("r1", "Reuters", 0, language="en-GB"), member("a1", "AP", 5, language="en")])
    assert StoryFilter().passes(story)
    assert StoryFilter(entity="person:vladimir putin").passes(story)
    assert StoryFilter(entity="Vladimir Putin").passes(story), "a name matches the key's name part"
    assert not StoryFilter(entity="person:assad").passes(story)
    assert StoryFilter(q="soleimani").passes(story) and not StoryFilter(q="earthquake").passes(story)
    assert StoryFilter(min_outlets=2).passes(story) and not StoryFilter(min_outlets=3).passes(story)
    assert StoryFilter(outlet="reuters").passes(story) and not StoryFilter(outlet="BBC").passes(story)
    assert StoryFilter(language="en").passes(story) and not StoryFilter(language="fr").passes(story)


def test_resolved_entity_keys_replace_the_name_as_written() -> None:
    story = StoredStory(id="c1", title="Putin meets Soleimani", first_seen=T0, last_updated=T0, size=1,
                        outlets=["AP"], entities={"person:putin": 1}, members=[member("a1", "AP", 0)])
    # filed under the surname before the alias table learned it: found through the entity's keys
    by_keys = StoryFilter(entity="Putin", entity_keys=frozenset({"person:vladimir putin", "person:putin"}))
    assert by_keys.passes(story)
    assert not StoryFilter(entity="putin", entity_keys=frozenset({"person:vladimir putin"})).passes(story), (
        "the keys decide, not the name as written")


def test_independent_outlets_leave_out_outlets_that_only_copied() -> None:
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=4, outlets=["a", "b", "r"],
                        members=[member("a1", "a", 0), member("b1", "b", 5), member("r1", "r", 9, copy_of="a1"),
                                 member("b2", "b", 12, copy_of="a1")])
    assert independent_outlets(story) == ["a", "b"]
    assert copy_only_outlets(story) == ["r"], "b reported on its own too, so it is not a copy-only outlet"
    assert StoryFilter(min_outlets=2).passes(story)
    assert not StoryFilter(min_outlets=3).passes(story), "a copy is not an independent outlet"


def test_the_lead_report_is_the_most_reposted_then_the_earliest() -> None:
    members = [member("a1", "a", 0), member("b1", "b", 5), member("c1", "c", 7)]
    story = StoredStory(id="c1", title="b's title", first_seen=T0, last_updated=T0, size=3, outlets=["a", "b", "c"],
                        members=members)
    lead = lead_report(story)
    assert lead is not None and lead.id == "a1", "no copies: the earliest report"
    reposted = story.model_copy(update={"members": [*members, member("r1", "r", 9, copy_of="b1")]})
    lead = lead_report(reposted)
    assert lead is not None and lead.id == "b1", "the report other outlets carry"


def test_the_copy_graph_gives_each_original_its_copies_in_pickup_order_whatever_the_story_size() -> None:
    # The plain definition, one scan of the members per original (what copy_graph must keep giving).
    def expected(story: StoredStory) -> list[tuple[str, list[str]]]:
        def when(m: StoryMember) -> datetime:
            return m.published_at or datetime.max.replace(tzinfo=UTC)

        return [(o.id, [c.id for c in sorted((m for m in story.members if m.copy_of == o.id), key=when)])
                for o in sorted((m for m in story.members if not m.copy_of), key=when)]

    members = [member(f"m{i}", f"o{i % 7}", (i * 37) % 101 if i % 5 else None,
                      copy_of=f"m{(i * 13) % 50}" if i % 3 == 0 and i >= 50 else None) for i in range(400)]
    members.append(member("orphan", "o9", 3, copy_of="gone"))  # its original left the story (merged, expired)
    members.append(member("chain", "o8", 4, copy_of="m51"))  # a copy of a copy: listed under no report
    story = StoredStory(id="c1", title="t", first_seen=T0, last_updated=T0, size=len(members), outlets=[],
                        members=members)
    got = [(r.id, [c.id for c in r.copies]) for r in copy_graph(story)]
    assert got == expected(story)
    assert sum(len(c) for _, c in got) > 100 and not any("orphan" in c or "chain" in c for _, c in got)
