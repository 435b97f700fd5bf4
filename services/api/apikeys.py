"""API keys: who may call the HTTP API, with a read-only or an admin scope.

A key is a random token ("ww_" + 43 URL-safe characters, 256 bits) shown once when it is created
(`wirewatch apikeys create`). Redis keeps only its SHA-256: a request's token is hashed and looked
up (HGET), so nothing secret is compared character by character and a copy of Redis reveals no
usable token. A fast hash suffices because the token is random, not a password.

Whether the API asks for keys at all is `settings.api_auth`: "on", "off", or "auto" (the default):
required as soon as the API listens beyond loopback (`api_host` not 127.0.0.0/8, ::1, localhost).

Owner of the `{apikeys}` keys: this module (the CLI writes through it, the API reads).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.keys import Keys
from services.common.redis import Redis
from services.common.settings import Settings

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
TOKEN_PREFIX = "ww_"
#: Methods a read-only key may call.
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_NAME_CHARS = 200


class ApiKey(BaseModel):
    """What is stored about a key (never the token)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    scope: Scope
    created_at: datetime

    def allows(self, method: str) -> bool:
        """Whether this key may make a request with `method`: read keys GET/HEAD only, admin keys anything."""
        return self.scope == "admin" or method.upper() in READ_METHODS


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh secret token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts local connections ("" and 0.0.0.0 / :: do not)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_required(settings: Settings) -> bool:
    """Whether the API asks every request (but /healthz and the WebSub callbacks) for a key."""
    if settings.api_auth == "auto":
        return not is_loopback(settings.api_host)
    return settings.api_auth == "on"


class ApiKeyStore:
    """Create, verify, list and revoke API keys. Records: HASH sha256(token) -> ApiKey JSON, and
    HASH key id -> sha256(token) so a key can be revoked by its id."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def create(self, scope: Scope, name: str = "") -> tuple[str, str]:
        """A new key: (its id, its token). The token is returned only here."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"name is over {MAX_NAME_CHARS} characters")
        token = new_token()
        digest = hash_token(token)
        key = ApiKey(id=secrets.token_hex(8), name=name, scope=scope, created_at=datetime.now(UTC))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.api_keys, digest, key.model_dump_json())
            pipe.hset(self.keys.api_key_ids, key.id, digest)
            await pipe.execute()
        return key.id, token

    async def verify(self, token: str) -> ApiKey | None:
        """The key a token belongs to, or None (unknown, revoked or malformed)."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        raw = await self.redis.hget(self.keys.api_keys, hash_token(token))
        if raw is None:
            return None
        try:
            return ApiKey.model_validate_json(raw)
        except ValidationError:
            return None

    async def list(self) -> list[ApiKey]:
        """Every key, oldest first (no tokens: they are not stored)."""
        raw = await self.redis.hvals(self.keys.api_keys)
        found = []
        for value in raw:
            try:
                found.append(ApiKey.model_validate_json(value))
            except ValidationError:
                continue
        return sorted(found, key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str) -> bool:
        """Delete a key by its id; False when there is no such key."""
        digest = await self.redis.hget(self.keys.api_key_ids, key_id)
        if digest is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.api_keys, str(digest))
            pipe.hdel(self.keys.api_key_ids, key_id)
            deleted = await pipe.execute()
        return bool(deleted[0] or deleted[1])
