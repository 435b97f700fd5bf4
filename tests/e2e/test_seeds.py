"""End to end: `wirewatch up` as a user runs it, three outlets serving the seed articles.

Asserts the product's smallest true test: the three accounts of one event are
stored with clean text, tagged with the people in them, and share one story.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.embedded import free_port
from tests.conftest import Infra
from tests.support.outlets import OutletServer, seed_outlets

pytestmark = pytest.mark.e2e
WORD = re.compile(r"\w+")


def token_overlap(seed: str, extracted: str) -> float:
    """Share of the seed's tokens (with multiplicity) found in the extracted text."""
    want = Counter(WORD.findall(seed.casefold()))
    got = Counter(WORD.findall(extracted.casefold()))
    return sum(min(n, got[t]) for t, n in want.items()) / max(1, sum(want.values()))


def wait_json(client: httpx.Client, path: str, check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = client.get(path)
            last = response.json()
            if check(response, last):
                return last
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last answer: {last!r}")


def test_seed_articles_flow_through_the_whole_system(infra: Infra, seeds_dir: Path, tmp_path: Path,
                                                     namespace: str) -> None:
    api_port = free_port()
    env = {
        **os.environ,
        "WIREWATCH_ALLOW_NETWORKS": "127.0.0.0/8",
        "WIREWATCH_POLL_INTERVAL_S": "2",
        "WIREWATCH_POLL_MAX_INTERVAL_S": "4",
        "WIREWATCH_EXTRACT_WORKERS": "1",
        "WIREWATCH_TOPIC_PREFIX": f"{namespace}.",
        "WIREWATCH_KEY_PREFIX": f"{namespace}:",
        "WIREWATCH_LOG_JSON": "true",
        "WIREWATCH_SESSION_TIMEOUT_MS": "6000",
    }
    if infra.kind == "apache":
        # Production shape: the system uses an external Kafka (and Redis) instead of starting its own.
        env["KAFKA_BOOTSTRAP"] = infra.bootstrap
        env["REDIS_URL"] = infra.redis_url
    else:
        env.pop("KAFKA_BOOTSTRAP", None)
        env.pop("REDIS_URL", None)
    log_path = tmp_path / "up.log"
    started = time.monotonic()
    with OutletServer() as outlets, open(log_path, "wb") as log:
        published = seed_outlets(outlets, seeds_dir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(tmp_path / "data"),
             "--api-port", str(api_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
                wait_json(client, "/healthz", lambda r, _: r.status_code == 200, 120, "a healthy system")
                healthy_after = time.monotonic() - started
                for outlet, _ in published:
                    response = client.post("/v1/feeds", json={"url": outlet.feed_url, "name": outlet.name})
                    assert response.status_code == 201, response.text
                assert client.post("/v1/feeds", json={"url": "file:///etc/passwd"}).status_code == 422

                page = wait_json(client, "/v1/articles?limit=10", lambda _, b: len(b.get("items", [])) >= 3,
                                 180, "three stored articles")
                assert len(page["items"]) == 3
                articles = [client.get(f"/v1/articles/{a['id']}").json() for a in page["items"]]
                stories = wait_json(client, "/v1/clusters", lambda _, b: bool(b.get("items")), 30, "clusters")
                feeds = client.get("/v1/feeds").json()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, "SIGTERM must stop the whole system cleanly"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sys.stderr.write(f"\n[e2e {infra.kind}] healthy after {healthy_after:.1f}s, "
                         f"seed test {time.monotonic() - started:.1f}s\n")

    seeds = {p.name: p.read_text() for p in sorted(seeds_dir.glob("*.txt"))}
    by_outlet = {a["outlet"]: a for a in articles}
    assert len(by_outlet) == 3, "three outlets, one article each"
    for name, seed in seeds.items():
        # The page shows the seed's first line as its headline, so title + text is the page's article.
        best = max(token_overlap(seed, f"{a['title']}\n{a['text']}") for a in articles)
        assert best >= 0.95, f"{name}: only {best:.2%} of the seed's tokens extracted"
    for article in articles:
        assert article["title"] and article["language"] == "en" and article["published_at"]
    keys = {e["key"] for a in articles for e in a["entities"]}
    assert "person:qassem soleimani" in keys
    assert "person:vladimir putin" in keys
    assert len({a["cluster_id"] for a in articles}) == 1, "the three accounts are one story"
    assert not any(a["copy_of"] for a in articles), "own-words accounts are not copies"
    story = stories["items"][0]
    assert story["size"] == 3 and len(story["outlets"]) == 3
    assert all(f["health"]["last_status"] in (200, 304) and not f["health"]["last_error"] for f in feeds)

