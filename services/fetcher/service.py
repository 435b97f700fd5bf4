"""Fetcher: registered feeds -> FeedItems.

Claims due feeds from the Redis schedule, polls each with a conditional GET
through the SSRF-safe client, and publishes every entry it has not emitted
before to `feed-items` (key: canonical URL). The seen-set and the in-flight
ledger make emission once-only and let items lost with the broker be emitted
again (services.common.ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from services.common.bus import Bus
from services.common.errors import WirewatchError
from services.common.feeds import Feed, FeedRegistry, FeedState
from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import FeedItem
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher.parse import parse_feed

log = get_logger(__name__)
MAX_BACKOFF_FACTOR = 32
MAX_REEMITS = 10


class Fetcher:
    """Polls feeds and emits new items; one instance per process, several processes may share Redis."""

    def __init__(self, settings: Settings, *, registry: FeedRegistry, ledger: Ledger, http: SafeHttpClient,
                 bus: Bus) -> None:
        self.settings = settings
        self.registry = registry
        self.ledger = ledger
        self.http = http
        self.bus = bus

    async def poll(self, feed: Feed) -> int:
        """Poll one feed once, record the outcome; returns how many new items were emitted."""
        state = await self.registry.state(feed.id)
        headers: dict[str, str] = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        started = time.time()
        emitted = 0
        update: dict[str, object] = {"last_poll": started}
        try:
            response = await self.http.get(feed.url, max_bytes=self.settings.max_feed_bytes, headers=headers)
            update["last_status"] = response.status
            if response.status != 304:
                parsed = parse_feed(response.body, response.url)
                for entry in parsed.entries:
                    item = FeedItem(
                        url=entry.url, feed_id=feed.id, feed_url=feed.url, outlet=feed.name,
                        title=entry.title, summary=entry.summary, author=entry.author,
                        published_at=entry.published, seen_at=datetime.now(UTC),
                    )
                    if await self.ledger.claim(item):
                        await self._emit(item)
                        emitted += 1
                update["etag"] = response.headers.get("etag")
                update["last_modified"] = response.headers.get("last-modified")
            update.update(last_success=started, last_error=None, consecutive_errors=0,
                          items_total=state.items_total + emitted)
        except WirewatchError as exc:
            update.update(last_error=f"{type(exc).__name__}: {exc}", consecutive_errors=state.consecutive_errors + 1,
                          last_status=getattr(exc, "status", None))
            log.warning("feed.poll_failed", feed_id=feed.id, url=feed.url, error=str(exc),
                        error_type=type(exc).__name__)
        new_state = state.model_copy(update=update)
        await self.registry.record_poll(feed.id, new_state, self._next_poll(started, new_state))
        log.info("feed.polled", feed_id=feed.id, status=new_state.last_status, emitted=emitted,
                 duration_ms=round((time.time() - started) * 1000, 1))
        return emitted

    async def _poll_guarded(self, feed: Feed) -> int:
        """poll(), with any unexpected failure logged: one feed must never disturb the others."""
        try:
            return await self.poll(feed)
        except Exception:
            log.exception("feed.poll_crashed", feed_id=feed.id, url=feed.url)
            return 0

    async def _emit(self, item: FeedItem) -> None:
        try:
            await self.bus.publish(FEED_ITEMS, item.url, item)
        except Exception as exc:  # noqa: BLE001 - the item stays pending and is emitted again later
            log.warning("item.emit_failed", url=item.url, error=repr(exc))

    def _next_poll(self, started: float, state: FeedState) -> float:
        interval = self.settings.poll_interval_s
        if state.consecutive_errors:
            interval *= min(2 ** state.consecutive_errors, MAX_BACKOFF_FACTOR)
        # Jitter spreads feeds added together so they are not polled in lockstep.
        return started + interval * random.uniform(0.9, 1.1)

    async def run_schedule(self, stop: asyncio.Event) -> None:
        """Claim due feeds and poll them, at most `fetch_concurrency` at once, until `stop`."""
        in_flight: set[asyncio.Task[int]] = set()
        lease = self.settings.http_timeout_s * 2 + 30
        while not stop.is_set():
            free = self.settings.fetch_concurrency - len(in_flight)
            if free > 0:
                for fid in await self.registry.claim_due(lease_s=lease, limit=free):
                    feed = await self.registry.get(fid)
                    if feed is None or feed.paused:
                        continue
                    task = asyncio.create_task(self._poll_guarded(feed))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if in_flight:
            await asyncio.wait(in_flight, timeout=self.settings.shutdown_grace_s)
            for task in in_flight:
                task.cancel()

    async def run_reemit(self, stop: asyncio.Event) -> None:
        """Emit again the items still pending after the grace period (lost with a broker, say)."""
        every = min(30.0, self.settings.pending_grace_s / 2)
        while not stop.is_set():
            try:
                for item, attempts in await self.ledger.due_again(self.settings.pending_grace_s):
                    if attempts > MAX_REEMITS:
                        log.error("item.abandoned", url=item.url, attempts=attempts)
                        await self.ledger.settle(item.url)
                        continue
                    log.info("item.reemitted", url=item.url, attempts=attempts)
                    await self._emit(item)
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: try again next round
                log.warning("ledger.reemit_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


async def main(settings: Settings, stop: asyncio.Event) -> None:
    """Run the fetcher until `stop` is set."""
    keys = Keys(settings.key_prefix)
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis(settings))
        http = await stack.enter_async_context(SafeHttpClient.from_settings(settings))
        bus = await stack.enter_async_context(Bus(settings, client_id="wirewatch-fetcher"))
        fetcher = Fetcher(settings, registry=FeedRegistry(redis, keys),
                          ledger=Ledger.from_settings(redis, keys, settings),
                          http=http, bus=bus)
        log.info("service.started", service="fetcher")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(heartbeat(redis, keys, "fetcher", stop))
            tasks.create_task(fetcher.run_reemit(stop))
            tasks.create_task(fetcher.run_schedule(stop))
    log.info("service.stopped", service="fetcher")
