"""System benchmark: `wirewatch up` to healthy, and seed feeds to one story, on the embedded broker.

    .venv/bin/python -m benchmarks.system [--runs 3] [--json]

Starts the whole system as a user does (a child process), serves the three
seed outlets from a local server, registers their feeds through the API and
measures: seconds from launch to a 200 on /healthz; seconds from the feeds'
registration to three stored articles; to one cluster of three; and to a
clean exit after SIGTERM. Needs ../shared/seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from services.common.embedded import free_port
from tests.support.outlets import OutletServer, seed_outlets, seeds_dir


def _wait(check: Any, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"not reached within {timeout}s")


def one_run(seeds: Path) -> dict[str, float]:
    """One launch of the system; the figures of that run, in seconds."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "REDIS_URL")}
    env.update(WIREWATCH_ALLOW_NETWORKS="127.0.0.0/8", WIREWATCH_POLL_INTERVAL_S="1",
               WIREWATCH_POLL_MAX_INTERVAL_S="2", WIREWATCH_LOG_JSON="true")
    with tempfile.TemporaryDirectory() as tmp, OutletServer() as outlets, \
            open(Path(tmp) / "up.log", "wb") as log:
        published = seed_outlets(outlets, seeds)
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up", "--data-dir", f"{tmp}/data",
                                 "--api-port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                healthy = _wait(lambda: api.get("/healthz").status_code == 200, 120)
                registered = time.monotonic()
                for outlet, _ in published:
                    api.post("/v1/feeds", json={"url": outlet.feed_url, "name": outlet.name}).raise_for_status()
                stored = _wait(lambda: len(api.get("/v1/articles").json()["items"]) >= 3, 120)
                _wait(lambda: any(c["size"] == 3 for c in api.get("/v1/clusters").json()["items"]), 60)
                clustered = time.monotonic() - registered
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
            stopped = time.monotonic() - stopping
        finally:
            if proc.poll() is None:
                proc.kill()
        return {"up_to_healthy_s": healthy, "feeds_to_3_articles_s": stored, "feeds_to_one_story_s": clustered,
                "sigterm_to_exit_s": stopped, "exit_code": float(code)}


def main() -> None:
    """Run the benchmark and print the figures (median over runs)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    seeds = seeds_dir()
    if seeds is None:
        sys.exit("../shared/seeds not found: this benchmark serves the seed articles")
    runs = []
    for i in range(args.runs):
        runs.append(one_run(seeds))
        if not args.json:
            print(f"run {i + 1}/{args.runs}: " + ", ".join(f"{k}={v:.2f}" for k, v in runs[-1].items()),
                  file=sys.stderr)
    summary = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    if args.json:
        print(json.dumps({"runs": runs, "median": summary}))
    else:
        for key, value in summary.items():
            print(f"{key:>24}: {value:.2f} (median of {args.runs})")


if __name__ == "__main__":
    main()
