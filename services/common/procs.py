"""Child processes that die with their parent, and pid files that let a restart end what a crash left.

A `kill -9` of `wirewatch up` (or of an extractor) gives its children no chance to stop them: without
help, the embedded Valkey and Tansu and the extraction workers live on under pid 1, holding ports, the
data directory and hundreds of MB each. Two layers stop that:

* **Parent-death signal** (Linux `prctl(PR_SET_PDEATHSIG)`): the kernel sends SIGKILL to the child when
  the *thread* that started it ends. Servers are therefore started from one long-lived daemon thread
  (`spawn_dying_with_parent`), never from a short-lived worker thread.
* **Pid files** under the data directory: the next start ends whatever a crashed run left behind there
  (`end_leftovers`), for systems without prctl and for a child started before its parent died.

Standard library only, so the test support code can use it alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        # Loaded once, before any fork: a preexec_fn must not load libraries (the child may hold locks).
        _LIBC = ctypes.CDLL(None, use_errno=True)


def pdeathsig_supported() -> bool:
    """True where the kernel can kill a child when its parent dies (Linux)."""
    return _LIBC is not None


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a child: ask the kernel for `sig` when the parent thread dies; exit now if it already has.

    The check after the call closes the race where the parent died between fork and prctl (the child
    would then belong to pid 1 and never get the signal).
    """
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


# --------------------------------------------------------------------------- one spawning thread


class _Spawner:
    """A daemon thread that runs every Popen, so a child's parent-death signal follows the process.

    The signal is tied to the thread that forked; a thread from asyncio.to_thread ends with the default
    executor (before `up` stops its servers cleanly), which would SIGKILL them. A daemon thread lives
    until the process itself ends.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="wirewatch-spawner", daemon=True)
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((job, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                done.set_exception(exc)


_SPAWNER = _Spawner()


def spawn_dying_with_parent(argv: list[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv, ...) whose child gets SIGKILL when this process dies (where supported)."""
    parent = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        preexec = (lambda: die_with_parent(parent)) if pdeathsig_supported() else None
        # preexec_fn runs between fork and exec: it only calls prctl (libc loaded at import).
        return subprocess.Popen(argv, preexec_fn=preexec, **popen_kwargs)

    popen: subprocess.Popen[bytes] = _SPAWNER.run(start)
    return popen


# --------------------------------------------------------------------------- pid files


def write_pid_file(directory: Path, name: str, pid: int, argv0: str) -> Path:
    """Record a child under `directory` so a later start can end it if this run crashes."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pid"
    path.write_text(json.dumps({"pid": pid, "exe": Path(argv0).name, "at": time.time()}))
    return path


def remove_pid_file(directory: Path, name: str) -> None:
    """Forget a child that stopped normally."""
    with contextlib.suppress(FileNotFoundError):
        (directory / f"{name}.pid").unlink()


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 probes without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_matches(pid: int, exe: str) -> bool:
    """True if `pid` is alive and (where /proc tells) runs a program named `exe`: a recycled pid is left alone."""
    if not pid_alive(pid):
        return False
    cmdline = _cmdline(pid)
    # An empty command line is a process mid-exec (or a zombie): unknown, like no /proc at all.
    return not cmdline or exe in cmdline


def end_process(pid: int, *, grace_s: float = 5.0) -> None:
    """SIGTERM, wait up to `grace_s`, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid) or _zombie(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def live_pid(directory: Path, name: str) -> int | None:
    """The pid recorded as `name` if that process still runs the recorded program."""
    try:
        data = json.loads((directory / f"{name}.pid").read_text())
        pid, exe = int(data["pid"]), str(data["exe"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid != os.getpid() and process_matches(pid, exe) else None


def end_leftovers(directory: Path, *, log: Callable[..., Any] | None = None) -> list[int]:
    """End every recorded process under `directory` that still runs its program; returns their pids."""
    ended: list[int] = []
    if not directory.is_dir():
        return ended
    for path in sorted(directory.glob("*.pid")):
        pid = live_pid(directory, path.stem)
        if pid is not None:
            if log is not None:
                log("leftover_ended", name=path.stem, pid=pid)
            end_process(pid)
            ended.append(pid)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return ended
