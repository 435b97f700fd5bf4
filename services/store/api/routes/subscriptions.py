"""Subscriptions: register what a user follows and where its webhooks go (services.common.subscriptions)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.subscriptions import MAX_DESCRIPTION_CHARS, Query, Subscription
from services.store.api.deps import SubscriptionsDep

router = APIRouter(tags=["subscriptions"])


class SubscriptionCreate(BaseModel):
    """A subscription to register."""

    model_config = ConfigDict(extra="forbid")
    target_url: str = Field(description="http(s) URL the webhooks are POSTed to", max_length=8192)
    secret: str | None = Field(
        None, description="Standard Webhooks secret ('whsec_' + base64 of 24 to 64 bytes); generated when omitted")
    query: Query = Field(default_factory=Query)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)


class SubscriptionPublic(BaseModel):
    """A subscription as listed: everything but its secret."""

    id: str
    target_url: str
    query: Query
    created_at: datetime
    paused: bool
    description: str | None


class SubscriptionCreated(SubscriptionPublic):
    """A subscription just registered, with its secret: the only time the secret is shown."""

    secret: str


def subscription_public(sub: Subscription) -> SubscriptionPublic:
    """A subscription without its secret, for the API and the CLI."""
    return SubscriptionPublic(**sub.model_dump(exclude={"secret"}))


def _known(sub: Subscription | None, sub_id: str) -> SubscriptionPublic:
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")
    return subscription_public(sub)


_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "no such subscription"}}


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED)
async def create_subscription(body: SubscriptionCreate, store: SubscriptionsDep) -> SubscriptionCreated:
    """Register a subscription; the response holds its secret, which is never shown again."""
    try:
        sub = await store.create(body.target_url, body.query, secret=body.secret, description=body.description)
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
async def delete_subscription(sub_id: str, store: SubscriptionsDep) -> None:
    """Remove a subscription."""
    if not await store.delete(sub_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id!r}")
