"""Redis client factory: one place that opens and closes connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from services.common.settings import Settings

Redis = aioredis.Redis


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client for settings.redis_url (strings decoded as UTF-8), closed on exit."""
    client: Redis = aioredis.Redis.from_url(
        settings.required_redis_url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    try:
        yield client
    finally:
        await client.aclose()
