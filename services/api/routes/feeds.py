"""Feed registration (services.api.registration), feed health, pause/resume, and OPML import/export."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from services.api.deps import FeedsDep, SettingsDep
from services.api.registration import RegistrationRefused, register_feed, registered_public
from services.api.schemas import (
    FeedCreate,
    FeedImportResult,
    FeedPublic,
    FeedRegistered,
    feed_import_result,
    feed_public,
)
from services.common.errors import InvalidUrl
from services.fetcher.opml import MAX_OPML_BYTES, InvalidOpml
from services.fetcher.registry import Feed, FeedRegistry, feeds_opml

router = APIRouter(tags=["feeds"])


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over the limit of {limit} bytes")
    return bytes(body)


async def _known(registry: FeedRegistry, feed: Feed | None, feed_id: str) -> FeedPublic:
    if feed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {feed_id!r}")
    return feed_public(feed, await registry.state(feed.id))


class OpmlResponse(Response):
    """An OPML document."""

    media_type = "application/xml"


_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "no such feed"}}
_OPML_MEDIA_TYPES = ("text/x-opml", "application/xml", "text/xml")
_OPML_SCHEMA = {"type": "string", "description": "an OPML 1.0/2.0 document"}


@router.post(
    "/feeds", status_code=status.HTTP_201_CREATED,
    responses={200: {"model": FeedRegistered, "description": "already registered: the feed is left as it was"},
               422: {"description": "not a feed wirewatch can poll: invalid URL, refused by the SSRF guard, "
                                    "unreachable, or neither a feed nor a page advertising one (the detail says why)"}},
)
async def add_feed(body: FeedCreate, registry: FeedsDep, settings: SettingsDep, response: Response) -> FeedRegistered:
    """Register a feed after fetching it once: a feed is named by its own title (unless `name` is given), a
    site's page registers the feed it advertises, anything else is refused with the reason (`force`
    registers it anyway). New feeds are polled at once."""
    try:
        registration = await register_feed(registry, settings, body.url, name=body.name, force=body.force)
    except InvalidUrl as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid feed URL: {exc}") from exc
    except RegistrationRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return await registered_public(registry, registration)


@router.get("/feeds")
async def list_feeds(registry: FeedsDep) -> list[FeedPublic]:
    """Every registered feed with its health."""
    return [feed_public(f, await registry.state(f.id)) for f in await registry.all()]


@router.post(
    "/feeds/import",
    responses={413: {"description": f"body over {MAX_OPML_BYTES} bytes"},
               422: {"description": "not an OPML document wirewatch reads (the detail says why)"}},
    openapi_extra={"requestBody": {"required": True,
                                   "content": {media: {"schema": _OPML_SCHEMA} for media in _OPML_MEDIA_TYPES}}},
)
async def import_feeds(request: Request, registry: FeedsDep) -> FeedImportResult:
    """Register the feeds of an OPML document (the request body), keeping titles, site URLs and folders.

    Feeds already registered are left as they are; outlines with an unusable URL are counted as
    invalid, each with its reason.
    """
    data = await _read_body(request, MAX_OPML_BYTES)
    try:
        return feed_import_result(await registry.import_opml(data))
    except InvalidOpml as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid OPML: {exc}") from exc


@router.get(
    "/feeds/export",
    response_class=OpmlResponse,
    responses={200: {"description": "every feed as OPML 2.0, nested by category",
                     "content": {"application/xml": {"schema": _OPML_SCHEMA}}}},
)
async def export_feeds(registry: FeedsDep) -> OpmlResponse:
    """Every registered feed as an OPML 2.0 document, folders from the feeds' categories."""
    return OpmlResponse(feeds_opml(await registry.all()),
                        headers={"Content-Disposition": 'attachment; filename="wirewatch-feeds.opml"'})


@router.get("/feeds/{feed_id}", responses=_NOT_FOUND)
async def get_feed(feed_id: str, registry: FeedsDep) -> FeedPublic:
    """One feed with its health."""
    return await _known(registry, await registry.get(feed_id), feed_id)


@router.post("/feeds/{feed_id}/pause", responses=_NOT_FOUND)
async def pause_feed(feed_id: str, registry: FeedsDep) -> FeedPublic:
    """Stop polling a feed (idempotent); its health and articles stay."""
    return await _known(registry, await registry.pause(feed_id), feed_id)


@router.post("/feeds/{feed_id}/resume", responses=_NOT_FOUND)
async def resume_feed(feed_id: str, registry: FeedsDep) -> FeedPublic:
    """Poll a paused feed again, the first time at once (idempotent)."""
    return await _known(registry, await registry.resume(feed_id), feed_id)


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def remove_feed(feed_id: str, registry: FeedsDep) -> None:
    """Unregister a feed (its articles stay)."""
    if not await registry.remove(feed_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no feed {feed_id!r}")
