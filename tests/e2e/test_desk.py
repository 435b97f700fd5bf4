"""End to end in a real browser: the story desk on the running system, API keys on, as a reader uses it.

`wirewatch up` on free ports, three outlets serving the seed articles, Debian's chromium driven by
Playwright. A feed is added in the page and polled; the river shows one card with the three outlets; a
fourth outlet re-posts the first account and the card shows the copy live (no reload); the story page
shows the copy under its original; an entity filter by surname finds the story; a read-only key sees no
write buttons; /docs works offline; no page logs a console error. Screenshots (light and dark) go to
.cache/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.api.apikeys import ApiKeyStore
from services.common.embedded import free_port
from services.common.keys import Keys
from services.common.redis import open_redis
from services.common.settings import Settings
from tests.conftest import Infra
from tests.support.browser import Console, chromium, require_chromium, screenshot
from tests.support.outlets import Outlet, OutletServer, load_seed, seed_outlets

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@dataclass
class Desk:
    """The running system, its outlets and two API keys."""

    url: str
    outlets: OutletServer
    published: list[tuple[Outlet, str]]
    admin: str
    reader: str
    seeds: Path


def wait(check: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, ValueError) as exc:
            last = repr(exc)
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


async def create_keys(settings: Settings) -> tuple[str, str]:
    async with open_redis(settings) as redis:
        store = ApiKeyStore(redis, Keys(settings.key_prefix))
        _, admin = await store.create("admin", "desk test admin")
        _, reader = await store.create("read", "desk test reader")
    return admin, reader


@pytest.fixture(scope="module")
def desk(infra: Infra, seeds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("desk")
    namespace = f"desk{os.getpid()}"
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
        "WIREWATCH_API_AUTH": "on",
    }
    if infra.kind == "apache":
        env["KAFKA_BOOTSTRAP"] = infra.bootstrap
        env["REDIS_URL"] = infra.redis_url
    else:
        env.pop("KAFKA_BOOTSTRAP", None)
        env.pop("REDIS_URL", None)
    data_dir = tmp / "data"
    with OutletServer() as outlets, open(tmp / "up.log", "wb") as log:
        published = seed_outlets(outlets, seeds_dir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--api-port", str(api_port)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{api_port}"

            def healthy() -> bool:
                if proc.poll() is not None:
                    tail = (tmp / "up.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(f"wirewatch up exited with {proc.returncode}:\n{tail}")
                return httpx.get(f"{url}/healthz", timeout=5).status_code == 200

            wait(healthy, 180, "a healthy system")
            runtime = json.loads((data_dir / "runtime.json").read_text())
            settings = Settings(redis_url=runtime["redis_url"], key_prefix=f"{namespace}:")
            admin, reader = asyncio.run(create_keys(settings))
            yield Desk(url=url, outlets=outlets, published=published, admin=admin, reader=reader, seeds=seeds_dir)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, "SIGTERM must stop the whole system cleanly"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def sign_in(page: Page, desk: Desk, key: str, then: str = "/") -> None:
    page.goto(then)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(desk.url + then)


def add_feed_via_api(desk: Desk, outlet: Outlet) -> None:
    response = httpx.post(f"{desk.url}/v1/feeds", json={"url": outlet.feed_url, "name": outlet.name},
                          headers={"X-API-Key": desk.admin}, timeout=30)
    assert response.status_code in (200, 201), response.text


def repost_outlet(desk: Desk) -> Outlet:
    """A fourth outlet re-posts the first seed account: new headline, last paragraph dropped, its boilerplate."""
    seed = load_seed(sorted(desk.seeds.glob("*.txt"))[0])
    text = "\n".join([*seed.paragraphs[:-1], "Copyright Wire Service. All rights reserved. This material may "
                      "not be published, broadcast, rewritten or redistributed."])
    outlet = desk.outlets.add_outlet("wire-reposter", "Wire Reposter", "rss")
    outlet.add_article("iran-general-talks-putin", "Report: Iran general held talks with Putin", text,
                       datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2))
    return outlet


HARBOUR_STORY = """Harbour pilots in Rotterdam ended a three-day strike on Tuesday after the port authority agreed to a
new pay deal, letting dozens of container ships that had waited at anchor in the North Sea begin to move again.
The pilots' union said its members accepted an offer that raises wages by six percent over two years and adds
rest periods between night shifts, which had been the main point of dispute since talks began in the spring.
Marieke Janssen, who chairs the union, said the agreement recognised the pressure on a small group of people who
guide the largest vessels through busy waterways in every kind of weather.
The Port of Rotterdam Authority said traffic would return to normal within two days. Shipping companies had
diverted several vessels to Antwerp and Hamburg during the stoppage, and freight forwarders warned of delays for
goods bound for warehouses across the Netherlands and Germany.
Economists said the strike was too short to leave a mark on trade figures, but that it showed how a handful of
specialised workers can halt one of the busiest ports in the world within hours."""


def test_the_desk_in_a_browser(desk: Desk) -> None:
    console = Console()
    first_outlet = desk.published[0][0]
    with chromium(base_url=desk.url) as browser:
        page = console.watch(browser.new_page())
        sign_in(page, desk, desk.admin)

        # A feed added in the page is registered through POST /v1/feeds and polled.
        for outlet, _ in desk.published[1:]:
            add_feed_via_api(desk, outlet)
        page.goto("/feeds")
        page.get_by_label("Feed or site URL").fill(first_outlet.feed_url)
        page.get_by_label("Outlet name (optional)").fill(first_outlet.name)
        # The page reloads itself 0.9 s after "Added": wait for that load, or a reload of ours races it (on a
        # busy machine chromium then detaches the page: "Not attached to an active page").
        with page.expect_navigation(timeout=30_000):
            page.get_by_role("button", name="Add feed").click()
            expect(page.locator("#feed-result")).to_contain_text("Added", timeout=30_000)
        row = page.locator(f'tr[data-url="{first_outlet.feed_url}"]')
        deadline = time.monotonic() + 90
        while not row.locator(".status-ok").count():
            assert time.monotonic() < deadline, "the feed added in the page was never polled"
            page.wait_for_timeout(1000)
            page.reload()

        # The river: one story, three independent outlets, no copy yet.
        page.goto("/")
        deadline = time.monotonic() + 180
        while page.locator("li.card .outlets > .outlet").count() < 3:
            assert time.monotonic() < deadline, "the three seed accounts never made one story with three outlets"
            page.wait_for_timeout(2000)
            page.reload()
        cards = page.locator("li.card")
        expect(cards).to_have_count(1)
        card = page.locator("li.card").first
        expect(card.locator(".outlets > .outlet")).to_have_text(sorted(o.name for o, _ in desk.published))
        expect(card.locator(".count-copies strong")).to_have_text("0")
        expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=15_000)

        # The re-post arrives live: the card shows the copy without a reload.
        page.evaluate("window.__sameDocument = true")
        reposter = repost_outlet(desk)
        add_feed_via_api(desk, reposter)
        expect(card.locator(".count-copies strong")).to_have_text("1", timeout=180_000)
        expect(card.locator(".outlet-copy")).to_have_text(["Wire Reposter"])
        assert page.evaluate("window.__sameDocument === true"), "the update must arrive without a reload"
        expect(cards).to_have_count(1)

        # A new story while the reader is scrolled down: a "1 new story" bar, and nothing moves until asked.
        page.set_viewport_size({"width": 1280, "height": 420})
        page.evaluate("window.scrollTo(0, 160)")
        harbour = desk.outlets.add_outlet("harbour-news", "Harbour News", "atom")
        harbour.add_article("rotterdam-pilots-end-strike", "Rotterdam harbour pilots end strike after pay deal",
                            HARBOUR_STORY, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
        add_feed_via_api(desk, harbour)
        expect(page.locator("#new-bar-button")).to_have_text("1 new story", timeout=180_000)
        expect(cards).to_have_count(1)
        assert page.evaluate("window.scrollY") == 160, "the reader's scroll position stays"
        page.locator("#new-bar-button").click()
        expect(cards).to_have_count(2)
        expect(cards.first.locator(".headline")).to_contain_text("Rotterdam")
        expect(page.locator("#new-bar")).to_be_hidden()
        assert page.evaluate("window.__sameDocument === true")
        page.set_viewport_size({"width": 1280, "height": 900})
        screenshot(page, "river-light")
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(1000)  # the cards' colour transitions end
        screenshot(page, "river-dark")
        page.emulate_media(color_scheme="light")

        # The story page: the copy sits under its original, with who copied whom.
        card = cards.filter(has=page.locator(".outlet-copy"))
        title = card.locator(".headline").inner_text()
        card.locator(".headline a").click()
        expect(page).to_have_url(re.compile(r"/stories/"))
        reports = page.locator("li.report")
        expect(reports).to_have_count(3)
        original = reports.filter(has=page.locator(".copies"))
        expect(original).to_have_count(1)
        expect(original.locator(".byline .outlet")).to_have_text(first_outlet.name)
        expect(original.locator(".copy .outlet-copy")).to_have_text("Wire Reposter")
        expect(original.locator(".copy")).to_contain_text("similar")
        expect(page.locator(".timeline li")).to_have_count(4)
        expect(page.locator(".why").first).to_be_visible()
        screenshot(page, "story-light")
        page.emulate_media(color_scheme="dark")
        page.wait_for_timeout(1000)  # the cards' colour transitions end
        screenshot(page, "story-dark")
        page.emulate_media(color_scheme="light")

        # An entity filter by surname finds the story.
        page.goto("/")
        page.get_by_label("Person, place or organisation").fill("Soleimani")
        page.get_by_label("Person, place or organisation").press("Enter")
        expect(page).to_have_url(re.compile(r"entity=Soleimani"))
        expect(page.locator("li.card")).to_have_count(1)
        expect(page.locator("li.card .headline")).to_have_text(title)

        # Keyboard: j moves to the first story, Enter opens it.
        page.locator("body").press("j")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/stories/"))

        # A subscription made from the river's filters; its deliveries (the endpoint refuses POSTs) and a pause.
        page.goto("/?entity=Soleimani")
        page.get_by_role("link", name="Get a webhook for these stories").click()
        expect(page.get_by_label("People, places, organisations")).to_have_value("Soleimani")
        page.get_by_label("Webhook URL").fill(f"{desk.outlets.base_url}/hooks/news")
        page.get_by_role("button", name="Create subscription").click()
        expect(page.locator("#secret-value")).to_have_text(re.compile(r"^whsec_"), timeout=30_000)
        page.get_by_role("button", name="Done").click()
        sub = page.locator("section.sub")
        expect(sub).to_have_count(1)
        expect(sub.locator(".query")).to_contain_text(re.compile("soleimani", re.IGNORECASE))
        deadline = time.monotonic() + 90
        while not sub.locator(".deliveries tbody tr").count():
            assert time.monotonic() < deadline, "the subscription's test ping never showed in its delivery log"
            page.wait_for_timeout(1000)
            page.reload()
        expect(sub.locator(".deliveries tbody tr").first).to_contain_text("501")
        sub.get_by_role("button", name="Pause").click()
        expect(sub.locator(".sub-head .status")).to_have_text("paused", timeout=15_000)
        expect(sub.get_by_role("button", name="Resume")).to_be_visible()
        screenshot(page, "subscriptions-light")

        # The API's own documentation works offline (its scripts come from the package).
        page.goto("/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("wirewatch", timeout=20_000)
        page.goto("/redoc")
        expect(page.locator("h1").first).to_contain_text("wirewatch", timeout=20_000)

    # A read-only key sees everything and no button that would change something.
    with chromium(base_url=desk.url, width=390, height=844) as phone:
        page = console.watch(phone.new_page())
        sign_in(page, desk, desk.reader)
        expect(page.locator("li.card")).to_have_count(2)
        expect(page.locator(".scope")).to_have_text("read only")
        screenshot(page, "river-phone")
        for path in ("/", "/feeds", "/subscriptions"):
            page.goto(path)
            expect(page.locator("main h1")).to_be_visible()
            expect(page.locator("button[data-action], #feed-form, #subscription-form, #opml-import")).to_have_count(0)
            assert "Get a webhook" not in page.content()
        page.goto("/feeds")
        expect(page.locator("table.feeds tbody tr")).to_have_count(5)

    # ReDoc's bundle asks its maker's CDN for a logo; /redoc's policy refuses it (no call home), which Chromium
    # reports as a console error: the one expected.
    errors = [e for e in console.errors if not (e.startswith(f"{desk.url}/redoc:") and "cdn.redoc.ly" in e)]
    assert errors == [], "the pages logged console errors:\n" + "\n".join(errors)
