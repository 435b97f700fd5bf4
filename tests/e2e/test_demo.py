"""The README's demo, as a new user runs it from the repository alone (issue 18, point 1): `wirewatch demo`
serves the project's own sample news from local outlets, registers their feeds, and the first story is
visible through the API within a minute; then the wire story's re-posts arrive as copies and the updated
article as a revision. Nothing of ../shared is needed, and nothing outside the test's own directories is
written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.embedded import free_port
from services.demo.stories import OUTLETS
from tests.conftest import Infra

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FIRST_STORY_WITHIN_S = 60.0


def poll(client: httpx.Client, path: str, check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = client.get(path).json()
            if check(last):
                return last
        except (httpx.HTTPError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last answer: {last!r}")


def test_the_demo_shows_stories_copies_and_a_revision(infra: Infra, tmp_path: Path, namespace: str) -> None:
    api_port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_") and k not in ("REDIS_URL",
                                                                                                "KAFKA_BOOTSTRAP")}
    env.update({"HOME": str(home), "XDG_STATE_HOME": str(home / "state"), "WIREWATCH_EXTRACT_WORKERS": "1",
                "WIREWATCH_TOPIC_PREFIX": f"{namespace}.", "WIREWATCH_KEY_PREFIX": f"{namespace}:",
                "WIREWATCH_SESSION_TIMEOUT_MS": "6000"})
    if infra.kind == "apache":
        # Production shape: external Kafka and Redis instead of the embedded ones.
        env.update({"KAFKA_BOOTSTRAP": infra.bootstrap, "REDIS_URL": infra.redis_url})
    # The README's command, run from outside the checkout: the demo needs the repository's package only.
    command = [sys.executable, "-m", "services.cli", "demo", "--api-port", str(api_port)]
    started = time.monotonic()
    with open(tmp_path / "demo.out", "wb") as out, open(tmp_path / "demo.err", "wb") as err:
        proc = subprocess.Popen(command, env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path, stdout=out, stderr=err)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
                first = poll(client, "/v1/clusters", lambda b: bool(b.get("items")), 120, "the first story")
                first_after = time.monotonic() - started
                feeds = client.get("/v1/feeds").json()
                stories = poll(client, "/v1/clusters?limit=50", lambda b: _members(b) >= 12, 180,
                               "every article, the re-posts and the update stored")["items"]
                details = [client.get(f"/v1/clusters/{s['id']}").json() for s in stories]
                articles = {a["id"]: client.get(f"/v1/articles/{a['id']}").json()
                            for a in client.get("/v1/articles?limit=50").json()["items"]}
                poll(client, "/v1/articles?limit=50",
                     lambda b: any(a["outlet"] == "The Harbour Gazette" and "breakwater" in a["url"]
                                   and _revision(client, a["id"]) >= 2 for a in b["items"]),
                     120, "the Gazette's update stored as a revision of its first report")
            # The guide says where to look.
            guide = (tmp_path / "demo.out").read_text()
            assert "first story:" in guide and f"http://127.0.0.1:{api_port}/v1/clusters/" in guide, guide
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, "Ctrl-C / SIGTERM stops the demo cleanly"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    sys.stderr.write(f"\n[demo {infra.kind}] first story after {first_after:.1f}s\n")

    assert first["items"], "a story"
    assert first_after < FIRST_STORY_WITHIN_S, f"the first story took {first_after:.0f}s"
    # Each outlet is named by its feed's title, not by the host they share.
    assert sorted(f["name"] for f in feeds) == sorted(name for _, name, _ in OUTLETS)
    # Four events, one story each, with the outlets that reported them.
    by_outlets = sorted(tuple(sorted(d["outlets"])) for d in details)
    assert by_outlets == sorted([
        ("Coastal Times", "Northfield Courier", "The Harbour Gazette"),  # the breakwater
        ("Coastal Times", "Meridian Wire", "Northfield Courier", "Valley Herald"),  # the drone recall
        ("Meridian Wire", "Northfield Courier", "Valley Herald"),  # the strike
        ("The Harbour Gazette", "Valley Herald"),  # the tram
    ]), by_outlets
    # The re-posts of the wire story are copies of it; the own-words reports are not copies.
    recall = next(d for d in details if "Meridian Wire" in d["outlets"] and "Coastal Times" in d["outlets"])
    wire = next(m["id"] for m in recall["members"] if m["outlet"] == "Meridian Wire")
    copies = {m["outlet"]: m.get("copy_of") for m in recall["members"]}
    assert copies["Valley Herald"] == wire and copies["Northfield Courier"] == wire, copies
    assert copies["Meridian Wire"] is None and copies["Coastal Times"] is None, copies
    assert not any(a["copy_of"] for a in articles.values() if a["outlet"] != "Valley Herald"
                   and "Lindqvist" not in a["title"] and "Drone" not in a["title"])
    assert not list(home.rglob("runtime.json")), "the demo's state is gone when it stops"


def _members(page: dict[str, Any]) -> int:
    return sum(story["size"] for story in page.get("items", []))


def _revision(client: httpx.Client, article_id: str) -> int:
    return int(json.loads(client.get(f"/v1/articles/{article_id}").text).get("revision", 0))
