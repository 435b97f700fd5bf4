"""SafeHttpClient against a hostile local server on 127.0.0.1 (no broker or Redis needed).

The server runs in a thread (stdlib ThreadingHTTPServer, HTTP/1.0, so bodies end at close). An
audit hook records every `socket.connect` while a test runs, so "refused" also means "never
connected" (RELIABILITY test 27: canary connections 0).
"""

from __future__ import annotations

import gzip
import ipaddress
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from services.common.http import SafeHttpClient, UpstreamBusy

pytestmark = pytest.mark.timeout(30)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
MIB = 1024 * 1024
ZEROS_MIB = bytes(MIB)  # allocated here, not inside the measured window of the bomb test

# --- connect canary ---------------------------------------------------------------------------

_connects: list[Any] = []
_recording = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event == "socket.connect":
        _connects.append(args[1])


sys.addaudithook(_audit)  # hooks cannot be removed; this one does nothing unless `_recording`


@pytest.fixture
def connects() -> Iterator[list[Any]]:
    global _recording
    _connects.clear()
    _recording = True
    try:
        yield _connects
    finally:
        _recording = False


# --- the outlet from hell -----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = self.path.split("?", 1)[0]
        try:
            route = getattr(self, "route_" + path.strip("/").split("/", 1)[0].replace("-", "_"), None)
            if route is None:
                self._send(404, b"no such route")
            else:
                route(path)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on us, as it should

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_ok(self, path: str) -> None:
        self._send(200, "héllo wörld".encode(), {"Content-Type": "text/html; charset=UTF-8", "X-Twice": "a"})

    def route_gzip(self, path: str) -> None:
        self._send(200, gzip.compress(b"<rss>compressed</rss>"), {"Content-Encoding": "gzip"})

    def route_gzip_members(self, path: str) -> None:
        self._send(200, gzip.compress(b"one,") + gzip.compress(b"two"), {"Content-Encoding": "gzip"})

    def route_deflate(self, path: str) -> None:
        self._send(200, zlib.compress(b"zlib-wrapped"), {"Content-Encoding": "deflate"})

    def route_raw_deflate(self, path: str) -> None:
        comp = zlib.compressobj(wbits=-15)
        self._send(200, comp.compress(b"raw deflate") + comp.flush(), {"Content-Encoding": "deflate"})

    def route_gzip_gzip(self, path: str) -> None:
        self._send(200, gzip.compress(gzip.compress(b"twice")), {"Content-Encoding": "gzip, gzip"})

    def route_gzip_x3(self, path: str) -> None:
        body = gzip.compress(gzip.compress(gzip.compress(b"thrice")))
        self._send(200, body, {"Content-Encoding": "gzip, gzip, gzip"})

    def route_br(self, path: str) -> None:
        self._send(200, b"\x0b\x02\x80hi\x03", {"Content-Encoding": "br"})

    def route_magic(self, path: str) -> None:
        # gzip bytes without Content-Encoding: they are the body, never auto-decompressed
        self._send(200, gzip.compress(b"x", mtime=0), {"Content-Type": "application/octet-stream"})

    def route_etag(self, path: str) -> None:
        if self.headers.get("If-None-Match") == '"v1"':
            self._send(304, headers={"ETag": '"v1"', "Content-Length": "0"})
        else:
            self._send(200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"})

    def route_bomb(self, path: str) -> None:
        # 1 GiB of zeros as one gzip member (~1 MB on the wire), compressed as it is sent: the
        # client must give up after its cap, long before the end.
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        for _ in range(1024):
            if self.server.stop.is_set():
                return
            self.wfile.write(comp.compress(ZEROS_MIB))
        self.wfile.write(comp.flush())

    def route_bomb_gzip_gzip(self, path: str) -> None:
        # a small outer gzip whose inner gzip inflates to 32 MiB
        inner = zlib.compressobj(9, zlib.DEFLATED, 31)
        data = b"".join(inner.compress(ZEROS_MIB) for _ in range(32)) + inner.flush()
        self._send(200, gzip.compress(data), {"Content-Encoding": "gzip, gzip"})

    def route_plain_big(self, path: str) -> None:
        self.send_response(200)
        self.end_headers()  # no Content-Length: the body ends when the connection closes
        for _ in range(64):
            self.wfile.write(ZEROS_MIB[:65536])

    def route_big_length(self, path: str) -> None:
        self._send(200, b"short", {"Content-Length": str(50 * MIB)})

    def route_drip(self, path: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        while not self.server.stop.wait(0.05):  # one byte every 50 ms, forever: no read timeout fires
            self.wfile.write(b"x")
            self.wfile.flush()

    def route_silence(self, path: str) -> None:
        self.server.stop.wait(10)  # accept, then never answer

    def route_loop(self, path: str) -> None:
        self._send(302, headers={"Location": "/loop-b"})

    def route_loop_b(self, path: str) -> None:
        self._send(301, headers={"Location": f"http://127.0.0.1:{self.server.server_port}/loop"})

    def route_chain(self, path: str) -> None:
        left = int(path.rsplit("/", 1)[1])
        if left == 0:
            self._send(200, b"arrived")
        else:
            self._send(307, headers={"Location": f"/chain/{left - 1}?utm_source=x#frag"})

    def route_to_metadata(self, path: str) -> None:
        self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"})

    def route_to_file(self, path: str) -> None:
        self._send(302, headers={"Location": "file:///etc/passwd"})

    def route_to_redis(self, path: str) -> None:
        self._send(302, headers={"Location": f"http://127.0.0.1:{self.server.denied_port}/"})

    def route_status(self, path: str) -> None:
        status = int(path.rsplit("/", 1)[1])
        headers = {"Retry-After": "7"} if status in (429, 503) else {}
        self._send(status, b"status body", headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        self.denied_port = 0

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def base(server: _Server) -> str:
    server.seen.clear()
    return f"http://127.0.0.1:{server.server_port}"


def _client(**kwargs: Any) -> SafeHttpClient:
    options: dict[str, Any] = {"allowed_networks": LOOPBACK, "timeout_s": 5.0, "max_redirects": 5}
    options.update(kwargs)
    return SafeHttpClient(**options)


@pytest.fixture
async def client() -> AsyncIterator[SafeHttpClient]:
    async with _client() as c:
        yield c


# --- the happy paths ------------------------------------------------------------------------------


async def test_plain_200(client: SafeHttpClient, base: str, server: _Server) -> None:
    response = await client.get(f"{base}/ok", max_bytes=1000)
    assert response.status == 200
    assert response.url == f"{base}/ok"
    assert response.body == "héllo wörld".encode()
    assert response.content_type == "text/html; charset=UTF-8"
    assert response.charset == "utf-8"
    assert response.headers["x-twice"] == "a"
    sent = server.seen[-1][1]
    assert sent["accept-encoding"] == "gzip, deflate"
    assert sent["user-agent"] == "wirewatch"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("gzip", b"<rss>compressed</rss>"),
        ("gzip-members", b"one,two"),
        ("deflate", b"zlib-wrapped"),
        ("raw-deflate", b"raw deflate"),
        ("gzip-gzip", b"twice"),
        ("magic", gzip.compress(b"x", mtime=0)),
    ],
)
async def test_content_codings_decoded(client: SafeHttpClient, base: str, route: str, body: bytes) -> None:
    response = await client.get(f"{base}/{route}", max_bytes=1000)
    assert response.body == body


@pytest.mark.parametrize("route", ["gzip-x3", "br"])
async def test_unsupported_or_stacked_codings_refused(client: SafeHttpClient, base: str, route: str) -> None:
    with pytest.raises(UpstreamRejected):
        await client.get(f"{base}/{route}", max_bytes=1000)


async def test_304_passthrough_with_conditional_headers(client: SafeHttpClient, base: str, server: _Server) -> None:
    first = await client.get(f"{base}/etag", max_bytes=1000)
    assert first.status == 200
    assert first.headers["etag"] == '"v1"'
    conditional = {
        "If-None-Match": first.headers["etag"],
        "If-Modified-Since": first.headers["last-modified"],
        "Accept-Encoding": "br",  # owned by the client: ignored
    }
    second = await client.get(f"{base}/etag", max_bytes=1000, headers=conditional)
    assert second.status == 304
    assert second.body == b""
    assert second.headers["etag"] == '"v1"'
    sent = server.seen[-1][1]
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert sent["accept-encoding"] == "gzip, deflate"


async def test_redirects_are_followed_and_normalised(client: SafeHttpClient, base: str) -> None:
    response = await client.get(f"{base}/chain/5", max_bytes=1000)
    assert response.body == b"arrived"
    assert response.url == f"{base}/chain/0?utm_source=x"  # fragment gone, query kept as sent


async def test_resolved_name_reaches_the_resolved_address(server: _Server, base: str) -> None:
    async def resolver(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"] if host == "outlet.test" else []

    async with _client(resolver=resolver) as c:
        response = await c.get(f"http://outlet.test:{server.server_port}/ok", max_bytes=1000)
    assert response.status == 200
    assert server.seen[-1][1]["host"] == f"outlet.test:{server.server_port}"


# --- caps -------------------------------------------------------------------------------------------


async def test_gzip_bomb_is_refused_fast_with_bounded_memory(client: SafeHttpClient, base: str) -> None:
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(ResponseTooLarge, match="after decompression"):
            await client.get(f"{base}/bomb", max_bytes=MIB)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    # The bomb inflates to 1 GiB; the cap is 1 MiB. Peak covers the server thread's compressor too.
    assert peak < 8 * MIB, f"peak traced memory {peak / MIB:.1f} MiB"


async def test_gzip_of_gzip_bomb_is_refused(client: SafeHttpClient, base: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge):
            await client.get(f"{base}/bomb-gzip-gzip", max_bytes=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"peak traced memory {peak / MIB:.1f} MiB"


async def test_plain_body_over_cap(client: SafeHttpClient, base: str) -> None:
    with pytest.raises(ResponseTooLarge):
        await client.get(f"{base}/plain-big", max_bytes=MIB)


async def test_content_length_over_cap_refused_up_front(client: SafeHttpClient, base: str) -> None:
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge, match="Content-Length"):
        await client.get(f"{base}/big-length", max_bytes=MIB)
    assert time.monotonic() - started < 1.0


# --- time ---------------------------------------------------------------------------------------------


async def test_slow_drip_ends_at_the_total_deadline(base: str) -> None:
    async with _client(timeout_s=1.0) as c:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await c.get(f"{base}/drip", max_bytes=10 * MIB)
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.0


async def test_accept_then_silence_times_out(base: str) -> None:
    async with _client(timeout_s=0.5) as c:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await c.get(f"{base}/silence", max_bytes=1000)
    assert time.monotonic() - started < 1.5


# --- redirects and the guard -----------------------------------------------------------------------


async def test_redirect_loop_rejected(client: SafeHttpClient, base: str) -> None:
    with pytest.raises(UpstreamRejected, match="loop"):
        await client.get(f"{base}/loop", max_bytes=1000)


async def test_too_many_redirects_rejected(client: SafeHttpClient, base: str, server: _Server) -> None:
    with pytest.raises(UpstreamRejected, match="more than 5 redirects"):
        await client.get(f"{base}/chain/6", max_bytes=1000)
    assert len(server.seen) == 6  # the original request and five hops, no more


async def test_redirect_to_metadata_blocked(client: SafeHttpClient, base: str, connects: list[Any]) -> None:
    with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254"):
        await client.get(f"{base}/to-metadata", max_bytes=1000)
    assert not [a for a in connects if isinstance(a, tuple) and a[0] == "169.254.169.254"]


async def test_redirect_to_file_scheme_refused(client: SafeHttpClient, base: str) -> None:
    with pytest.raises(InvalidUrl):
        await client.get(f"{base}/to-file", max_bytes=1000)


async def test_loopback_blocked_without_allow_list(base: str, server: _Server, connects: list[Any]) -> None:
    async with SafeHttpClient(timeout_s=5.0) as c:
        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
            await c.get(f"{base}/ok", max_bytes=1000)
        with pytest.raises(BlockedAddress, match=r"loopback"):
            await c.get(f"http://localhost:{server.server_port}/ok", max_bytes=1000)
    assert server.seen == []
    assert connects == []


async def test_denied_port_refused_even_with_allow_list(base: str, server: _Server, connects: list[Any]) -> None:
    async with _client(denied_ports={server.server_port}) as c:
        with pytest.raises(BlockedAddress, match=f"port {server.server_port}"):
            await c.get(f"{base}/ok", max_bytes=1000)
    assert server.seen == []
    assert connects == []


async def test_redirect_to_denied_port_refused(base: str, server: _Server, connects: list[Any]) -> None:
    server.denied_port = 6379
    async with _client(denied_ports={6379}) as c:
        with pytest.raises(BlockedAddress, match="port 6379"):
            await c.get(f"{base}/to-redis", max_bytes=1000)
    assert not [a for a in connects if isinstance(a, tuple) and a[1] == 6379]


# --- status codes -------------------------------------------------------------------------------------


async def test_404_rejected(client: SafeHttpClient, base: str) -> None:
    with pytest.raises(UpstreamRejected) as caught:
        await client.get(f"{base}/status/404", max_bytes=1000)
    assert caught.value.status == 404


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, 7.0), (429, 7.0)])
async def test_5xx_and_429_unavailable(
    client: SafeHttpClient, base: str, status: int, retry_after: float | None
) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.get(f"{base}/status/{status}", max_bytes=1000)
    assert isinstance(caught.value, UpstreamBusy)
    assert caught.value.status == status
    assert caught.value.retry_after_s == retry_after


async def test_connection_refused_is_unavailable(server: _Server) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with _client() as c:
        with pytest.raises(UpstreamUnavailable):
            await c.get(f"http://127.0.0.1:{port}/", max_bytes=1000)
