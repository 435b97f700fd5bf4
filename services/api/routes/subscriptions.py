"""Subscriptions: register what a user follows and where its webhooks go (services.notifier.subscriptions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from fastapi import Query as Query_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.api.deps import SettingsDep, SubscriptionsDep, WebhooksDep
from services.api.schemas import (
    AmbiguousEntity,
    SubscriptionCreated,
    SubscriptionPublic,
    ambiguous_answer,
    subscription_public,
)
from services.api.undeliverable import undeliverable
from services.extractor.lookup import AmbiguousName
from services.notifier.subscriptions import MAX_DESCRIPTION_CHARS, Query, Subscription, replay, subscribe, unsubscribe
from services.notifier.webhooks import DeliveryLogEntry

router = APIRouter(tags=["subscriptions"])


class SubscriptionCreate(BaseModel):
    """A subscription to register."""

    model_config = ConfigDict(extra="forbid")
    target_url: str = Field(description="http(s) URL the webhooks are POSTed to", max_length=8192)
    secret: str | None = Field(
        None, description="Standard Webhooks secret ('whsec_' + base64 of 24 to 64 bytes); generated when omitted")
    query: Query = Field(default_factory=Query, description="what to follow: at least one criterion")
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)


def _known(sub: Subscription | None, sub_id: str) -> SubscriptionPublic:
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")
    return subscription_public(sub)


_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "no such subscription"}}


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             responses={409: {"model": AmbiguousEntity, "description": "an entity name stands for several "
                                                                       "entities: register again with one key"}})
async def create_subscription(body: SubscriptionCreate, store: SubscriptionsDep, webhooks: WebhooksDep,
                              settings: SettingsDep) -> SubscriptionCreated | JSONResponse:
    """Register a subscription; the response holds its secret, which is never shown again. A signed test ping
    is queued to the target at once. A target the SSRF guard refuses and a query without any criterion are
    refused (422), since nothing could ever be delivered to them or everything would be. Entities may be given
    by key or any name ('Soleimani'); each is stored as the key the alias table knows it by, or as given when
    it knows none."""
    problems = await undeliverable(settings, body.target_url, body.query)
    if problems:
        raise RequestValidationError([{"loc": ("body", field), "msg": why, "type": "value_error"}
                                      for field, why in problems])
    try:
        sub = await subscribe(store, webhooks, body.target_url, body.query, secret=body.secret,
                              description=body.description)
    except AmbiguousName as exc:
        # A write has no representation to choose among (300 is for reads): the request conflicts with what
        # the table knows, and the body lists the keys to register with instead.
        return ambiguous_answer(exc, status_code=status.HTTP_409_CONFLICT)
    except ValidationError as exc:
        # The target URL or the secret is unusable: the same 422 shape as any other invalid body
        # (without the input: it may be the secret).
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from exc
    return SubscriptionCreated(**sub.model_dump())


@router.get("/subscriptions")
async def list_subscriptions(store: SubscriptionsDep) -> list[SubscriptionPublic]:
    """Every subscription, oldest first (secrets omitted)."""
    return [subscription_public(s) for s in await store.all()]


@router.get("/subscriptions/{sub_id}", responses=_NOT_FOUND)
async def get_subscription(sub_id: str, store: SubscriptionsDep) -> SubscriptionPublic:
    """One subscription (secret omitted)."""
    return _known(await store.get(sub_id), sub_id)


@router.post("/subscriptions/{sub_id}/pause", responses=_NOT_FOUND)
async def pause_subscription(sub_id: str, store: SubscriptionsDep) -> SubscriptionPublic:
    """Stop matching a subscription until it is resumed (idempotent)."""
    return _known(await store.pause(sub_id), sub_id)


@router.post("/subscriptions/{sub_id}/resume", responses=_NOT_FOUND)
async def resume_subscription(sub_id: str, store: SubscriptionsDep) -> SubscriptionPublic:
    """Match a paused subscription again (idempotent)."""
    return _known(await store.resume(sub_id), sub_id)


@router.delete("/subscriptions/{sub_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
async def delete_subscription(sub_id: str, store: SubscriptionsDep, webhooks: WebhooksDep) -> None:
    """Remove a subscription and its undelivered webhooks."""
    if not await unsubscribe(store, webhooks, sub_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")


class DeliveryLog(BaseModel):
    """A subscription's recent deliveries (newest first) and whether its endpoint is paused."""

    subscription_id: str
    paused: bool
    paused_reason: str | None = None
    undelivered: int = Field(description="deliveries pending or failed (kept for replay)")
    entries: list[DeliveryLogEntry]


@router.get("/subscriptions/{sub_id}/deliveries", responses=_NOT_FOUND)
async def delivery_log(sub_id: str, store: SubscriptionsDep, webhooks: WebhooksDep,
                       limit: Annotated[int, Query_(ge=1, le=200)] = 50) -> DeliveryLog:
    """Attempts, status codes, latency and next retry of the subscription's deliveries."""
    _known(await store.get(sub_id), sub_id)
    paused = await webhooks.paused(sub_id)
    return DeliveryLog(subscription_id=sub_id, paused=paused is not None,
                       paused_reason=paused.reason if paused else None,
                       undelivered=len(await webhooks.undelivered(sub_id)),
                       entries=await webhooks.log(sub_id, limit))


@router.post("/subscriptions/{sub_id}/replay", responses=_NOT_FOUND)
async def replay_deliveries(sub_id: str, store: SubscriptionsDep, webhooks: WebhooksDep) -> dict[str, int]:
    """Once an endpoint is fixed: unpause it and make its undelivered deliveries due now."""
    replayed = await replay(store, webhooks, sub_id)
    if replayed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")
    return {"replayed": replayed}
