"""WebSub subscriptions (https://www.w3.org/TR/websub/): feeds that push instead of waiting to be polled.

When a feed advertises a hub and `websub_callback_url` is set, the fetcher asks
the hub to push updates to `<callback>/v1/websub/<feed id>` with a secret of its
own per subscription (after each poll, `follow`). The hub verifies that intent with a GET the
API answers by echoing its challenge (`verify_intent`), and from then on POSTs
each update signed with the secret (`X-Hub-Signature: sha256=<hmac>`). A push
with a valid signature makes the feed due now: the fetcher polls it within a
second, with its conditional GET, seen-set and ledger, so a push can never emit
an item twice or skip the dead-letter rules. A push with a bad signature is
acknowledged (as the spec requires) and ignored.

Subscriptions are renewed a day before their lease ends. While pushes keep
coming the feed is polled only at the longest interval; when the hub goes quiet
polling takes over again at the feed's own rate (services.fetcher.schedule.next_state).
Owner of the `websub:` keys: this module.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Literal

from pydantic import BaseModel, Field

from services.common.errors import WirewatchError
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis

log = get_logger(__name__)

RENEW_BEFORE_S = 86400.0
#: A subscription request the hub never verified is asked again after this long.
UNVERIFIED_RETRY_S = 3600.0
#: Pushes older than this mean the hub has gone quiet: polling at the feed's own rate takes over.
QUIET_AFTER_S = 6 * 3600.0
_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class HubSubscription(BaseModel):
    """One feed's subscription at its hub."""

    feed_id: str
    hub: str
    topic: str
    secret: str = Field(repr=False)
    state: Literal["requested", "active", "denied"] = "requested"
    requested_at: float
    lease_expires: float | None = None
    last_push: float | None = None

    def pushing(self, now: float) -> bool:
        """Whether the hub is live: verified, within its lease, and pushed lately."""
        return (self.state == "active" and self.lease_expires is not None and self.lease_expires > now
                and self.last_push is not None and now - self.last_push < QUIET_AFTER_S)


def needs_request(current: HubSubscription | None, hub: str, topic: str, now: float) -> bool:
    """Whether to (re)send a subscription request: none yet, another hub or topic, a lease about to end,
    or a request the hub never verified (or denied) an hour ago."""
    if current is None or current.hub != hub or current.topic != topic:
        return True
    if current.state == "active":
        return current.lease_expires is None or current.lease_expires - now < RENEW_BEFORE_S
    return now - current.requested_at > UNVERIFIED_RETRY_S


def signature_valid(secret: str, header: str | None, body: bytes) -> bool:
    """Whether `X-Hub-Signature: <algorithm>=<hex>` is the HMAC of `body` with `secret`."""
    if not header or "=" not in header:
        return False
    algorithm, _, received = header.strip().partition("=")
    digest = _ALGORITHMS.get(algorithm.lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, received.strip().lower())


class WebSubStore:
    """Subscriptions in Redis, one JSON string per feed."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def get(self, feed_id: str) -> HubSubscription | None:
        """The feed's subscription, if any."""
        raw = await self.redis.get(self.keys.websub(feed_id))
        return HubSubscription.model_validate_json(raw) if raw else None

    async def save(self, sub: HubSubscription) -> None:
        """Store a subscription."""
        await self.redis.set(self.keys.websub(sub.feed_id), sub.model_dump_json())

    async def verify_intent(self, feed_id: str, mode: str, topic: str, lease_s: float | None) -> bool:
        """The hub's verification of intent: True (echo the challenge) only for the subscription we asked for."""
        sub = await self.get(feed_id)
        if sub is None or sub.topic != topic:
            return False
        now = time.time()
        if mode == "subscribe":
            lease = lease_s if lease_s and lease_s > 0 else 86400.0
            await self.save(sub.model_copy(update={"state": "active", "lease_expires": now + lease}))
            return True
        if mode == "denied":
            await self.save(sub.model_copy(update={"state": "denied"}))
            return True
        return False  # we never ask to unsubscribe: a hub asking is not us

    async def record_push(self, sub: HubSubscription) -> None:
        """Note that the hub delivered an update (it is not quiet)."""
        await self.save(sub.model_copy(update={"last_push": time.time()}))

    async def follow(self, http: SafeHttpClient, *, feed_id: str, feed_url: str, hub: str | None, topic: str | None,
                     callback: str, lease_s: float, now: float) -> HubSubscription | None:
        """The feed's subscription after a poll that found `hub` and `topic` (None when the body was not read
        again: the hub we know stands). Requested the first time, renewed before its lease ends (see
        `needs_request`); a hub that fails is logged and the subscription left as it was: polling goes on."""
        current = await self.get(feed_id)
        if hub is None and current is not None:
            hub, topic = current.hub, current.topic
        if hub is None or not needs_request(current, hub, topic or feed_url, now):
            return current
        topic = topic or feed_url
        try:
            subscription = await self.subscribe(http, feed_id=feed_id, hub=hub, topic=topic, callback=callback,
                                                current=current, lease_s=lease_s)
        except WirewatchError as exc:
            log.warning("websub.request_failed", feed_id=feed_id, hub=hub, error=str(exc))
            return current
        log.info("websub.requested", feed_id=feed_id, hub=hub, topic=topic)
        return subscription

    async def subscribe(self, http: SafeHttpClient, *, feed_id: str, hub: str, topic: str, callback: str,
                        lease_s: float, current: HubSubscription | None = None) -> HubSubscription:
        """Ask `hub` to push `topic` to `callback`; the hub then verifies the intent.

        A renewal of an active subscription keeps its secret and stays active meanwhile, so pushes signed
        before the hub verifies the renewal still count; anything else starts afresh with a new secret.
        """
        now = time.time()
        if current is not None and current.state == "active" and (current.hub, current.topic) == (hub, topic):
            sub = current.model_copy(update={"requested_at": now})
        else:
            sub = HubSubscription(feed_id=feed_id, hub=hub, topic=topic, secret=secrets.token_hex(32), requested_at=now)
        await self.save(sub)  # before asking: the hub may verify before it even answers our POST
        await http.post_form(hub, {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback,
                                   "hub.secret": sub.secret, "hub.lease_seconds": str(int(lease_s))},
                             max_bytes=64 * 1024)
        return sub
