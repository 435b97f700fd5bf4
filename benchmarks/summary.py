"""What a story costs as it grows: the store's write per join, the reads, its bytes, the API's views.

    .venv/bin/python -m benchmarks.summary [--members 10,100,1000,5000] [--repeat 20] [--json]

A story is stored as its summary (StoredStory: title, outlets, entity counts, centroid, member counts) and its
member list apart (each member's id, outlet, title, URL, date, copy mark). The store writes the summary again
and appends one member each time an article joins, and reads the summary alone; a reader that shows the story
(the API) reads both. A big event draws thousands of articles in a day, so this prints, for stories of each
size: ms to encode what a join writes (the summary and the new member, the story already in the store's
cache), ms for placement to decode the summary and for a reader to decode the summary and every member, the
stored bytes (zstd, the members with a dictionary trained on 1,000 of them, as the store trains one; the
bench needs no Redis), and the ms of the API's two views of it: the listing entry (`story_summary`, for each
story of the river and of `GET /v1/stories`) and the whole story (`story_public`, `GET /v1/stories/{id}` and
the story page). Members are like the dev set's (60-character titles, outlet URLs with a slug, a date, one in
four a copy); the centroid holds 300 body words, 60 title words and 80 entities, as a story's does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import zstandard

from services.api.schemas import story_public, story_summary
from services.common.settings import Settings
from services.store.compression import Codec
from services.store.repository import Centroid, StoredStory, StoryMember

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def story(members: int, rng: random.Random) -> StoredStory:
    """A summary of `members` members with a full centroid."""
    outlets = [f"outlet{i}.example" for i in range(min(members, 400) or 1)]
    listed = [member(i, outlets, rng) for i in range(members)]
    return StoredStory(
        id="c" + "0" * 16, title="Strong earthquake shakes the coastal town of Port Alba overnight",
        first_seen=T0, last_updated=T0 + timedelta(hours=20), size=members, outlets=outlets[:members],
        entities={f"person:name {i}": rng.randint(1, members or 1) for i in range(80)},
        centroid=Centroid(body={f"word{i}": round(rng.random(), 5) for i in range(300)},
                          title={f"title{i}": round(rng.random(), 5) for i in range(60)},
                          entities={f"gpe:place {i}": round(rng.random(), 5) for i in range(80)},
                          first_time=T0.timestamp(), last_time=T0.timestamp() + 72_000),
        copies=sum(1 for m in listed if m.copy_of),
        independent_outlets=sorted({m.outlet for m in listed if not m.copy_of}), members=listed)


def member(i: int, outlets: list[str], rng: random.Random) -> StoryMember:
    """One member as the store makes it."""
    outlet = outlets[i % len(outlets)]
    return StoryMember(id=f"{rng.getrandbits(80):020x}", outlet=outlet,
                       title=f"Earthquake in Port Alba: rescue teams search the rubble, report {i}",
                       url=f"https://{outlet}/2026/12/01/earthquake-port-alba-rescue-teams-{i}",
                       published_at=T0 + timedelta(seconds=30 * i), copy_of="m0" if i % 4 == 1 else None,
                       copy_similarity=0.94 if i % 4 == 1 else None, language="en")


def measure(members: int, repeat: int, codec: Codec) -> dict[str, Any]:
    """Median ms to encode a join's write and to decode (the summary alone; with its members), and the stored
    bytes, for a story of `members`."""
    rng = random.Random(members)
    current = story(members, rng)
    frames = current.member_frames(codec)
    current.mark_stored(1)  # as in the store's cache: the story was written once before
    encodes, summary_decodes, decodes, listings, views = [], [], [], [], []
    summary = b""
    for n in range(repeat):
        joined = member(members + n, current.outlets or ["outlet0.example"], rng)
        current = current.model_copy(update={"size": current.size + 1, "members": [*current.members, joined]})
        started = time.perf_counter()
        summary, appended = current.encode(codec), current.member_frames(codec)
        encodes.append(time.perf_counter() - started)
        current.mark_stored(n + 2)
        frames += appended
        started = time.perf_counter()
        StoredStory.from_stored(summary, 1, codec)
        summary_decodes.append(time.perf_counter() - started)
        started = time.perf_counter()
        read = StoredStory.from_stored(summary, 1, codec, frames)
        decodes.append(time.perf_counter() - started)
        if n < 5:  # the views cost the same each time: a few are enough
            started = time.perf_counter()
            story_summary(read)
            listings.append(time.perf_counter() - started)
            started = time.perf_counter()
            story_public(read)
            views.append(time.perf_counter() - started)
    return {"members": members, "encode_ms": round(statistics.median(encodes) * 1000, 3),
            "summary_decode_ms": round(statistics.median(summary_decodes) * 1000, 3),
            "decode_ms": round(statistics.median(decodes) * 1000, 3),
            "stored_bytes": len(summary) + sum(len(f) for f in frames),
            "listing_ms": round(statistics.median(listings) * 1000, 3),
            "story_view_ms": round(statistics.median(views) * 1000, 3)}


def member_dictionary() -> zstandard.ZstdCompressionDict:
    """A member dictionary trained as the store trains one (on the first members it writes)."""
    rng = random.Random(0)
    outlets = [f"outlet{i}.example" for i in range(400)]
    samples: list[bytes | bytearray | memoryview] = [member(i, outlets, rng).model_dump_json().encode()
                                                     for i in range(1000)]
    return zstandard.train_dictionary(Settings().store_dictionary_bytes, samples)


def main() -> None:
    """Print the figures for each story size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", default="10,100,1000,5000", help="story sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="joins timed per size")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args()
    codec = Codec(None, None, samples=0, dictionary_bytes=0)  # type: ignore[arg-type]  # compress/decompress only
    codec.use("member", member_dictionary())
    for size in (int(s) for s in args.members.split(",")):
        row = measure(size, args.repeat, codec)
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['members']:>6,} members: encode {row['encode_ms']:.3f} ms per join, decode "
                  f"{row['summary_decode_ms']:.3f} ms (summary) / {row['decode_ms']:.3f} ms (with members) per read, "
                  f"{row['stored_bytes']:,} B stored; "
                  f"API listing entry {row['listing_ms']:.1f} ms, whole story {row['story_view_ms']:.1f} ms")


if __name__ == "__main__":
    main()
