"""Liveness of the broker, Redis and each service.

A service counts as up only if it has checked in since the API started (and within the heartbeat's
lifetime): right after a restart, beats a crashed run left in Redis do not make the system look healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.deps import KeysDep, RedisDep, SettingsDep
from services.common.lifecycle import beat_is_fresh

router = APIRouter(tags=["health"])
SERVICES = ("fetcher", "extractor", "store", "notifier")


async def _broker_reachable(bootstrap: str | None) -> bool:
    if not bootstrap:
        return False
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), 2)
    except (OSError, TimeoutError, ValueError):
        return False
    writer.close()
    return True


@router.get("/healthz")
async def healthz(request: Request, settings: SettingsDep, redis: RedisDep, keys: KeysDep) -> JSONResponse:
    """Broker, Redis and service liveness; 200 when all are up, else 503."""
    redis_ok = False
    services: dict[str, bool] = dict.fromkeys(SERVICES, False)
    since = float(getattr(request.app.state, "started_at", 0.0))
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            redis_ok = bool(await redis.ping())
            values = await redis.mget([keys.heartbeat(s) for s in SERVICES])
        now = time.time()
        services = {s: beat_is_fresh(None if v is None else str(v), since=since, now=now)
                    for s, v in zip(SERVICES, values, strict=True)}
    broker_ok = await _broker_reachable(settings.kafka_bootstrap)
    healthy = redis_ok and broker_ok and all(services.values())
    body = {"status": "ok" if healthy else "degraded", "broker": broker_ok, "redis": redis_ok,
            "services": services}
    return JSONResponse(body, status_code=200 if healthy else 503)
