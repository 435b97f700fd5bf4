"""Standard Webhooks signing and verification, and the one place a signing secret is made or checked.

Follows https://www.standardwebhooks.com/ (RELIABILITY 1.3.1): `webhook-id`, `webhook-timestamp` (unix
seconds of the *attempt*) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 over `id.timestamp.body`,
keyed with the base64 part of `whsec_...`). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

__all__ = [
    "SECRET_MAX_BYTES",
    "SECRET_MIN_BYTES",
    "SECRET_PREFIX",
    "check_secret",
    "generate_secret",
    "sign",
    "signature_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"
#: Standard Webhooks: the secret is 24 to 64 random bytes, base64-encoded after "whsec_".
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64


def generate_secret() -> str:
    """A new Standard Webhooks signing secret: "whsec_" + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(value: str) -> str:
    """`value` if it is a usable secret ("whsec_" + base64 of 24 to 64 bytes); ValueError saying why if not."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"the secret must start with {SECRET_PREFIX!r}")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret after 'whsec_' must be base64") from None
    if not SECRET_MIN_BYTES <= len(raw) <= SECRET_MAX_BYTES:
        raise ValueError(f"the secret must encode {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes")
    return value


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not base64 (expected whsec_<base64>)") from exc


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secret: str, msg_id: str, body: bytes | str, *, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (timestamp: now unless given)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance_s: float = 300,
           *, now: float | None = None) -> bool:
    """True when `headers` carry a valid `v1` signature of `body` made within `tolerance_s` of now.

    Header names are matched case-insensitively; `webhook-signature` may list several space-separated
    signatures (key rotation) and any valid `v1` one passes. Compared in constant time.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp", "")
    given = lower.get("webhook-signature")
    if not msg_id or not given or not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_s:
        return False  # too old (a replay) or too new
    try:
        expected = sign(secret, msg_id, int(stamp), body).split(",", 1)[1].encode()
    except ValueError:
        return False
    found = False
    for candidate in given.split():
        version, _, value = candidate.partition(",")
        # No early exit: every candidate is compared, so timing does not tell which one matched.
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            found = True
    return found
