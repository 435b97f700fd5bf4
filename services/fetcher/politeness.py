"""Politeness towards the sites we poll: robots.txt, a minimum delay and a concurrency limit per host.

Outlets block pollers that hammer them; wirewatch must never be the reason.

* robots.txt is fetched once per host (through the same SSRF-safe client) and
  cached for a day; per RFC 9309 a 4xx means "no rules" and a 5xx or an
  unreachable robots.txt means "disallow everything", retried after an hour.
  Its Crawl-delay raises the host's minimum delay.
* The minimum delay between two requests to one host holds across every fetcher
  instance: each request reserves the host's next free slot in Redis (one Lua call)
  and sleeps until it. The number of requests in flight per host is limited per
  instance.

`PoliteClient` puts the two together: every feed and sitemap the fetcher reads goes through it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.robotparser
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.common.errors import BlockedAddress, Permanent, UpstreamRejected, WirewatchError
from services.common.http import HttpResponse, SafeHttpClient
from services.common.keys import Keys
from services.common.redis import Redis

ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_TTL_S = 86400.0
ROBOTS_RETRY_S = 3600.0
ROBOTS_CACHE_HOSTS = 10_000
MAX_CRAWL_DELAY_S = 60.0

# KEYS[1] = the host's next-free-slot key. ARGV: now (ms), delay (ms). Returns how long to wait (ms).
_RESERVE_SLOT = """
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], slot + delay, 'PX', math.max(1000, slot + delay - now + 1000))
return slot - now
"""


class RobotsDisallowed(Permanent):
    """robots.txt does not let wirewatch fetch this URL (or could not be read: RFC 9309 says disallow)."""


@dataclass(frozen=True)
class RobotsRules:
    """One host's robots.txt as far as we are concerned."""

    parser: urllib.robotparser.RobotFileParser | None  # None: no rules (404 and the like)
    disallow_all: bool
    fetched_at: float
    ttl_s: float

    def allows(self, url: str, agent: str) -> bool:
        """Whether `agent` may fetch `url`."""
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(agent, url)

    def crawl_delay(self, agent: str) -> float | None:
        """The Crawl-delay the host asks of `agent`, if any (capped)."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(agent)
        return min(float(delay), MAX_CRAWL_DELAY_S) if delay is not None else None


def parse_robots(text: str, fetched_at: float) -> RobotsRules:
    """Rules from a robots.txt body."""
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(text.splitlines())
    return RobotsRules(parser, False, fetched_at, ROBOTS_TTL_S)


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against ("wirewatch" of "wirewatch/0.1 (+...)")."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


class RobotsCache:
    """robots.txt per host, fetched on first use and kept for a day (bounded number of hosts)."""

    def __init__(self, http: SafeHttpClient, user_agent: str) -> None:
        self.http = http
        self.agent = agent_token(user_agent)
        self._rules: OrderedDict[str, RobotsRules] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[RobotsRules]] = {}

    async def rules(self, url: str) -> RobotsRules:
        """The rules of `url`'s host (one fetch per host even when many feeds ask at once)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._rules.get(origin)
        if cached is not None and now - cached.fetched_at < cached.ttl_s:
            self._rules.move_to_end(origin)
            return cached
        pending = self._fetching.get(origin)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RobotsRules] = asyncio.get_running_loop().create_future()
        self._fetching[origin] = future
        try:
            rules = await self._fetch(origin, now)
            future.set_result(rules)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: with no other caller waiting, asyncio would log it as lost
            raise
        finally:
            del self._fetching[origin]
        self._rules[origin] = rules
        while len(self._rules) > ROBOTS_CACHE_HOSTS:
            self._rules.popitem(last=False)
        return rules

    async def allows(self, url: str) -> tuple[bool, float | None]:
        """(whether we may fetch `url`, the host's Crawl-delay for us)."""
        rules = await self.rules(url)
        return rules.allows(url, self.agent), rules.crawl_delay(self.agent)

    async def _fetch(self, origin: str, now: float) -> RobotsRules:
        try:
            response = await self.http.get(f"{origin}/robots.txt", max_bytes=ROBOTS_MAX_BYTES)
        except UpstreamRejected as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return RobotsRules(None, False, now, ROBOTS_TTL_S)  # RFC 9309 2.3.1.3: no rules
            return RobotsRules(None, True, now, ROBOTS_RETRY_S)
        except BlockedAddress:
            # Not the host being unreachable but our own guard refusing it: the feed would be refused too,
            # and that refusal (which names the setting that allows it) is what the feed's health must show.
            raise
        except WirewatchError:
            # RFC 9309 2.3.1.4: unreachable means complete disallow; asked again within the hour.
            return RobotsRules(None, True, now, ROBOTS_RETRY_S)
        return parse_robots(response.body.decode("utf-8", "replace"), now)


class HostGate:
    """At most `concurrency` requests in flight per host (this instance) and `min_delay_s` between two
    requests to a host (all instances, through Redis)."""

    def __init__(self, redis: Redis, keys: Keys, *, concurrency: int, min_delay_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.concurrency = concurrency
        self.min_delay_s = min_delay_s
        # host -> (its semaphore, callers holding or waiting for it); dropped when nobody uses it.
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}
        self._reserve = redis.register_script(_RESERVE_SLOT)

    @asynccontextmanager
    async def turn(self, url: str, crawl_delay_s: float | None = None) -> AsyncIterator[None]:
        """Wait until a request to `url`'s host may start, and hold the host's slot while it runs."""
        host = (urlsplit(url).hostname or "").lower()
        delay = max(self.min_delay_s, crawl_delay_s or 0.0)
        if delay > 0:
            wait_ms = int(await self._reserve(keys=[self.keys.host_next_request(host)],
                                              args=[int(time.time() * 1000), int(delay * 1000)]))
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
        semaphore, users = self._hosts.get(host) or (asyncio.Semaphore(self.concurrency), 0)
        self._hosts[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._hosts[host]
            if users <= 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (semaphore, users - 1)


class PoliteClient:
    """GET a feed politely: robots.txt first (RobotsDisallowed), then the host's turn (its Crawl-delay
    counted), within the feed size cap."""

    def __init__(self, http: SafeHttpClient, gate: HostGate, robots: RobotsCache | None, *, max_bytes: int) -> None:
        self.http = http
        self.gate = gate
        self.robots = robots
        self.max_bytes = max_bytes

    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """The response to a GET of `url` once robots.txt allows it and the host's turn has come."""
        crawl_delay = None
        if self.robots is not None:
            allowed, crawl_delay = await self.robots.allows(url)
            if not allowed:
                raise RobotsDisallowed(f"{url}: disallowed by {urlsplit(url).netloc}/robots.txt")
        async with self.gate.turn(url, crawl_delay):
            return await self.http.get(url, max_bytes=self.max_bytes, headers=headers)
