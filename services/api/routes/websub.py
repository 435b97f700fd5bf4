"""WebSub callback: hubs verify our subscriptions here and push feed updates (services.fetcher.websub)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse, Response

from services.api.deps import FeedsDep, SettingsDep, WebSubDep
from services.fetcher.websub import signature_valid

router = APIRouter(tags=["websub"])


@router.get("/websub/{feed_id}", response_class=PlainTextResponse,
            responses={404: {"description": "no subscription of ours matches"}})
async def verify_intent(
    feed_id: str,
    websub: WebSubDep,
    mode: Annotated[str, Query(alias="hub.mode", description="subscribe or denied")],
    topic: Annotated[str, Query(alias="hub.topic")],
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=1024)] = None,
    lease_seconds: Annotated[float | None, Query(alias="hub.lease_seconds", gt=0)] = None,
) -> str:
    """A hub's verification of intent: the challenge is echoed only for a subscription we asked for."""
    if not await websub.verify_intent(feed_id, mode, topic, lease_seconds):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {mode} request of ours for feed {feed_id!r} and that topic")
    return challenge or ""


@router.post("/websub/{feed_id}", status_code=status.HTTP_202_ACCEPTED, response_class=Response,
             responses={404: {"description": "no active subscription for this feed"},
                        413: {"description": "body over the feed size cap"}})
async def receive_push(feed_id: str, request: Request, websub: WebSubDep, feeds: FeedsDep,
                       settings: SettingsDep) -> Response:
    """A hub's content distribution. Signed with our secret: the feed is polled now. Not signed right:
    acknowledged and ignored (the spec forbids telling the sender which)."""
    subscription = await websub.get(feed_id)
    if subscription is None or subscription.state != "active":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active subscription for feed {feed_id!r}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_feed_bytes:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                                f"push body over {settings.max_feed_bytes} bytes")
    if signature_valid(subscription.secret, request.headers.get("x-hub-signature"), bytes(body)):
        await websub.record_push(subscription)
        await feeds.poll_now(feed_id)
    return Response(status_code=status.HTTP_202_ACCEPTED)
