"""The one outbound HTTP client of wirewatch: SSRF-safe, size-capped, deadline-bound.

Every feed, article page (and later webhook) fetch goes through `SafeHttpClient.get`. It exists
because each default of a plain httpx client is wrong for fetching URLs that strangers control
(RELIABILITY.md 1.4):

* **Where it connects.** The SSRF guard runs inside a custom httpcore network backend, after DNS
  resolution and right before the TCP connect, on the address actually connected to, so a name
  that answers public at check time and 127.0.0.1 at connect time (DNS rebinding) cannot slip
  through: there is no second resolution. Redirects are followed by hand, each hop re-parsed by the
  same URL parser (`services.common.urls.normalize_url`) and re-checked by the same guard.
  `trust_env=False`, so an `HTTP(S)_PROXY` variable cannot route around the guard.
* **How much it reads.** The raw body is read with `aiter_raw()` and decompressed here with a
  bounded decompressor (at most 64 KiB of output per step), so a gzip bomb costs ~`max_bytes` of
  memory before `ResponseTooLarge`, not the bomb's size (httpx's own decoders inflate each raw read
  whole: a 130 KB gzip reached 257 MiB).
* **How long it takes.** httpx timeouts are per read; a server dripping one byte per second never
  trips them (encode/httpx#1450). The whole `get`, redirects included, runs under one
  `asyncio.timeout`.
* **What it raises.** Transport and HTTP failures are mapped once, here, onto the
  `services.common.errors` tree, which decides retry versus dead-letter.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.utils
import io
import ipaddress
import socket
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import httpcore
import httpx

from services.common.errors import (
    BlockedAddress,
    InvalidUrl,
    ResponseTooLarge,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from services.common.urls import normalize_url

if TYPE_CHECKING:
    from services.common.settings import Settings

__all__ = [
    "ACCEPT_ENCODING",
    "AddressGuard",
    "HttpResponse",
    "IPAddress",
    "IPNetwork",
    "Resolver",
    "SafeHttpClient",
    "UpstreamBusy",
    "address_block_reason",
    "parse_retry_after",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: `(host, port) -> addresses`. Injectable so tests can play DNS (rebinding, mixed answers).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: Only the codings decoded here with a bounded decompressor are advertised. brotli and zstd are
#: left out on purpose: no decoder is installed, and one without an output bound would reopen the
#: decompression-bomb hole. A server sending them anyway is refused (UpstreamRejected).
ACCEPT_ENCODING = "gzip, deflate"

#: More stacked codings than this are refused (RELIABILITY 4.2; Ktor uses the same limit).
MAX_CODINGS = 2
#: Longest Retry-After honoured; servers ask for days or for 2099.
MAX_RETRY_AFTER_S = 3600.0

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DECOMPRESS_STEP = 64 * 1024
# Compressed data can be slightly larger than its plain text (incompressible content), so the
# cap on raw bytes allows some slack over `max_bytes` when a content coding is present.
_RAW_SLACK = 64 * 1024
# Headers the client owns: a caller (or a feed's stored validators) must not change what is
# decoded, which host is addressed or how the body is framed.
_CONTROLLED_HEADERS = frozenset(
    {"host", "accept-encoding", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

# Special-purpose ranges named explicitly, with the reason logged. Several are not (or not on every
# CPython version) reported by the `ipaddress` flags: 100.64/10 is neither private nor reserved on
# CPython 3.12 (GHSA-gwph-fp79-379w). The `not is_global` catch-all below covers the rest.
_SPECIAL_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("169.254.169.254/32", "cloud metadata endpoint"),
        ("fd00:ec2::254/128", "cloud metadata endpoint"),
        ("0.0.0.0/8", "'this network'"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("198.18.0.0/15", "benchmarking network"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("ff00::/8", "multicast"),
        ("3fff::/20", "documentation"),
        ("2001:db8::/32", "documentation"),
        ("64:ff9b:1::/48", "local-use NAT64"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_block_reason(addr: IPAddress) -> str | None:
    """Why the SSRF guard refuses `addr`, or None for a globally routable address.

    IPv6 forms that carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) are judged by the
    embedded address too, since that is where the packets end up.
    """
    if isinstance(addr, ipaddress.IPv6Address):
        for label, inner in _embedded_ipv4(addr):
            reason = address_block_reason(inner)
            if reason is not None:
                return f"{reason}, embedded as {label}"
    for network, reason in _SPECIAL_RANGES:
        if addr.version == network.version and addr in network:
            return reason
    # Order matters: 127/8 is also "private"; the most specific name helps whoever reads the log.
    checks = (
        (addr.is_loopback, "loopback"),
        (addr.is_link_local, "link-local"),
        (addr.is_multicast, "multicast"),
        (addr.is_unspecified, "unspecified"),
        (addr.is_private, "private network"),
        (addr.is_reserved, "reserved"),
        (not addr.is_global, "not globally routable"),
    )
    for flagged, reason in checks:
        if flagged:
            return reason
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> Iterator[tuple[str, ipaddress.IPv4Address]]:
    if addr.ipv4_mapped is not None:
        yield "IPv4-mapped", addr.ipv4_mapped
    if addr.sixtofour is not None:
        yield "6to4", addr.sixtofour
    if addr.teredo is not None:
        server, client = addr.teredo
        yield "Teredo client", client
        yield "Teredo server", server
    if addr in _NAT64:
        yield "NAT64", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)


def _own_network(addr: IPAddress) -> str:
    """The one-address network of `addr` (127.0.0.1/32): the narrowest allow-list entry that admits it."""
    return f"{addr}/{addr.max_prefixlen}"


async def system_resolver(host: str, port: int) -> list[str]:
    """All A/AAAA answers for `host`, through the OS resolver (also normalises `127.1`, `0x7f.1`)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class AddressGuard:
    """Decides, per resolved address and port, whether wirewatch may connect.

    `allowed_networks` is explicit operator trust (tests and local demos: 127.0.0.0/8): addresses
    inside it pass the address check, and any port on them is allowed. `denied_ports` (wirewatch's
    own Kafka and Redis) are refused everywhere, allow-list or not.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_ports: frozenset[int] = frozenset({80, 443})
    denied_ports: frozenset[int] = frozenset()

    def trusted(self, addr: IPAddress) -> bool:
        """True when `addr` (or the IPv4 address it maps) lies in an allow-listed network."""
        candidates: list[IPAddress] = [addr]
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            candidates.append(addr.ipv4_mapped)
        return any(c.version == n.version and c in n for c in candidates for n in self.allowed_networks)

    def check(self, host: str, addr: IPAddress, port: int) -> None:
        """Raise BlockedAddress unless connecting to `addr`:`port` (for `host`) is allowed."""
        trusted = self.trusted(addr)
        if not trusted:
            reason = address_block_reason(addr)
            if reason is not None:
                shown = host if host == str(addr) else f"{host} -> {addr}"
                raise BlockedAddress(f"SSRF guard refused {shown}: {reason} (to trust it, list its network in "
                                     f"WIREWATCH_ALLOW_NETWORKS, e.g. WIREWATCH_ALLOW_NETWORKS={_own_network(addr)})")
        if port in self.denied_ports:
            raise BlockedAddress(f"SSRF guard refused port {port} on {addr}: reserved for wirewatch's own services")
        if not trusted and port not in self.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allowed_ports))
            raise BlockedAddress(f"SSRF guard refused port {port} on {addr}: allowed ports are {allowed} (set by "
                                 f"WIREWATCH_ALLOW_PORTS; any port of a network in WIREWATCH_ALLOW_NETWORKS)")

    async def resolve(self, host: str, port: int, resolver: Resolver) -> list[IPAddress]:
        """Every address of `host`, each checked; refused if *any* of them is refused."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            answers: Sequence[str] = [host]
        else:
            try:
                answers = await resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise UpstreamUnavailable(f"cannot resolve {host}: {exc}") from exc
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                addr = ipaddress.ip_address(answer)
            except ValueError:
                raise BlockedAddress(f"SSRF guard refused {host}: resolver answered {answer!r}") from None
            self.check(host, addr, port)
            if addr not in addresses:
                addresses.append(addr)
        if not addresses:
            raise UpstreamUnavailable(f"cannot resolve {host}: no addresses")
        return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks, then connects to the checked address."""

    def __init__(self, guard: AddressGuard, resolver: Resolver) -> None:
        self._guard = guard
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.resolve(host, port, self._resolver)
        last_error: Exception | None = None
        for addr in addresses:
            try:
                # An IP literal: the inner backend does no further name resolution.
                stream = await self._inner.connect_tcp(
                    str(addr), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            await self._verify_peer(host, addr, port, stream)
            return stream
        assert last_error is not None
        raise last_error

    async def _verify_peer(self, host: str, addr: IPAddress, port: int, stream: httpcore.AsyncNetworkStream) -> None:
        # Belt and braces: judge the address the kernel reports for the socket, not only the one
        # we asked for (defends against a future change of the inner backend resolving again).
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        try:
            actual = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            actual = None
        plain = ipaddress.ip_address(str(addr).split("%", 1)[0])
        try:
            if actual != plain:
                raise BlockedAddress(f"SSRF guard refused {host}: connected to {peer[0]}, expected {addr}")
            self._guard.check(host, actual, port)
        except BlockedAddress:
            await stream.aclose()
            raise

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("SSRF guard refused a Unix socket connection")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    """Hands httpcore's raw body stream to httpx unchanged (errors are mapped by the caller)."""

    def __init__(self, inner: AsyncIterable[bytes]) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            yield part

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


class _GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose every connection goes through the guard.

    httpx's own AsyncHTTPTransport takes no network backend, so this is the few lines of it that
    matter, without proxies (never wanted here) or Unix sockets.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend, *, max_connections: int) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max(1, max_connections // 5),
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class UpstreamBusy(UpstreamUnavailable):
    """The server answered 429 or 5xx; `retry_after_s` is its Retry-After, clamped, if it sent one."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class HttpResponse:
    """A complete, decompressed, size-checked response (2xx, or 304 with an empty body)."""

    url: str
    """Final URL, after redirects."""
    status: int
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ", "."""
    body: bytes
    """Decompressed body, at most the `max_bytes` of the request."""
    content_type: str | None
    """The Content-Type header as sent (parameters included)."""
    charset: str | None
    """The Content-Type charset if Python knows the codec, else None."""


class SafeHttpClient:
    """GET with the SSRF guard, manual redirects, bounded decompression and a total deadline.

    Use as an async context manager, or call `aclose()`. One instance per service: it pools
    connections (each one made through the guard).
    """

    def __init__(
        self,
        *,
        allowed_networks: Iterable[IPNetwork] = (),
        allowed_ports: Iterable[int] = (80, 443),
        denied_ports: Iterable[int] = (),
        user_agent: str = "wirewatch",
        timeout_s: float = 15.0,
        max_redirects: int = 5,
        resolver: Resolver | None = None,
        max_connections: int = 100,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        self.guard = AddressGuard(
            allowed_networks=tuple(allowed_networks),
            allowed_ports=frozenset(allowed_ports),
            denied_ports=frozenset(denied_ports),
        )
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self._resolver = resolver or system_resolver
        backend = _GuardedBackend(self.guard, self._resolver)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(backend, max_connections=max_connections),
            trust_env=False,  # no proxy or netrc from the environment: they would bypass the guard
            follow_redirects=False,  # followed in `get`, each hop re-checked
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING, "Accept": "*/*"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, denied_ports: frozenset[int] = frozenset()) -> SafeHttpClient:
        """The client configured from `Settings`.

        `denied_ports` are refused on every address; the Kafka/Redis ports named in the settings
        (`Settings.own_ports`) are added to them, so a caller forgetting them cannot expose them.
        """
        return cls(
            allowed_networks=settings.allowed_networks,
            allowed_ports=settings.allowed_ports,
            denied_ports=frozenset(denied_ports) | settings.own_ports,
            user_agent=settings.user_agent,
            timeout_s=settings.http_timeout_s,
            max_redirects=settings.max_redirects,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def get(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """Fetch `url`; return a 2xx or 304 response, or raise a `services.common.errors` error.

        `max_bytes` caps the body after decompression. `headers` are extra request headers (e.g.
        If-None-Match); those that control framing or decoding are ignored. Raises InvalidUrl,
        BlockedAddress, ResponseTooLarge, UpstreamRejected (4xx, redirect loop or too many hops),
        UpstreamTimeout (total deadline), UpstreamUnavailable / UpstreamBusy (network, 5xx, 429).
        """
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        current = normalize_url(url)
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _CONTROLLED_HEADERS}
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._follow(current, extra, max_bytes)
        except TimeoutError:
            raise UpstreamTimeout(f"{current}: no complete answer within {self.timeout_s:g} s") from None

    async def post_form(self, url: str, data: Mapping[str, str], *, max_bytes: int) -> HttpResponse:
        """POST an application/x-www-form-urlencoded body (WebSub subscription requests); see `post`."""
        return await self.post(url, max_bytes=max_bytes, data=data)

    async def post(self, url: str, *, max_bytes: int, data: Mapping[str, str] | None = None,
                   content: bytes | None = None, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """POST a form (`data`) or raw bytes (`content`, e.g. a signed JSON webhook body) through the same
        guard, caps and deadline as `get`; returns a 2xx response or raises like `get`. Redirects are not
        followed: a POST is not repeated elsewhere."""
        current = normalize_url(url)
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _CONTROLLED_HEADERS}
        try:
            async with asyncio.timeout(self.timeout_s):
                with _mapped_errors(current):
                    request = self._client.build_request("POST", current, data=dict(data) if data else None,
                                                         content=content, headers=extra)
                    response = await self._client.send(request, stream=True)
                try:
                    if response.status_code in _REDIRECT_STATUSES:
                        raise UpstreamRejected(f"{current}: HTTP {response.status_code} to a POST is not followed",
                                               status=response.status_code)
                    return await self._finish(current, response, max_bytes)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise UpstreamTimeout(f"{current}: no complete answer within {self.timeout_s:g} s") from None

    async def check_destination(self, url: str) -> None:
        """Raise what a request to `url` would meet before connecting: InvalidUrl, or BlockedAddress when the
        guard refuses its address or port (after resolving the host). Nothing is sent. A host that does not
        resolve now raises UpstreamUnavailable: that may pass, a refusal never does."""
        current = normalize_url(url)
        parts = urlsplit(current)
        host = (parts.hostname or "").strip("[]")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self.guard.resolve(host, port, self._resolver)

    async def _follow(self, url: str, headers: dict[str, str], max_bytes: int) -> HttpResponse:
        visited = {url}
        for hop in range(self.max_redirects + 1):
            with _mapped_errors(url):
                request = self._client.build_request("GET", url, headers=headers)
                response = await self._client.send(request, stream=True)
            try:
                status = response.status_code
                if status not in _REDIRECT_STATUSES:
                    return await self._finish(url, response, max_bytes)
                location = response.headers.get("location")
                if not location:
                    raise UpstreamRejected(f"{url}: HTTP {status} without Location", status=status)
                target = normalize_url(location, base=url)  # bad scheme, userinfo, ... -> InvalidUrl
                if url.startswith("https:") and target.startswith("http:"):
                    # Policy: a downgrade would hand the rest of the exchange to any on-path party.
                    raise UpstreamRejected(f"{url}: redirect downgrades to {target}", status=status)
                if target in visited:
                    raise UpstreamRejected(f"{url}: redirect loop back to {target}", status=status)
                if hop == self.max_redirects:
                    raise UpstreamRejected(f"{url}: more than {self.max_redirects} redirects", status=status)
                if _origin(target) != _origin(url):
                    headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
                visited.add(target)
                url = target
            finally:
                # Never read a redirect's body; closing an unread response drops the connection.
                await response.aclose()
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    async def _finish(self, url: str, response: httpx.Response, max_bytes: int) -> HttpResponse:
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise UpstreamBusy(f"{url}: HTTP {status}", status=status, retry_after_s=retry_after)
        if 400 <= status < 500:
            raise UpstreamRejected(f"{url}: HTTP {status}", status=status)
        if status != 304 and not 200 <= status < 300:
            raise UpstreamRejected(f"{url}: unexpected HTTP {status}", status=status)
        body = b"" if status == 304 else await _read_body(url, response, max_bytes)
        content_type = response.headers.get("content-type")
        return HttpResponse(
            url=url,
            status=status,
            headers={name: ", ".join(response.headers.get_list(name)) for name in response.headers.keys()},
            body=body,
            content_type=content_type,
            charset=_charset(content_type),
        )


# --- body reading -----------------------------------------------------------------------------


async def _read_body(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refused as soon as it (raw or decoded) passes its cap."""
    codings = _content_codings(url, response)
    raw_cap = max_bytes + _RAW_SLACK if codings else max_bytes
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and (len(declared) > 18 or int(declared) > raw_cap):
        raise ResponseTooLarge(f"{url}: Content-Length {declared} over the cap of {max_bytes} bytes")
    stages = [_ZlibStage(url, coding) for coding in reversed(codings)]  # last applied, first undone
    # BytesIO.getvalue() hands over its buffer without a copy: peak memory stays ~max_bytes.
    out = io.BytesIO()
    size = raw_size = 0
    with _mapped_errors(url):
        async for chunk in response.aiter_raw():
            raw_size += len(chunk)
            if raw_size > raw_cap:
                raise ResponseTooLarge(f"{url}: body over {raw_cap} bytes on the wire")
            for piece in _decode(stages, chunk):
                size += len(piece)
                if size > max_bytes:
                    raise ResponseTooLarge(f"{url}: body over the cap of {max_bytes} bytes after decompression")
                out.write(piece)
    return out.getvalue()


def _content_codings(url: str, response: httpx.Response) -> list[str]:
    value = ",".join(response.headers.get_list("content-encoding"))
    codings = [c.strip().lower() for c in value.split(",") if c.strip() and c.strip().lower() != "identity"]
    if len(codings) > MAX_CODINGS:
        raise UpstreamRejected(f"{url}: {len(codings)} stacked content codings", status=response.status_code)
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise UpstreamRejected(f"{url}: unsupported content coding {coding!r}", status=response.status_code)
    return codings


def _decode(stages: Sequence[_ZlibStage], data: bytes) -> Iterator[bytes]:
    """Push `data` through the decoder chain lazily: each stage emits bounded pieces on demand."""
    if not stages:
        yield data
        return
    for piece in stages[0].feed(data):
        yield from _decode(stages[1:], piece)


class _ZlibStage:
    """One gzip or deflate decoder that never produces more than 64 KiB per step.

    `zlib.decompressobj().decompress(data, max_length)` keeps the unprocessed input in
    `unconsumed_tail`, so output is pulled piece by piece and the caller can stop at its cap.
    """

    def __init__(self, url: str, coding: str) -> None:
        self._url = url
        self._gzip = coding != "deflate"
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False
        self._members = 1
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while pending and not self._done:
            try:
                out = self._obj.decompress(pending, _DECOMPRESS_STEP)
            except zlib.error as exc:
                if not self._gzip and not self._started:
                    # Many servers send raw deflate (no zlib header) as "deflate"; httpx tolerates it too.
                    self._started = True
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                if self._members > 1:
                    self._done = True  # junk after a complete gzip member: ignored, as gzip(1) does
                    return
                raise UpstreamRejected(f"{self._url}: corrupt compressed body ({exc})") from None
            self._started = True
            if self._obj.eof:
                pending = self._obj.unused_data
                if self._gzip and pending:
                    # RFC 1952: a gzip file may hold several members back to back.
                    self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    self._members += 1
                elif not self._gzip:
                    self._done = True  # bytes after the end of a zlib stream: ignored
            else:
                pending = self._obj.unconsumed_tail
            if out:
                yield out
            # All input taken but the output step was full: zlib may hold more, ask again.
            while not pending and len(out) == _DECOMPRESS_STEP and not self._obj.eof:
                out = self._obj.decompress(b"", _DECOMPRESS_STEP)
                if out:
                    yield out
                pending = self._obj.unconsumed_tail


# --- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _mapped_errors(url: str) -> Iterator[None]:
    """Map httpx/httpcore exceptions onto the wirewatch tree, once, with the URL in the message."""
    try:
        yield
    except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
        raise UpstreamTimeout(f"{url}: {type(exc).__name__} {exc}".rstrip()) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpcore.UnsupportedProtocol) as exc:
        raise InvalidUrl(f"{url}: {exc}") from exc
    except (httpx.TransportError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__} {exc}".rstrip()) from exc


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
            try:
                codecs.lookup(charset)
            except LookupError:
                return None
            return charset or None
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After (delta-seconds or HTTP-date) as seconds from now, clamped to [0, 1 h]; None if absent/garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return MAX_RETRY_AFTER_S if len(value) > 9 else min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), MAX_RETRY_AFTER_S)
