"""The batch view's postings (services.store.batch): what a batch reads is what one-by-one placement would."""

from __future__ import annotations

from services.store.batch import BatchView, PostingsRead, StoryCache
from services.store.repository import POSTINGS_PER_KEY


def full(newest: float) -> list[tuple[str, float]]:
    """A full read: POSTINGS_PER_KEY stories, one a second, the newest at `newest`."""
    return [(f"s{i}", newest - i) for i in range(POSTINGS_PER_KEY)]


def test_a_read_covers_a_sub_window_unless_newer_postings_may_have_pushed_some_out() -> None:
    short = PostingsRead(0.0, 100.0, [("a", 50.0)])
    assert short.covers(10.0, 90.0), "fewer than the limit: everything in the window was read"
    assert not short.covers(-1.0, 90.0), "a wider window was never read"
    assert PostingsRead(0.0, 100.0, full(60.0)).covers(0.0, 70.0), "nothing newer than the window's end"
    assert not PostingsRead(0.0, 100.0, full(95.0)).covers(0.0, 90.0), "the newest took places"
    assert PostingsRead(0.0, 100.0, full(95.0)).covers(90.0, 94.0), "the read reaches below the window"


class NoRepository:
    """A view whose reads are all given up front."""


def test_the_view_ranks_redis_and_the_batch_s_own_postings_as_redis_would() -> None:
    view = BatchView(NoRepository(), lsh=None, cache=StoryCache(1))  # type: ignore[arg-type]
    view.postings_read["k"] = PostingsRead(0.0, 1000.0, full(100.0))
    assert list(view.postings("k", lo=0.0, hi=1000.0)) == [f"s{i}" for i in range(POSTINGS_PER_KEY)]
    assert list(view.postings("k", lo=0.0, hi=95.5)) == [f"s{i}" for i in range(5, POSTINGS_PER_KEY)]
    view.post(["k"], "new", 200.0)
    view.post(["k"], "s9", 150.0)  # posted again: its latest time counts
    got = list(view.postings("k", lo=0.0, hi=1000.0))
    assert got[:2] == ["new", "s9"] and len(got) == POSTINGS_PER_KEY and "s8" not in got


def test_the_merge_agrees_with_ranking_everything_on_random_postings() -> None:
    import random

    rng = random.Random(7)
    for _ in range(2000):
        view = BatchView(NoRepository(), lsh=None, cache=StoryCache(1))  # type: ignore[arg-type]
        ids = [f"s{i}" for i in range(25)]
        read = sorted({(float(rng.randrange(50)), rng.choice(ids)) for _ in range(rng.randrange(15))}, reverse=True)
        latest: dict[str, float] = {}
        for t, cid in read:  # Redis holds one time per story
            latest.setdefault(cid, t)
        entries = sorted(((c, t) for c, t in latest.items()), key=lambda e: (e[1], e[0]), reverse=True)
        entries = entries[:POSTINGS_PER_KEY]
        view.postings_read["k"] = PostingsRead(0.0, 100.0, entries)
        for _ in range(rng.randrange(1, 30)):
            view.post(["k"], rng.choice(ids), float(rng.randrange(60)))
        lo, hi = float(rng.randrange(30)), float(rng.randrange(30, 70))
        times = dict(entries)
        for cid, t in view.write.postings["k"].items():
            times[cid] = max(t, times.get(cid, t))
        expected = [c for _, c in sorted(((t, c) for c, t in times.items() if lo <= t <= hi), reverse=True)]
        assert list(view.postings("k", lo=lo, hi=hi)) == expected[:POSTINGS_PER_KEY]
