"""Standard Webhooks signing and verification (services.notifier.webhooks.signing), plus the retry schedule's
jitter and the delivery id rule (services.notifier.webhooks.queue)."""

from __future__ import annotations

import random

import pytest

from services.notifier.webhooks.queue import RETRY_SCHEDULE, WebhookDelivery, backoff_delay
from services.notifier.webhooks.signing import check_secret, generate_secret, sign, signature_headers, verify

# The published test vector of the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(sig: str, msg_id: str = VECTOR_ID, ts: int = VECTOR_TS) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def test_published_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY.encode()) == VECTOR_SIGNATURE
    assert verify(VECTOR_SECRET, _headers(VECTOR_SIGNATURE), VECTOR_BODY, now=VECTOR_TS + 10)


def test_round_trip_with_a_fresh_secret() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    body = b'{"event": "story.created", "cluster": {"id": "c1"}}'
    headers = signature_headers(secret, "msg_1", body)
    assert headers["webhook-id"] == "msg_1"
    assert verify(secret, headers, body)
    # Header names are case-insensitive on the wire.
    assert verify(secret, {k.title(): v for k, v in headers.items()}, body)


def test_the_generated_secret_is_one_a_subscription_accepts() -> None:
    secret = generate_secret()
    assert check_secret(secret) == secret and generate_secret() != secret
    for bad, why in (("secret", "start with"), ("whsec_not*base64", "base64"), ("whsec_c2hvcnQ=", "24 to 64 bytes")):
        with pytest.raises(ValueError, match=why):
            check_secret(bad)


def test_tampered_body_wrong_secret_or_id_fail() -> None:
    headers = _headers(VECTOR_SIGNATURE)
    now = VECTOR_TS
    assert not verify(VECTOR_SECRET, headers, '{"test": 2432232315}', now=now)
    assert not verify(generate_secret(), headers, VECTOR_BODY, now=now)
    assert not verify(VECTOR_SECRET, _headers(VECTOR_SIGNATURE, msg_id="msg_other"), VECTOR_BODY, now=now)
    assert not verify(VECTOR_SECRET, _headers(VECTOR_SIGNATURE, ts=VECTOR_TS + 1), VECTOR_BODY, now=now)


def test_timestamp_tolerance_both_ways() -> None:
    headers = _headers(VECTOR_SIGNATURE)
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 299)
    assert not verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)  # too old: a replay
    assert not verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS - 301)  # too new
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, tolerance_s=10_000, now=VECTOR_TS + 5000)


def test_several_signatures_any_valid_v1_passes() -> None:
    other = sign(generate_secret(), VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    value = VECTOR_SIGNATURE.split(",", 1)[1]
    for sig in (f"{other} {VECTOR_SIGNATURE}", f"{VECTOR_SIGNATURE} {other}", f"v1a,abc {VECTOR_SIGNATURE}"):
        assert verify(VECTOR_SECRET, _headers(sig), VECTOR_BODY, now=VECTOR_TS)
    # The right digest under another version tag, or no valid one at all, fails.
    assert not verify(VECTOR_SECRET, _headers(f"v2,{value}"), VECTOR_BODY, now=VECTOR_TS)
    assert not verify(VECTOR_SECRET, _headers(f"{other} v1,garbage"), VECTOR_BODY, now=VECTOR_TS)


@pytest.mark.parametrize("headers", [
    {},
    {"webhook-id": VECTOR_ID, "webhook-signature": VECTOR_SIGNATURE},
    {"webhook-id": VECTOR_ID, "webhook-timestamp": "soon", "webhook-signature": VECTOR_SIGNATURE},
    {"webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE},
    {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": ""},
])
def test_missing_or_malformed_headers_fail(headers: dict[str, str]) -> None:
    assert not verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS)


def test_bad_secret() -> None:
    with pytest.raises(ValueError, match="base64"):
        sign("whsec_not base64!", VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert not verify("whsec_not base64!", _headers(VECTOR_SIGNATURE), VECTOR_BODY, now=VECTOR_TS)


def test_delivery_ids_cannot_contain_dots() -> None:
    # A "." in the id would make the signed content `id.timestamp.body` ambiguous.
    base = {"subscription_id": "s1", "target_url": "http://example.com/", "secret": VECTOR_SECRET, "body": b"{}"}
    assert WebhookDelivery(id="msg_1", **base).body == "{}"
    with pytest.raises(ValueError):
        WebhookDelivery(id="msg.1", **base)


def test_backoff_full_jitter_within_each_step_then_gives_up() -> None:
    rng = random.Random(7)
    for attempt, step in enumerate(RETRY_SCHEDULE, start=1):
        delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(d is not None and 0 <= d <= step for d in delays)
        assert max(d for d in delays if d is not None) > step * 0.8  # spread over the whole step
    assert backoff_delay(len(RETRY_SCHEDULE) + 1) is None
    assert sum(RETRY_SCHEDULE) > 12 * 3600  # retried over hours
