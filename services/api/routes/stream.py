"""The live stream of story events over Server-Sent Events (the reader is services.notifier.live).

`GET /v1/stream` validates the request, resolves the filters and serves `live.story_sse` as
`text/event-stream`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi import Query as Query_
from fastapi.responses import StreamingResponse

from services.api.deps import KeysDep, RedisDep, SubscriptionsDep
from services.notifier.live import entity_filter, parse_event_id, story_sse
from services.notifier.subscriptions import Query

router = APIRouter(tags=["stream"])


_ERRORS: dict[int | str, dict[str, object]] = {
    200: {"description": "an endless `text/event-stream` of story events", "content": {"text/event-stream": {}}},
    404: {"description": "no such subscription"},
    422: {"description": "an invalid entity or Last-Event-ID"},
}


@router.get("/stream", response_class=StreamingResponse, responses=_ERRORS)
async def stream_story_events(
    request: Request,
    redis: RedisDep,
    keys: KeysDep,
    subscriptions: SubscriptionsDep,
    entity: Annotated[list[str] | None, Query_(
        description="entity key ('person:qassem soleimani') or bare name ('Qassem Soleimani'); repeat for "
                    "several (a story naming any of them passes)")] = None,
    subscription: Annotated[str | None, Query_(
        description="a subscription id: only events its query matches (its entities, keywords, outlets, "
                    "minimum outlets and event kinds)", max_length=200)] = None,
    last_event_id: Annotated[str | None, Query_(
        description="resume after this event id (for clients that cannot send the Last-Event-ID header)",
        max_length=50)] = None,
    last_event_id_header: Annotated[str | None, Header(
        alias="Last-Event-ID", description="resume after this event id (sent by EventSource on reconnect)")] = None,
) -> StreamingResponse:
    """Live story events (created / updated / merged) as Server-Sent Events, filtered on the server.

    Each message has `id:` (the event id), `event: story.<kind>` and `data:` (the story event JSON:
    cluster id, triggering article, title, size, outlets, entities, independent outlets, copies, time).
    Comment lines (": keep-alive") are sent after 15 s without a message.

    Resuming: a client that reconnects with the `Last-Event-ID` header (or `last_event_id`) first gets
    every event after that id, then the live ones. **Replay window:** the server keeps about the last
    100,000 story events; when the id is older than that (or unknown) a comment line says the replay
    window was exceeded and the replay starts at the oldest event kept. Without an id, only events
    from now on are sent.

    Filters: `entity` (repeatable; any of them) and `subscription` (that subscription's query) combine
    with AND.
    """
    resume = last_event_id_header if last_event_id_header is not None else last_event_id
    if resume is not None:
        resume = resume.strip() or None
    if resume is not None and parse_event_id(resume) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Last-Event-ID {resume!r} is not an event id of this stream ('<ms>-<seq>')")
    queries: list[Query] = []
    if entity:
        try:
            queries.append(await entity_filter(subscriptions, entity))
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if subscription is not None:
        sub = await subscriptions.get(subscription)
        if sub is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {subscription!r}")
        queries.append(sub.query)
    body = story_sse(redis, keys, last_event_id=resume, query=queries, is_disconnected=request.is_disconnected)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
