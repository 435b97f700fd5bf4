"""Service lifecycle: signals set a stop event, start-up waits for its dependencies, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import start_http_server

from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.common.topics import ensure_all

log = get_logger(__name__)

ServiceMain = Callable[[Settings, asyncio.Event], Awaitable[None]]
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TTL_S = 20


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set `stop`; a second Ctrl-C kills at once."""
    loop = asyncio.get_running_loop()

    def first_signal(sig: signal.Signals) -> None:
        log.info("service.stopping", signal=sig.name)
        stop.set()
        # Restore the default so a second Ctrl-C is not swallowed by a slow drain.
        loop.remove_signal_handler(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first_signal, sig)


def run_service(main: ServiceMain, settings: Settings, *, uses_topics: bool = True) -> None:
    """Run one service until SIGTERM/SIGINT, after its broker and Redis answer and (for a service on the bus)
    the missing topics were created: once, here, as `wirewatch up` does once for all of its services."""

    if settings.metrics_port:
        # A service alone has no API: it serves its own counters (services.common.metrics) to Prometheus.
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
        log.info("metrics.serving", url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")

    async def _run() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await wait_until_reachable(settings)
        if uses_topics:
            await ensure_all(settings)
        await main(settings, stop)

    asyncio.run(_run())


async def wait_until_reachable(settings: Settings) -> None:
    """Wait (bounded by settings.startup_wait_s) until the broker's and Redis's ports accept."""
    targets: list[tuple[str, int]] = []
    if settings.kafka_bootstrap:
        for part in settings.kafka_bootstrap.split(","):
            host, _, port_text = part.strip().rpartition(":")
            targets.append((host or "127.0.0.1", int(port_text)))
    deadline = time.monotonic() + settings.startup_wait_s
    for host, port in targets:
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
                writer.close()
                break
            except (OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"broker {host}:{port} unreachable: {exc}") from exc
                await asyncio.sleep(0.5)
    if settings.redis_url is not None:
        async with open_redis(settings) as redis:
            while True:
                try:
                    await redis.ping()
                    break
                except Exception as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Redis unreachable: {exc}") from exc
                    await asyncio.sleep(0.5)


async def every(interval_s: float, stop: asyncio.Event, step: Callable[[], Awaitable[object]], *,
                failed: str) -> None:
    """Run `step` now and every `interval_s` after, until `stop`. A failure (a Redis hiccup) is logged as the
    event `failed` and the step runs again next round: upkeep such as trimming an index never ends a service."""
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:  # noqa: BLE001 - tried again next round
            log.warning(failed, error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def heartbeat(redis: Redis, keys: Keys, service: str, stop: asyncio.Event,
                    ready: asyncio.Event | None = None) -> None:
    """Once `ready` (if given) is set, refresh the service's liveness key until `stop`; /healthz reads it.

    Each beat carries its own time, so a reader can tell a beat of this run from one a crashed run left
    behind (`beat_time`). A Redis outage skips beats: the key expires and /healthz says so.
    """
    if ready is not None:
        ready_or_stop = [asyncio.ensure_future(ready.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(ready_or_stop, return_when=asyncio.FIRST_COMPLETED)
        for waiter in ready_or_stop:
            waiter.cancel()
    key = keys.heartbeat(service)
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await redis.set(key, f"{socket.gethostname()}:{os.getpid()}:{time.time():.3f}", ex=HEARTBEAT_TTL_S)
            # The same beat for this host alone: a container's probe reads it (`python -m ...lifecycle SERVICE`).
            await asyncio.to_thread(alive_file(service).touch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_EVERY_S)
    with contextlib.suppress(Exception):
        await redis.delete(key)


def beat_time(value: str | None) -> float | None:
    """When a heartbeat value was written (unix time), or None for no (or an unreadable) beat."""
    if not value:
        return None
    try:
        return float(value.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def beat_is_fresh(value: str | None, *, since: float, now: float | None = None) -> bool:
    """True if the beat was written after `since` (this reader's start) and within the heartbeat TTL."""
    at = beat_time(value)
    current = time.time() if now is None else now
    return at is not None and at >= since and current - at <= HEARTBEAT_TTL_S


def alive_file(service: str) -> Path:
    """The file a service's beats touch on its own host (what the container probes check)."""
    return Path(tempfile.gettempdir()) / f"wirewatch-{service}.alive"


def beating_here(service: str, *, now: float | None = None) -> bool:
    """True if `service` on this host beat (reached Redis) within the heartbeat TTL."""
    try:
        at = alive_file(service).stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - at <= HEARTBEAT_TTL_S


if __name__ == "__main__":  # readiness/liveness probe: exit 0 while the named service beats on this host
    raise SystemExit(0 if len(sys.argv) == 2 and beating_here(sys.argv[1]) else 1)
