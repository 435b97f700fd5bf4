"""Redis client factory: one place that opens and closes connections, and rides out a Redis restart.

Redis restarting (a crash, a failover, the embedded Valkey started again by `wirewatch up`) must cost
a pause, never a service. Two layers:

* the client retries a command that lost its connection, with exponential back-off and jitter, for
  about `RETRY_WINDOW_S` (redis-py's `Retry`; a loading server answers LOADING, which counts too);
* past that, `is_outage(exc)` tells a loop that the error was the infrastructure, not its input: the
  consume loop waits and tries the same message again without counting an attempt
  (services.common.bus), and the other loops log, back off and go on (`wait_out_outage`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from services.common.settings import Settings

Redis = aioredis.Redis

#: Retries of one command (about 10 s in all with the back-off below) before the caller sees the error.
RETRIES = 8
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError, ConnectionRefusedError)


def client_retry() -> Retry:
    """The retry policy of every client: exponential back-off with jitter on connection errors."""
    return Retry(ExponentialWithJitterBackoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S), RETRIES,
                 supported_errors=OUTAGE_ERRORS)


def connect(url: str) -> Redis:
    """A client for `url` (strings decoded as UTF-8) that retries through a restart of the server."""
    client: Redis = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=client_retry(),
        retry_on_error=list(OUTAGE_ERRORS),
    )
    return client


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client for settings.redis_url, closed on exit."""
    client = connect(settings.required_redis_url)
    try:
        yield client
    finally:
        with contextlib.suppress(*OUTAGE_ERRORS):
            await client.aclose()


def is_outage(exc: BaseException) -> bool:
    """True if `exc` (or what caused it) means Redis is unreachable, not that the work is bad."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def wait_out_outage(stop: asyncio.Event, delay_s: float) -> float:
    """Wait `delay_s` (or until `stop`) after an outage error; returns the next, doubled delay (capped)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)
    return min(delay_s * 2, 5.0)
