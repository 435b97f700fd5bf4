"""What a story costs as it grows: the store's encode per join, a read's decode, its bytes, the API's views.

    .venv/bin/python -m benchmarks.summary [--members 10,100,1000,5000] [--repeat 20] [--json]

The store writes a story's whole summary (StoredStory: title, outlets, entity counts, centroid, every member's
id, outlet, title, URL, date, copy mark) again each time an article joins it, and a process that did not write
it (another store, the API) parses it whole on a read. A big event draws thousands of articles in a day, so
this prints, for stories of each size: ms to encode the summary after one more member joined (what a join adds
to the store's time when the story is already in its cache), ms to decode it, its stored bytes (zstd without a
dictionary: the bench needs no Redis), and the ms of the API's two views of it: the listing entry
(`story_summary`, for each story of the river and of `GET /v1/stories`) and the whole story (`story_public`,
`GET /v1/stories/{id}` and the story page). Members are like the dev set's (60-character titles, outlet
URLs with a slug, a date, one in four a copy); the centroid holds 300 body words, 60 title words and 80
entities, as a story's does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from services.api.schemas import story_public, story_summary
from services.store.compression import Codec
from services.store.repository import Centroid, StoredStory, StoryMember

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def story(members: int, rng: random.Random) -> StoredStory:
    """A summary of `members` members with a full centroid."""
    outlets = [f"outlet{i}.example" for i in range(min(members, 400) or 1)]
    return StoredStory(
        id="c" + "0" * 16, title="Strong earthquake shakes the coastal town of Port Alba overnight",
        first_seen=T0, last_updated=T0 + timedelta(hours=20), size=members, outlets=outlets[:members],
        entities={f"person:name {i}": rng.randint(1, members or 1) for i in range(80)},
        centroid=Centroid(body={f"word{i}": round(rng.random(), 5) for i in range(300)},
                          title={f"title{i}": round(rng.random(), 5) for i in range(60)},
                          entities={f"gpe:place {i}": round(rng.random(), 5) for i in range(80)},
                          first_time=T0.timestamp(), last_time=T0.timestamp() + 72_000),
        members=[member(i, outlets, rng) for i in range(members)])


def member(i: int, outlets: list[str], rng: random.Random) -> StoryMember:
    """One member as the store makes it."""
    outlet = outlets[i % len(outlets)]
    return StoryMember(id=f"{rng.getrandbits(80):020x}", outlet=outlet,
                       title=f"Earthquake in Port Alba: rescue teams search the rubble, report {i}",
                       url=f"https://{outlet}/2026/12/01/earthquake-port-alba-rescue-teams-{i}",
                       published_at=T0 + timedelta(seconds=30 * i), copy_of="m0" if i % 4 == 1 else None,
                       copy_similarity=0.94 if i % 4 == 1 else None, language="en")


def measure(members: int, repeat: int, codec: Codec) -> dict[str, Any]:
    """Median ms to encode after a join and to decode, and the stored bytes, for a story of `members`."""
    rng = random.Random(members)
    current = story(members, rng)
    current.encode(codec)  # as in the store's cache: the story was written once before
    encodes, decodes, listings, views = [], [], [], []
    stored = b""
    for n in range(repeat):
        joined = member(members + n, current.outlets or ["outlet0.example"], rng)
        current = current.model_copy(update={"size": current.size + 1, "members": [*current.members, joined]})
        started = time.perf_counter()
        stored = current.encode(codec)
        encodes.append(time.perf_counter() - started)
        started = time.perf_counter()
        read = StoredStory.from_stored(stored, 1, codec)
        decodes.append(time.perf_counter() - started)
        if n < 5:  # the views cost the same each time: a few are enough
            started = time.perf_counter()
            story_summary(read)
            listings.append(time.perf_counter() - started)
            started = time.perf_counter()
            story_public(read)
            views.append(time.perf_counter() - started)
    return {"members": members, "encode_ms": round(statistics.median(encodes) * 1000, 3),
            "decode_ms": round(statistics.median(decodes) * 1000, 3), "stored_bytes": len(stored),
            "listing_ms": round(statistics.median(listings) * 1000, 3),
            "story_view_ms": round(statistics.median(views) * 1000, 3)}


def main() -> None:
    """Print the figures for each story size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", default="10,100,1000,5000", help="story sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="joins timed per size")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args()
    codec = Codec(None, None, samples=0, dictionary_bytes=0)  # type: ignore[arg-type]  # compress/decompress only
    for size in (int(s) for s in args.members.split(",")):
        row = measure(size, args.repeat, codec)
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['members']:>6,} members: encode {row['encode_ms']:.3f} ms per join, "
                  f"decode {row['decode_ms']:.3f} ms per read, {row['stored_bytes']:,} B stored; "
                  f"API listing entry {row['listing_ms']:.1f} ms, whole story {row['story_view_ms']:.1f} ms")


if __name__ == "__main__":
    main()
