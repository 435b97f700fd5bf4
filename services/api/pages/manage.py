"""The feeds page (`/feeds`) and the subscriptions page (`/subscriptions`).

Both render what `GET /v1/feeds`, `GET /v1/subscriptions` and `GET /v1/subscriptions/{id}/deliveries`
answer; every change (add, pause, resume, remove, import, replay, create) is the page's script calling
the /v1 endpoint itself with the reader's key, and the page shows the API's answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.deps import FeedsDep, SubscriptionsDep, WebhooksDep
from services.api.pages.render import render
from services.api.pages.river import RiverFilter
from services.api.pages.viewer import ViewerDep
from services.api.routes import feeds as feed_routes
from services.api.routes import subscriptions as subscription_routes

router = APIRouter(include_in_schema=False)

#: Deliveries shown per subscription (the API's log keeps more; `GET /v1/subscriptions/{id}/deliveries`).
DELIVERIES_SHOWN = 10


def feed_status(paused: bool, disabled: bool, last_error: str | None, last_poll: datetime | None) -> str:
    """One word for a feed's health: paused, disabled, failing, ok or new (never polled yet)."""
    if paused:
        return "paused"
    if disabled:
        return "disabled"
    if last_error:
        return "failing"
    return "ok" if last_poll else "new"


@router.get("/feeds", response_class=HTMLResponse)
async def feeds_page(request: Request, viewer: ViewerDep, registry: FeedsDep) -> HTMLResponse:
    """Every feed with its health; add, pause, resume, remove, OPML import and export."""
    feeds = await feed_routes.list_feeds(registry)
    feeds.sort(key=lambda f: (f.name.casefold(), f.url))
    rows = [(f, feed_status(f.paused, f.health.disabled, f.health.last_error, f.health.last_poll)) for f in feeds]
    counts = {s: sum(1 for _, st in rows if st == s) for s in ("ok", "new", "failing", "disabled", "paused")}
    return render(request, "feeds.html", viewer, rows=rows, counts=counts, now=datetime.now(UTC))


@router.get("/subscriptions", response_class=HTMLResponse)
async def subscriptions_page(request: Request, viewer: ViewerDep, store: SubscriptionsDep,
                             webhooks: WebhooksDep) -> HTMLResponse:
    """Every subscription with its latest deliveries; the form is pre-filled from the river's filters."""
    subs = await subscription_routes.list_subscriptions(store)
    logs = {s.id: await subscription_routes.delivery_log(s.id, store, webhooks, limit=DELIVERIES_SHOWN)
            for s in subs}
    q = request.query_params
    wanted = RiverFilter.of(q.get("entity"), q.get("outlet"), q.get("language"), q.get("min_outlets"),
                            q.get("q"), None)
    return render(request, "subscriptions.html", viewer, subs=subs, logs=logs, prefill=wanted,
                  now=datetime.now(UTC))
