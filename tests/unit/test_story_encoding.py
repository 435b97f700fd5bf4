"""A story as stored (pure): its summary without members (StoredStory.encode) and its member list apart, which a
join appends to (StoredStory.member_frames); summaries of older data dirs, members inline, still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.store.compression import Codec
from services.store.repository import Centroid, StoredStory, StoryMember, decode_members

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
    listed = [member(i) for i in range(members)]
    return StoredStory(
        id="c1", title='Ünïcode "quoted" title', first_seen=T0, last_updated=T0 + timedelta(hours=2), size=members,
        outlets=["a.example", "b.example"], entities={"person:ana lópez": 2},
        centroid=Centroid(body={"quake": 0.5, "rubble": 0.25}, first_time=1.0, last_time=2.5),
        copies=sum(1 for m in listed if m.copy_of),
        independent_outlets=sorted({m.outlet for m in listed if not m.copy_of}), members=listed)


@pytest.mark.parametrize("members", [0, 1, 7, 300])
def test_a_story_reads_back_from_its_summary_and_member_list(members: int) -> None:
    s = story(members)
    summary, frames = s.encode(CODEC), s.member_frames(CODEC)
    assert b"members" not in CODEC.decompress(summary), "the members are kept apart"
    assert len(frames) == members
    read = StoredStory.from_stored(summary, 3, CODEC, frames)
    assert read.model_dump() == s.model_dump() and read.version == 3
    assert read.unstored_members == [], "every member read is in the list"
    alone = StoredStory.from_stored(summary, 3, CODEC)
    assert alone.members == [] and alone.size == members and alone.copies == s.copies
    assert alone.independent_outlets == s.independent_outlets


def test_a_join_appends_only_its_member_whatever_the_size_of_the_story() -> None:
    s = story(300)
    read = StoredStory.from_stored(s.encode(CODEC), 1, CODEC)  # as placement reads it: the summary alone
    grown = read.model_copy(update={"size": 301, "members": [*read.members, member(300)]})
    appended = grown.member_frames(CODEC)
    assert [m.id for m in grown.unstored_members] == ["m300"] and len(appended) == 1
    grown.mark_stored(2)
    again = grown.model_copy(update={"size": 302, "members": [*grown.members, member(301)]})
    assert [m.id for m in again.unstored_members] == ["m301"], "a member written once is not appended again"
    whole = StoredStory.from_stored(again.encode(CODEC), 3, CODEC,
                                    s.member_frames(CODEC) + appended + again.member_frames(CODEC))
    assert [m.id for m in whole.members] == [f"m{i}" for i in range(302)]


def test_a_summary_of_an_older_data_dir_keeps_its_inline_members_and_moves_them_to_the_list() -> None:
    s = story(9)
    # As written before members were kept apart: the whole JSON, members inline, no counts.
    old = s.model_dump_json(exclude={"copies", "independent_outlets"}).encode()
    read = StoredStory.from_stored(CODEC.compress("story", old), 4, CODEC, [])
    assert [m.id for m in read.members] == [f"m{i}" for i in range(9)]
    assert (read.copies, read.independent_outlets) == (2, ["a.example", "b.example"]), "counted from its members"
    assert len(read.member_frames(CODEC)) == 9, "its next write puts them all in the list"
    plain = StoredStory.from_stored(old.decode(), 4, CODEC)  # older still: plain JSON
    assert plain.members == read.members and plain.copies == 2


def test_a_member_list_written_before_and_after_its_dictionary_reads_back_in_order() -> None:
    import zstandard

    codec = Codec(None, None, samples=0, dictionary_bytes=0)  # type: ignore[arg-type]
    members = [member(i) for i in range(400)]
    plain = [codec.compress("member", m.model_dump_json().encode()) for m in members[:200]]
    samples: list[bytes | bytearray | memoryview] = [m.model_dump_json().encode() for m in members * 3]
    codec.use("member", zstandard.train_dictionary(8192, samples))
    with_dictionary = [codec.compress("member", m.model_dump_json().encode()) for m in members[200:]]
    assert zstandard.get_frame_parameters(with_dictionary[0]).dict_id != 0
    assert decode_members(plain + with_dictionary, codec) == members
    interleaved = [f for pair in zip(with_dictionary, plain, strict=True) for f in pair]
    assert decode_members(interleaved, codec) == [m for pair in zip(members[200:], members[:200], strict=True)
                                                  for m in pair]
