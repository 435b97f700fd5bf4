"""Story desk benchmark: time to first paint of the river with 1,000 stories stored, in Debian's chromium.

    .venv/bin/python -m benchmarks.desk [--stories 1000] [--runs 10] [--big-stories 0 --big-size 1500] [--json]

Starts an embedded Valkey (unless REDIS_URL is set), stores synthetic stories through the store's real
placement (`Placer.ingest_many`, three articles each), serves the API with uvicorn on a free port and loads
`/` in headless chromium (Playwright, the system browser) `runs` times, each in a fresh page with the HTTP
cache on. Prints the first contentful paint (the browser's own Paint Timing entry), the server's time for
the page (`GET /`, measured apart with httpx) and the bytes sent. `--big-stories`: wire stories of
`--big-size` re-posts each, stored first, so they are older than the page's cards but among the newest
stories a listing looks at.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from playwright.sync_api import sync_playwright
from pydantic import SecretStr

from services.api.app import create_app
from services.common.embedded import free_port, start_valkey
from services.common.fingerprint import fingerprint
from services.common.keys import Keys
from services.common.logging import configure_logging
from services.common.messages import Article, Entity
from services.common.redis import open_redis
from services.common.settings import Settings
from services.store.placement import Placer
from services.store.repository import Repository
from tests.support.browser import ARGS, CHROMIUM

SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "zu", "pel", "dor", "an", "is", "ut", "bra", "ne", "sol"]
PER_STORY = 3
START = datetime.now(UTC) - timedelta(days=2)


def word(rng: random.Random) -> str:
    """A made-up word: stories share no vocabulary by accident, so each opens its own."""
    return "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))


def article(n: int) -> Article:
    """Article n: the (n % 3)-th account of story n // 3, 250 words, three people and a place."""
    story = n // PER_STORY
    srng, rng = random.Random(story), random.Random(n)
    vocab = [word(srng) for _ in range(60)]
    title = " ".join(vocab[:7]).capitalize()
    text = ". ".join(" ".join(rng.choices(vocab, k=12)).capitalize() for _ in range(20)) + "."
    people = [Entity(key=f"person:{vocab[k]} {vocab[k + 10]}", name=f"{vocab[k]} {vocab[k + 10]}".title(),
                     type="PERSON", count=2, first_position=k) for k in range(3)]
    place = Entity(key=f"gpe:{vocab[20]}", name=vocab[20].title(), type="GPE", count=1, first_position=50)
    at = START + timedelta(minutes=n)
    return Article(id=f"a{n}", url=f"https://outlet{n % PER_STORY}.example/{n}", outlet=f"Outlet {n % PER_STORY}",
                   title=title, text=text, language="en", entities=[*people, place], published_at=at, fetched_at=at,
                   description=text[:200], fingerprint=fingerprint(title, text))


def repost(story: int, n: int) -> Article:
    """Outlet n's re-post of wire story `story` (the same text everywhere), dated before every small story."""
    first = article(PER_STORY * (1_000_000 + story))  # a story index no small story has: its own words
    at = START - timedelta(days=1) + timedelta(seconds=n)
    return first.model_copy(update={"id": f"w{story}-{n}", "url": f"https://wire{n}.example/{story}",
                                    "outlet": f"Wire outlet {n}", "published_at": at, "fetched_at": at})


async def fill(settings: Settings, stories: int, big: int = 0, big_size: int = 0) -> int:
    """Store `big` wire stories of `big_size` re-posts each, then `stories` x 3 articles, through the store's
    placement; the number of stories stored."""
    async with open_redis(settings) as redis:
        repo = Repository(redis, Keys(settings.key_prefix))
        placer = Placer(settings, repo)
        for story in range(big):
            for start in range(0, big_size, 500):
                await placer.ingest_many([repost(story, n) for n in range(start, min(start + 500, big_size))])
        total = stories * PER_STORY
        for start in range(0, total, 500):
            await placer.ingest_many([article(n) for n in range(start, min(start + 500, total))])
        return len(await repo.recent_stories(limit=stories * 2))


def serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    """The API on a free loopback port, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code in (200, 503):
                return server, thread, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the API did not start within 30 s")


def measure(url: str, runs: int) -> dict[str, Any]:
    """First contentful paint and navigation timings of `/` in chromium, and the server's time for the page."""
    server_ms = []
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/")  # warm up the templates
        for _ in range(runs):
            started = time.perf_counter()
            page_bytes = len(client.get("/").content)
            server_ms.append((time.perf_counter() - started) * 1000)
    paints, loads, ttfbs, cards = [], [], [], 0
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=str(CHROMIUM), headless=True,
                                                       args=ARGS, viewport={"width": 1280, "height": 900})
        try:
            for _ in range(runs + 1):
                page = context.new_page()
                page.goto(f"{url}/", wait_until="load")
                # The paint entry may be queued after the load event: wait for it (buffered) for up to 5 s.
                timing = page.evaluate("""() => new Promise((resolve) => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const done = (fcp) => resolve({fcp, load: nav.loadEventEnd, ttfb: nav.responseStart,
                                                   cards: document.querySelectorAll('li.card').length});
                    new PerformanceObserver((list) => {
                        const paint = list.getEntriesByName('first-contentful-paint')[0];
                        if (paint) done(paint.startTime);
                    }).observe({type: 'paint', buffered: true});
                    setTimeout(() => done(null), 5000);
                })""")
                if timing["fcp"] is None:
                    raise RuntimeError("chromium reported no first contentful paint for /")
                page.close()
                paints.append(timing["fcp"])
                loads.append(timing["load"])
                ttfbs.append(timing["ttfb"])
                cards = timing["cards"]
        finally:
            context.close()
    cold_paint, paints, loads, ttfbs = paints[0], paints[1:], loads[1:], ttfbs[1:]
    return {"runs": runs, "cards_on_page": cards, "page_bytes": page_bytes,
            "first_paint_ms_cold": round(cold_paint, 1),
            "first_paint_ms_p50": round(statistics.median(paints), 1), "first_paint_ms_max": round(max(paints), 1),
            "load_ms_p50": round(statistics.median(loads), 1), "first_byte_ms_p50": round(statistics.median(ttfbs), 1),
            "server_ms_p50": round(statistics.median(server_ms), 1), "server_ms_max": round(max(server_ms), 1)}


def main() -> None:
    """Fill, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--big-stories", type=int, default=0,
                        help="wire stories re-posted --big-size times each, stored before the others")
    parser.add_argument("--big-size", type=int, default=1500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(json=False, level="WARNING")
    settings = Settings(key_prefix=f"bench{uuid.uuid4().hex[:6]}:", api_auth="off")
    with tempfile.TemporaryDirectory() as tmp:
        child = None
        if settings.redis_url is None:
            redis_url, child = start_valkey(Path(tmp))
            settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
        try:
            started = time.perf_counter()
            stored = asyncio.run(fill(settings, args.stories, args.big_stories, args.big_size))
            filled_s = time.perf_counter() - started
            server, thread, url = serve(settings)
            try:
                row = {"stories_stored": stored, "fill_s": round(filled_s, 1), **measure(url, args.runs)}
            finally:
                server.should_exit = True
                thread.join(10)
        finally:
            if child is not None:
                child.stop()
    if args.json:
        print(json.dumps(row))
    else:
        print(f"river with {row['stories_stored']:,} stories stored ({row['cards_on_page']} cards on the first page, "
              f"{row['page_bytes'] / 1024:.1f} KiB of HTML): first contentful paint {row['first_paint_ms_p50']} ms "
              f"p50 (max {row['first_paint_ms_max']}, cold {row['first_paint_ms_cold']}) over {row['runs']} loads; "
              f"first byte {row['first_byte_ms_p50']} ms p50, load event {row['load_ms_p50']} ms p50; "
              f"server time for GET / {row['server_ms_p50']} ms p50 "
              f"(max {row['server_ms_max']})")


if __name__ == "__main__":
    main()
