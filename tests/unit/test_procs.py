"""Children die with their parent; a restart ends what a crashed run left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.procs import end_leftovers, live_pid, pdeathsig_supported, pid_alive, write_pid_file

HELPER = """
import sys, time
from services.common.procs import spawn_dying_with_parent
child = spawn_dying_with_parent(["sleep", "60"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not pid_alive(pid) or Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not pdeathsig_supported(), reason="parent-death signals are Linux only")
def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", HELPER], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    with parent.stdout:
        child_pid = int(parent.stdout.readline())
    try:
        assert pid_alive(child_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _gone(child_pid), "the child outlived its parent's kill -9"
    finally:
        if pid_alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_a_restart_ends_the_processes_a_crashed_run_left_and_ignores_recycled_pids(tmp_path: Path) -> None:
    leftover = subprocess.Popen(["sleep", "60"])
    try:
        write_pid_file(tmp_path, "valkey", leftover.pid, "/usr/bin/sleep")
        write_pid_file(tmp_path, "tansu", os.getpid(), "/opt/tansu")  # a pid now used by another program
        assert live_pid(tmp_path, "valkey") == leftover.pid
        assert live_pid(tmp_path, "tansu") is None
        assert end_leftovers(tmp_path) == [leftover.pid]
        assert leftover.wait(10) == -signal.SIGTERM
        assert list(tmp_path.glob("*.pid")) == []
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(10)
