"""The hostile-input catalogue against the running API (keys on) and the fetcher: every route keyed but the
allow-list, oversized and unencodable requests answered with a 4xx that names the cause (never a 5xx or a
reset connection), SSRF targets refused at registration and at poll time, with nothing ever reaching a
loopback canary."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from services.api.apikeys import ApiKeyStore
from services.api.app import create_app
from services.common.embedded import free_port
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from services.fetcher import service as fetcher
from services.fetcher.registry import FeedRegistry
from services.system import serve_api
from tests.support.running import running, wait_for

pytestmark = pytest.mark.integration

#: RELIABILITY.md 4.1: URLs no outbound request may reach (loopback, private, link-local, metadata, CGNAT,
#: benchmark, reserved, multicast, unique-local, IPv4 in IPv6, integer/octal/hex forms, parser tricks).
SSRF_TARGETS = [
    "http://127.0.0.1/", "http://localhost/", "http://[::1]/", "http://0.0.0.0/",
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://[fe80::1]/",
    "http://100.64.0.1/", "http://198.18.0.1/", "http://192.0.0.1/", "http://240.0.0.1/", "http://224.0.0.1/",
    "http://[ff02::1]/", "http://[fc00::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[2002:7f00:1::]/", "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/",
    "http://INTERNAL:8888\\@127.0.0.1/", "http://PUBLIC@127.0.0.1/", "http://127.0.0.1#@example.com/",
    "http://[example.com]/", "file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1/",
    "data:text/plain,hi", "javascript:alert(1)", "dict://127.0.0.1:6379/", "ldap://127.0.0.1/",
    "http://127.0.0.1:6379/", "http://127.0.0.1:9092/", "http://127.0.0.1:22/",
]
#: Paths that answer without a key by design.
OPEN_PATHS = {"/healthz", "/v1/websub/{feed_id}", "/login", "/logout", "/static"}


class Canary:
    """A loopback listener that counts connections: it must see none."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def secured(settings: Settings) -> Settings:
    # No private network allowed: the catalogue must be refused as a user's deployment would refuse it.
    return settings.model_copy(update={"api_auth": "on", "allow_networks": ""})


@pytest.fixture
async def tokens(secured: Settings) -> dict[str, str]:
    async with open_redis(secured) as redis:
        store = ApiKeyStore(redis, Keys(secured.key_prefix))
        return {"read": (await store.create("read"))[1], "admin": (await store.create("admin"))[1]}


@pytest.fixture
def api(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured), follow_redirects=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _concrete(path: str) -> str:
    """A route path with every parameter filled in."""
    return path.replace("{", "").replace("}", "").replace(":path", "")


# --------------------------------------------------------------------------- 4.6: keys everywhere


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str], bool]]:
    """(path, methods, is a mount) of every route, through included routers (FastAPI includes them lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            yield prefix + route.path, {"GET"}, True
        elif hasattr(route, "methods"):
            yield prefix + route.path, set(route.methods or {"GET"}) - {"HEAD", "OPTIONS"}, False


def test_every_route_but_the_allow_list_needs_a_key(api: TestClient) -> None:
    seen = []
    for path, methods, mount in _routes(api.app.routes):  # type: ignore[attr-defined]
        if path in OPEN_PATHS or any(path.startswith(p + "/") for p in OPEN_PATHS):
            continue
        for method in sorted(methods):
            url = _concrete(path) + ("/swagger-ui.css" if mount else "")
            response = api.request(method, url, headers={"X-API-Key": "ww_forged"})
            seen.append(path)
            # The desk's pages send a browser to sign in; everything else answers 401.
            assert response.status_code in (401, 303), (method, url, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login"), (method, url)
    for required in ("/metrics", "/openapi.json", "/docs", "/redoc", "/v1/feeds", "/v1/clusters", "/v1/stream"):
        assert required in seen, f"{required} was not checked"


def test_metrics_schema_and_docs_answer_a_key_or_the_desks_cookie(api: TestClient, tokens: dict[str, str]) -> None:
    for path in ("/metrics", "/openapi.json", "/docs", "/redoc", "/docs/assets/swagger-ui.css"):
        assert api.get(path).status_code == 401, path
        assert api.get(path, headers={"X-API-Key": "ww_forged"}).status_code == 401, path
        assert api.get(path, headers=bearer(tokens["read"])).status_code == 200, path
        api.cookies.set("wirewatch_key", tokens["read"])
        assert api.get(path).status_code == 200, path
        api.cookies.clear()
    assert api.get("/healthz").status_code in (200, 503)  # open: no 401


def test_read_keys_cannot_write(api: TestClient, tokens: dict[str, str]) -> None:
    for method, path in (("POST", "/v1/feeds"), ("POST", "/v1/subscriptions"), ("DELETE", "/v1/feeds/x")):
        response = api.request(method, path, headers=bearer(tokens["read"]), json={})
        assert response.status_code == 403, (method, path, response.text)


# --------------------------------------------------------------------------- 4.6: request limits


def test_unencodable_text_is_422_not_500(api: TestClient, tokens: dict[str, str]) -> None:
    admin = {**bearer(tokens["admin"]), "content-type": "application/json"}
    for path, body in (("/v1/feeds", '{"url": "http://example.com/\\ud800"}'),
                       ("/v1/feeds", '{"url": "http://example.com/", "name": "\\udfff"}'),
                       ("/v1/subscriptions", '{"target_url": "https://hooks.example.com/\\ud800", '
                                             '"query": {"keywords": ["x"]}}'),
                       ("/v1/subscriptions", '{"target_url": "https://hooks.example.com/", '
                                             '"query": {"keywords": ["\\ud800"]}}')):
        response = api.post(path, content=body.encode(), headers=admin)
        assert response.status_code == 422, (path, body, response.status_code, response.text)


def test_bodies_and_nesting_are_bounded(api: TestClient, tokens: dict[str, str]) -> None:
    admin = {**bearer(tokens["admin"]), "content-type": "application/json"}
    big = json.dumps({"url": "http://example.com/", "name": "x" * (10 * 1024 * 1024)})
    assert api.post("/v1/feeds", content=big.encode(), headers=admin).status_code == 413
    deep = "[" * 100_000 + "]" * 100_000
    assert api.post("/v1/feeds", content=deep.encode(), headers=admin).status_code in (400, 422)  # FastAPI: 400
    many = json.dumps({"target_url": "https://hooks.example.com/", "query": {"keywords": ["w"] * 100_000}})
    assert api.post("/v1/subscriptions", content=many.encode(), headers=admin).status_code in (413, 422)
    for query in ("limit=1000000000", "limit=-1", "cursor=" + "A" * 100, "cursor=not-a-cursor!!"):
        response = api.get(f"/v1/clusters?{query}", headers=bearer(tokens["read"]))
        assert response.status_code == 422, (query, response.status_code)
    assert api.get("/v1/clusters?q=" + "a" * 5000, headers=bearer(tokens["read"])).status_code == 422


async def test_a_huge_url_gets_414_over_a_real_connection(secured: Settings, tokens: dict[str, str]) -> None:
    cfg = secured.model_copy(update={"api_port": free_port()})
    stop = asyncio.Event()
    server = asyncio.create_task(serve_api(cfg, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cfg.api_port}") as client:
            await wait_for(lambda: _answers(client), timeout=30, what="the API to listen")
        for size in (20_000, 1_000_000):
            status = await asyncio.to_thread(_raw_get, cfg.api_port, "/v1/clusters?q=" + "a" * size, tokens["read"])
            assert status == 414, (size, status)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        await client.get("/healthz")
    except httpx.HTTPError:
        return False
    return True


def _raw_get(port: int, target: str, token: str) -> int:
    """Send a request line of any length (httpx refuses long URLs itself) and read the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nX-API-Key: {token}\r\n\r\n".encode())
        head = sock.recv(64).decode("latin-1")
    return int(head.split()[1])


# --------------------------------------------------------------------------- 4.1: SSRF at registration


def test_ssrf_targets_are_refused_when_a_feed_or_subscription_is_created(
        api: TestClient, tokens: dict[str, str], canary: Canary) -> None:
    admin = bearer(tokens["admin"])
    targets = [*SSRF_TARGETS, f"http://127.0.0.1:{canary.port}/feed.xml", f"http://localhost:{canary.port}/"]
    for target in targets:
        feed = api.post("/v1/feeds", json={"url": target}, headers=admin)
        assert feed.status_code == 422, (target, feed.status_code, feed.text)
        sub = api.post("/v1/subscriptions", json={"target_url": target, "query": {"keywords": ["fire"]}},
                       headers=admin)
        assert sub.status_code == 422, (target, sub.status_code, sub.text)
    assert api.get("/v1/feeds", headers=admin).json() == []
    assert canary.hits == 0


async def test_a_loopback_feed_forced_in_is_polled_as_blocked_never_reaching_it(
        secured: Settings, canary: Canary, topics: None) -> None:
    async with open_redis(secured) as redis:
        registry = FeedRegistry(redis, Keys(secured.key_prefix))
        feed = await registry.add(f"http://127.0.0.1:{canary.port}/feed.xml", "Loopback")
        cfg = secured.model_copy(update={"allow_ports": f"80,443,{canary.port}"})
        async with running(fetcher.main, cfg):
            state = await wait_for(lambda: _polled(registry, feed.id), timeout=30, what="a poll of the feed")
    assert state.failure_class == "blocked", state
    assert canary.hits == 0


async def _polled(registry: FeedRegistry, feed_id: str) -> object:
    state = await registry.state(feed_id)
    return state if state.last_poll else None

