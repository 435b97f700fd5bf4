"""Feed registration and feed health."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from services.common.errors import InvalidUrl
from services.common.feeds import Feed, FeedRegistry
from services.store.api.deps import FeedsDep
from services.store.api.schemas import FeedCreate, FeedHealth, FeedPublic

router = APIRouter(tags=["feeds"])


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


async def feed_public(registry: FeedRegistry, feed: Feed) -> FeedPublic:
    """A feed with its health, for the API and the CLI."""
    state = await registry.state(feed.id)
    days = max((time.time() - feed.added_at.timestamp()) / 86400, 1.0)
    health = FeedHealth(
        last_poll=_ts(state.last_poll), last_success=_ts(state.last_success), last_status=state.last_status,
        last_error=state.last_error, consecutive_errors=state.consecutive_errors,
        items_total=state.items_total, items_per_day=round(state.items_total / days, 2),
        next_poll=_ts(state.next_poll),
    )
    return FeedPublic(**feed.model_dump(), health=health)


@router.post("/feeds", status_code=status.HTTP_201_CREATED)
async def add_feed(body: FeedCreate, registry: FeedsDep) -> FeedPublic:
    """Register a feed; it is polled within one polling interval (at once when new)."""
    try:
        feed = await registry.add(body.url, body.name)
    except InvalidUrl as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid feed URL: {exc}") from exc
    return await feed_public(registry, feed)


@router.get("/feeds")
async def list_feeds(registry: FeedsDep) -> list[FeedPublic]:
    """Every registered feed with its health."""
    return [await feed_public(registry, f) for f in await registry.all()]


@router.get("/feeds/{feed_id}")
async def get_feed(feed_id: str, registry: FeedsDep) -> FeedPublic:
    """One feed with its health."""
    feed = await registry.get(feed_id)
    if feed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {feed_id!r}")
    return await feed_public(registry, feed)


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_feed(feed_id: str, registry: FeedsDep) -> None:
    """Unregister a feed (its articles stay)."""
    if not await registry.remove(feed_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {feed_id!r}")
