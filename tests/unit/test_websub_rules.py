"""WebSub rules (pure): push signatures, when to (re)subscribe, when a hub counts as pushing."""

from __future__ import annotations

import hashlib
import hmac

from services.fetcher.websub import QUIET_AFTER_S, HubSubscription, needs_request, signature_valid

NOW = 1_800_000_000.0
HUB, TOPIC = "https://hub.example/", "https://news.example/feed.xml"


def sub(**changes: object) -> HubSubscription:
    base = HubSubscription(feed_id="f1", hub=HUB, topic=TOPIC, secret="s3cret", requested_at=NOW - 10)
    return base.model_copy(update=changes)


def test_signatures_are_checked_with_the_named_algorithm() -> None:
    body = b"<rss/>"
    for name, digest in (("sha256", hashlib.sha256), ("sha1", hashlib.sha1), ("sha512", hashlib.sha512)):
        header = f"{name}=" + hmac.new(b"s3cret", body, digest).hexdigest()
        assert signature_valid("s3cret", header, body)
        assert not signature_valid("other", header, body)
        assert not signature_valid("s3cret", header, body + b" ")
    assert not signature_valid("s3cret", None, body)
    assert not signature_valid("s3cret", "md5=abc", body)
    assert not signature_valid("s3cret", "garbage", body)


def test_when_to_send_a_subscription_request() -> None:
    assert needs_request(None, HUB, TOPIC, NOW)
    assert not needs_request(sub(), HUB, TOPIC, NOW), "awaiting verification: not asked again at once"
    assert needs_request(sub(requested_at=NOW - 7200), HUB, TOPIC, NOW), "never verified: asked again"
    assert needs_request(sub(), "https://other-hub.example/", TOPIC, NOW)
    active = sub(state="active", lease_expires=NOW + 5 * 86400)
    assert not needs_request(active, HUB, TOPIC, NOW)
    assert needs_request(active.model_copy(update={"lease_expires": NOW + 3600}), HUB, TOPIC, NOW), "renewal"


def test_a_hub_counts_as_pushing_only_while_verified_leased_and_recent() -> None:
    live = sub(state="active", lease_expires=NOW + 86400, last_push=NOW - 60)
    assert live.pushing(NOW)
    assert not live.model_copy(update={"last_push": NOW - QUIET_AFTER_S - 1}).pushing(NOW), "gone quiet"
    assert not live.model_copy(update={"lease_expires": NOW - 1}).pushing(NOW)
    assert not live.model_copy(update={"state": "requested"}).pushing(NOW)
    assert not sub(state="active", lease_expires=NOW + 86400).pushing(NOW), "never pushed yet"
