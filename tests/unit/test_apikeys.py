"""API keys, the pure parts: loopback detection, when keys are required, scopes, token hashing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api.apikeys import ApiKey, auth_required, hash_token, is_loopback, new_token
from services.common.settings import Settings


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False), ("api.example", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("mode", "host", "required"), [
    ("auto", "127.0.0.1", False), ("auto", "0.0.0.0", True), ("auto", "::1", False),
    ("on", "127.0.0.1", True), ("off", "0.0.0.0", False),
])
def test_keys_required_when_listening_beyond_loopback(mode: str, host: str, required: bool) -> None:
    assert auth_required(Settings(api_auth=mode, api_host=host)) is required


def test_default_settings_keep_a_local_api_open() -> None:
    assert Settings().api_auth == "auto" and not auth_required(Settings(api_host="127.0.0.1"))


def test_read_keys_may_only_read() -> None:
    now = datetime.now(UTC)
    read = ApiKey(id="r", name="", scope="read", created_at=now)
    admin = ApiKey(id="a", name="", scope="admin", created_at=now)
    assert read.allows("GET") and read.allows("head") and not read.allows("POST") and not read.allows("DELETE")
    assert all(admin.allows(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE"))


def test_tokens_are_random_and_stored_as_their_hash() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith("ww_") and len(a) >= 40
    assert hash_token(a) == hash_token(a) and len(hash_token(a)) == 64 and a not in hash_token(a)
