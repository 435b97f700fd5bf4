"""The SSRF address classifier and guard, without any network (resolvers are injected)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from services.common.errors import BlockedAddress, InvalidUrl, UpstreamUnavailable
from services.common.http import (
    AddressGuard,
    SafeHttpClient,
    address_block_reason,
    parse_retry_after,
)

# changedetection.io's SSRF corpus (tests/test_security.py) plus RELIABILITY.md 4.1.
BLOCKED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "198.18.0.1",
    "192.0.0.1",
    "240.0.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3f57:fefe",  # Teredo, client 192.168.1.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2001:db8::1",
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", BLOCKED)
def test_special_addresses_are_blocked(address: str) -> None:
    assert address_block_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_block_reason(ipaddress.ip_address(address)) is None


def test_reasons_name_the_range() -> None:
    assert address_block_reason(ipaddress.ip_address("169.254.169.254")) == "cloud metadata endpoint"
    assert "carrier-grade NAT" in (address_block_reason(ipaddress.ip_address("100.64.0.1")) or "")
    assert "6to4" in (address_block_reason(ipaddress.ip_address("2002:7f00:1::")) or "")
    assert "Teredo" in (address_block_reason(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3f57:fefe")) or "")


LOOPBACK_TRUSTED = AddressGuard(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


def test_guard_refuses_loopback_without_allow_list() -> None:
    with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1.*loopback"):
        AddressGuard().check("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 80)


def test_allow_list_admits_its_networks_on_any_port() -> None:
    LOOPBACK_TRUSTED.check("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 43210)
    LOOPBACK_TRUSTED.check("x", ipaddress.ip_address("::ffff:127.0.0.1"), 80)


def test_allow_list_admits_nothing_else() -> None:
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1"):
        LOOPBACK_TRUSTED.check("10.0.0.1", ipaddress.ip_address("10.0.0.1"), 80)
    with pytest.raises(BlockedAddress, match=r"::1"):
        LOOPBACK_TRUSTED.check("::1", ipaddress.ip_address("::1"), 80)


def test_denied_ports_win_over_the_allow_list() -> None:
    guard = AddressGuard(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), denied_ports=frozenset({6379}))
    with pytest.raises(BlockedAddress, match="port 6379"):
        guard.check("127.0.0.1", ipaddress.ip_address("127.0.0.1"), 6379)


def test_public_address_needs_an_allowed_port() -> None:
    guard = AddressGuard(allowed_ports=frozenset({80, 443}))
    guard.check("dns.google", ipaddress.ip_address("8.8.8.8"), 443)
    for port in (22, 6379, 9092):
        with pytest.raises(BlockedAddress, match=f"port {port}"):
            guard.check("dns.google", ipaddress.ip_address("8.8.8.8"), port)


class _Resolver:
    """A fake DNS: fixed answers, and a record of the names asked."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


async def test_any_private_answer_refuses_the_host() -> None:
    resolve = _Resolver({"mixed.example": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(BlockedAddress, match=r"mixed\.example -> 10\.0\.0\.1"):
        await AddressGuard().resolve("mixed.example", 80, resolve)


async def test_ip_literals_skip_the_Resolver() -> None:
    resolve = _Resolver({})
    assert await AddressGuard().resolve("8.8.8.8", 80, resolve) == [ipaddress.ip_address("8.8.8.8")]
    assert resolve.calls == []


async def test_unresolvable_is_retryable() -> None:
    with pytest.raises(UpstreamUnavailable):
        await AddressGuard().resolve("nowhere.invalid", 80, _Resolver({}))


@pytest.mark.parametrize(
    "url",
    [
        "http://news.example.com/feed.xml",  # the resolver says 127.0.0.1
        "http://metadata.example/latest/meta-data/",  # the resolver says 169.254.169.254
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
    ],
)
async def test_client_refuses_before_connecting(url: str) -> None:
    resolve = _Resolver({"news.example.com": ["127.0.0.1"], "metadata.example": ["169.254.169.254"]})
    async with SafeHttpClient(resolver=resolve, timeout_s=5) as client:
        with pytest.raises(BlockedAddress):
            await client.get(url, max_bytes=1000)


async def test_client_refuses_bad_urls() -> None:
    async with SafeHttpClient(resolver=_Resolver({})) as client:
        for url in ("file:///etc/passwd", "http://a@ex.com/", "http://INTERNAL:8888\\@PUBLIC/", "gopher://x/"):
            with pytest.raises(InvalidUrl):
                await client.get(url, max_bytes=1000)


@pytest.mark.parametrize(
    "url", ["http://127.1/", "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://localhost/"]
)
async def test_numeric_host_spellings_refused(url: str) -> None:
    # Normalised through the OS resolver (getaddrinfo), not by string checks; no DNS traffic.
    async with SafeHttpClient(timeout_s=5) as client:
        with pytest.raises((BlockedAddress, InvalidUrl)):
            await client.get(url, max_bytes=1000)


def test_from_settings() -> None:
    from services.common.settings import Settings

    settings = Settings(allow_networks="127.0.0.0/8", allow_ports="80,443,8080", redis_url="redis://127.0.0.1:6390/0")
    client = SafeHttpClient.from_settings(settings, denied_ports=frozenset({9092}))
    assert client.guard.allowed_networks == (ipaddress.ip_network("127.0.0.0/8"),)
    assert client.guard.allowed_ports == frozenset({80, 443, 8080})
    assert client.guard.denied_ports == frozenset({9092, 6390})
    assert client.timeout_s == settings.http_timeout_s


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("0", 0.0),
        ("86400", 3600.0),
        ("99999999999999999999999", 3600.0),
        ("-5", None),
        ("soon", None),
        ("Wed, 21 Oct 2099 07:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_date_relative_to_now() -> None:
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now=now) == 60.0


def test_every_refusal_of_an_address_names_the_setting_that_allows_it() -> None:
    # Issue 18: "SSRF guard refused 127.0.0.1: loopback" left a user guessing what would let it through.
    refusals = []
    for host, port in (("127.0.0.1", 80), ("169.254.169.254", 80), ("8.8.8.8", 8900)):
        with pytest.raises(BlockedAddress) as caught:
            AddressGuard().check(host, ipaddress.ip_address(host), port)
        refusals.append(str(caught.value))
    assert all(message.startswith("SSRF guard refused") for message in refusals)
    assert "WIREWATCH_ALLOW_NETWORKS=127.0.0.1/32" in refusals[0]
    assert "WIREWATCH_ALLOW_NETWORKS" in refusals[1]
    assert "WIREWATCH_ALLOW_PORTS" in refusals[2]


async def test_a_fetch_searches_for_no_module() -> None:
    # httpcore asks for sniffio on every lock, request and connection; where it is missing each ask was a failed
    # import that searched sys.path again (~0.9 ms CPU per page fetched). benchmarks.http_client fetches from a
    # local server with a recording finder first in sys.meta_path, which sees every import not already loaded.
    from benchmarks.http_client import run

    result = await run(requests=3, size=1_000)
    assert result["modules_searched"] == [], "imports searched on every fetch"
    assert result["requests"] == 3
