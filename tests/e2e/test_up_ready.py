"""`wirewatch up` says when it is ready and where (issue 18, point 7): a ready line with the API's URLs, JSON
when its log is not a terminal, and no escape codes in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.embedded import free_port

pytestmark = pytest.mark.e2e


def test_up_logs_a_ready_line_with_the_urls(tmp_path: Path, namespace: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_") and k not in ("REDIS_URL",
                                                                                                "KAFKA_BOOTSTRAP")}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), "WIREWATCH_EXTRACT_WORKERS": "1",
                "WIREWATCH_TOPIC_PREFIX": f"{namespace}.", "WIREWATCH_KEY_PREFIX": f"{namespace}:"})
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up", "--api-port", str(port)], env=env,
                                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            ready = None
            deadline = time.monotonic() + 120
            while ready is None and time.monotonic() < deadline and proc.poll() is None:
                for line in log_path.read_text().splitlines():
                    if '"api.ready"' in line:
                        ready = json.loads(line)
                time.sleep(0.3)
            assert ready is not None, log_path.read_text()[-3000:]
            assert ready["url"] == f"http://127.0.0.1:{port}"
            assert ready["docs"] == f"{ready['url']}/docs" and ready["metrics"] == f"{ready['url']}/metrics"
            assert httpx.get(f"{ready['url']}/metrics", timeout=10).status_code == 200, "the line tells the truth"
            state = tmp_path / "state" / "wirewatch" / "runtime.json"
            assert json.loads(state.read_text())["api_url"] == ready["url"], "found by other shells"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert "\x1b[" not in text, "no escape codes in a log that is not a terminal"
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), "JSON lines only"
