"""robots.txt rules as wirewatch reads them (pure)."""

from __future__ import annotations

import pytest

from services.common.errors import BlockedAddress
from services.fetcher.politeness import RobotsCache, RobotsRules, agent_token, parse_robots

ROBOTS = """
User-agent: *
Disallow: /private/
Crawl-delay: 2

User-agent: wirewatch
Disallow: /feeds/members/
Crawl-delay: 5
"""


def test_the_agent_token_is_the_product_name() -> None:
    assert agent_token("wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)") == "wirewatch"
    assert agent_token("") == "*"


def test_rules_for_our_agent_and_its_crawl_delay() -> None:
    rules = parse_robots(ROBOTS, 0.0)
    assert rules.allows("https://news.example/feeds/world.xml", "wirewatch")
    assert not rules.allows("https://news.example/feeds/members/1.xml", "wirewatch")
    assert rules.allows("https://news.example/private/x.xml", "wirewatch")  # our group replaces '*'
    assert not rules.allows("https://news.example/private/x.xml", "otherbot")
    assert rules.crawl_delay("wirewatch") == 5.0


def test_no_rules_and_disallow_all() -> None:
    assert RobotsRules(None, False, 0.0, 1.0).allows("https://x.example/feed", "wirewatch")
    assert not RobotsRules(None, True, 0.0, 1.0).allows("https://x.example/feed", "wirewatch")
    assert RobotsRules(None, False, 0.0, 1.0).crawl_delay("wirewatch") is None


class _RefusingHttp:
    """An HTTP client whose SSRF guard refuses every address."""

    async def get(self, url: str, *, max_bytes: int) -> None:
        raise BlockedAddress("SSRF guard refused 127.0.0.1: loopback")


async def test_robots_refused_by_the_ssrf_guard_is_reported_as_that_refusal() -> None:
    # Issue 18: a loopback feed failed as "disallowed by robots.txt" when the guard had refused the address.
    cache = RobotsCache(_RefusingHttp(), "wirewatch/0.1")  # type: ignore[arg-type]
    with pytest.raises(BlockedAddress, match="SSRF guard"):
        await cache.allows("http://127.0.0.1:8900/outlet/feed.xml")
