"""`wirewatch up`: the whole system on one machine (a composition root, above the services).

Starts the embedded broker (Tansu) and Redis (Valkey) as child processes
unless KAFKA_BOOTSTRAP / REDIS_URL point at real ones, creates the topics,
then runs fetcher, extractor, store and the API in this process until
SIGINT/SIGTERM, and stops everything in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from services.api.app import create_app
from services.api.limits import MAX_REQUEST_HEAD_BYTES
from services.common.embedded import ChildProcess, free_port, start_tansu, start_valkey, supervise
from services.common.lifecycle import install_signal_handlers
from services.common.logging import get_logger
from services.common.procs import pid_alive
from services.common.settings import Settings
from services.common.topics import ensure_all
from services.extractor import service as extractor
from services.fetcher import service as fetcher
from services.notifier import service as notifier
from services.store import service as store

log = get_logger(__name__)
RUNTIME_FILE = "runtime.json"


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: our stop event decides."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


async def serve_api(settings: Settings, stop: asyncio.Event) -> None:
    """Serve the HTTP API until `stop` is set; log its URLs once it accepts connections."""
    config = uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port,
                            log_config=None, access_log=False, lifespan="on",
                            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)  # then 414, not a reset
    server = _ApiServer(config)
    task = asyncio.create_task(server.serve())
    listening = asyncio.ensure_future(server.listening.wait())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([listening, stopping, task], return_when=asyncio.FIRST_COMPLETED)
    listening.cancel()
    stopping.cancel()
    if server.listening.is_set():
        url = api_url(settings)
        log.info("api.ready", url=url, docs=f"{url}/docs", metrics=f"{url}/metrics")
    await stop.wait()
    server.should_exit = True
    await task


def api_url(settings: Settings) -> str:
    """Where the API answers (a wildcard bind address is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(settings.api_host, settings.api_host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}"


def runtime_path(data_dir: Path) -> Path:
    """Where `up` writes the addresses it chose, for other CLI commands to find."""
    return data_dir / RUNTIME_FILE


def read_runtime(data_dir: Path) -> dict[str, str] | None:
    """The addresses of a running `wirewatch up`, if one is running from `data_dir` (a file left behind by a
    process that is gone is ignored)."""
    path = runtime_path(data_dir)
    try:
        data: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(int(data.get("pid", "0") or 0)):
        return None
    return data


def start_infrastructure(settings: Settings) -> tuple[Settings, list[ChildProcess]]:
    """Start the embedded broker and Redis where none is configured; return settings that name them."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    children: list[ChildProcess] = []
    update: dict[str, object] = {}
    try:
        if settings.redis_url is None:
            url, child = start_valkey(data_dir / "redis")
            children.append(child)
            update["redis_url"] = SecretStr(url)
        if not settings.kafka_bootstrap:
            bootstrap, child = start_tansu(data_dir / "broker")
            children.append(child)
            update["kafka_bootstrap"] = bootstrap
    except Exception:
        stop_children(children)
        raise
    if settings.api_port == 0:
        update["api_port"] = free_port()
    return settings.model_copy(update=update), children


def stop_children(children: list[ChildProcess]) -> None:
    """Stop child processes, last started first."""
    for child in reversed(children):
        child.stop()


#: Something run beside the system, with its settings (the demo's guide): `wirewatch demo`.
Companion = Callable[[Settings, asyncio.Event], Awaitable[None]]


async def run_all(settings: Settings, stop: asyncio.Event, companion: Companion | None = None) -> None:
    """Run every service and the API until `stop`; one failing stops the rest (a companion failing does not)."""
    await ensure_all(settings)

    async def guarded(name: str, coro_fn: object) -> None:
        try:
            await coro_fn(settings, stop)  # type: ignore[operator]
        except Exception:
            log.exception("service.crashed", service=name)
            stop.set()
            raise

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(guarded("store", store.main))
        tasks.create_task(guarded("extractor", extractor.main))
        tasks.create_task(guarded("fetcher", fetcher.main))
        tasks.create_task(guarded("notifier", notifier.main))
        tasks.create_task(guarded("api", serve_api))
        if companion is not None:
            tasks.create_task(_accompany(companion, settings, stop))


async def _accompany(companion: Companion, settings: Settings, stop: asyncio.Event) -> None:
    """Run the companion; its failure is logged and leaves the system running."""
    try:
        await companion(settings, stop)
    except Exception:
        log.exception("system.companion_failed")


def up(settings: Settings, companion: Companion | None = None) -> None:
    """Run the whole system in the foreground until SIGINT/SIGTERM (with `companion` beside it)."""
    started = time.monotonic()
    already = read_runtime(Path(settings.data_dir))
    if already is not None and pid_alive(int(already.get("pid") or 0)):
        # A second up on one data dir would start a second Valkey on its AOF (a crashed one's file is ignored).
        raise SystemExit(f"wirewatch up already runs on {settings.data_dir} (pid {already.get('pid')}): "
                         "stop it first, or give this one another --data-dir")
    settings, children = start_infrastructure(settings)
    data_dir = Path(settings.data_dir)
    # What other commands need to reach this system from any shell (services.cli.base.with_runtime).
    runtime_path(data_dir).write_text(json.dumps({
        "kafka_bootstrap": settings.bootstrap, "redis_url": settings.required_redis_url, "api_url": api_url(settings),
        "pid": str(os.getpid()), "allow_networks": settings.allow_networks, "allow_ports": settings.allow_ports,
    }))
    log.info("system.infrastructure_ready", kafka=settings.bootstrap, data_dir=str(data_dir.resolve()),
             seconds=round(time.monotonic() - started, 2))

    async def _main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        # A broker or Redis that dies is started again on its port; a memory-only broker then needs its topics.
        watching = asyncio.create_task(supervise(children, stop, after_restart=lambda _: ensure_all(settings)))
        try:
            await run_all(settings, stop, companion)
        finally:
            stop.set()
            await watching

    try:
        asyncio.run(_main())
    finally:
        with contextlib.suppress(FileNotFoundError):
            runtime_path(data_dir).unlink()
        stop_children(children)
        log.info("system.stopped")
