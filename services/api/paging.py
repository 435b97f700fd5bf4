"""Cursor paging over the latest-first Redis indexes, whose scores are Unix times."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import HTTPException, status

T = TypeVar("T")
BATCH = 200
SCAN_LIMIT = 5000  # a filter that matches little must not scan the whole index in one request


def parse_cursor(value: str | None) -> float | None:
    """The cursor a previous page returned (the last item's time), or None for the first page."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid cursor") from exc


async def latest_page(
    *,
    fetch_ids: Callable[[float | None], Awaitable[list[tuple[str, float]]]],
    load: Callable[[list[str]], Awaitable[list[T]]],
    stamp: Callable[[T], float],
    keep: Callable[[T], bool],
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """Up to `limit` items that pass `keep`, newest first, and the cursor of the next page.

    `fetch_ids(before)` returns a batch of (id, time in the index) with times strictly before `before`;
    `load` reads them (leaving out those gone); `stamp` gives an item's time in the index.
    """
    before = parse_cursor(cursor)
    items: list[T] = []
    scanned = 0
    while len(items) < limit and scanned < SCAN_LIMIT:
        rows = await fetch_ids(before)
        if not rows:
            break
        scanned += len(rows)
        for item in await load([i for i, _ in rows]):
            if keep(item):
                items.append(item)
                if len(items) == limit:
                    break
        # On past the whole batch by the index's own times: a batch of items that expired but are still indexed
        # (the index is trimmed every few minutes) loads nothing, and must not end the listing.
        before = rows[-1][1]
    more = len(items) == limit
    return items, (repr(stamp(items[-1])) if more else None)
