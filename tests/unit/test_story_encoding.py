"""A story summary as stored (StoredStory.encode): the bytes model_dump_json() gives, members dumped once (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.store.compression import Codec
from services.store.repository import Centroid, StoredStory, StoryMember

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
# No Redis and no dictionary: plain zstd, which is all encode() needs.
CODEC = Codec(None, None, samples=0, dictionary_bytes=0)  # type: ignore[arg-type]


def member(i: int) -> StoryMember:
    outlet = f"{'ab'[i % 2]}.example"
    return StoryMember(id=f"m{i}", outlet=outlet, title=f'Report ✓ "{i}"', url=f"https://{outlet}/{i}",
                       published_at=T0 + timedelta(minutes=i) if i % 3 else None,
                       copy_of="m0" if i % 4 == 1 else None, copy_similarity=0.93 if i % 4 == 1 else None,
                       language="en" if i % 2 else None)


def story(members: int) -> StoredStory:
    return StoredStory(
        id="c1", title='Ünïcode "quoted" title', first_seen=T0, last_updated=T0 + timedelta(hours=2), size=members,
        outlets=["a.example", "b.example"], entities={"person:ana lópez": 2},
        centroid=Centroid(body={"quake": 0.5, "rubble": 0.25}, first_time=1.0, last_time=2.5),
        members=[member(i) for i in range(members)])


def stored(s: StoredStory) -> bytes:
    return CODEC.decompress(s.encode(CODEC))


@pytest.mark.parametrize("members", [0, 1, 7, 300])
def test_a_summary_is_stored_as_the_bytes_of_its_whole_json(members: int) -> None:
    s = story(members)
    assert stored(s) == s.model_dump_json().encode()
    assert StoredStory.model_validate_json(stored(s)) == s


def test_a_grown_or_merged_story_stores_every_member_and_reuses_the_json_of_those_it_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s = story(5)
    stored(s)
    dumped: list[str] = []
    dump = StoryMember.model_dump_json

    def counting(self: StoryMember, **kwargs: object) -> str:
        dumped.append(self.id)
        return dump(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StoryMember, "model_dump_json", counting)
    grown = s.model_copy(update={"size": 6, "members": [*s.members, member(5)]})
    assert stored(grown) == grown.model_dump_json().encode()
    assert dumped[:1] == ["m5"], "only the new member is dumped for the summary"
    dumped.clear()
    other = story(3).model_copy(update={"id": "c2"})
    merged = grown.model_copy(update={"size": 9, "members": [*grown.members, *other.members]})
    assert stored(merged) == merged.model_dump_json().encode()
    assert dumped[:3] == ["m0", "m1", "m2"], "the absorbed story's members are dumped, the survivor's reused"


def test_members_changed_other_than_by_adding_are_dumped_again() -> None:
    s = story(4)
    stored(s)
    reordered = s.model_copy(update={"members": s.members[::-1]})
    assert stored(reordered) == reordered.model_dump_json().encode()
    fewer = s.model_copy(update={"size": 2, "members": s.members[2:]})
    assert stored(fewer) == fewer.model_dump_json().encode()
    assert StoredStory.model_validate_json(stored(fewer)) == fewer
