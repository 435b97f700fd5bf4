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
import hashlib
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from urllib.parse import urlsplit

from services.common.bus import Bus
from services.common.errors import WirewatchError
from services.common.http import HttpResponse, SafeHttpClient
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import FeedItem
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher.parse import ParsedEntry, parse_feed
from services.fetcher.politeness import HostGate, RobotsCache, RobotsDisallowed
from services.fetcher.registry import Feed, FeedRegistry
from services.fetcher.schedule import (
    Policy,
    adaptive_interval,
    cache_hint_s,
    failure_class,
    items_per_day,
    next_poll_after_failure,
    next_poll_after_success,
    should_disable,
)
from services.fetcher.websub import Subscription, WebSubStore, needs_request

log = get_logger(__name__)
MAX_REEMITS = 10
CLAIM_IDLE_S = 0.5
#: Child sitemaps of a sitemap index read per poll, newest first: news lives in the newest ones, the
#: rest of an index is the archive.
SITEMAP_CHILDREN = 2


class Fetcher:
    """Polls feeds and emits new items; one instance per process, several processes may share Redis."""

    def __init__(self, settings: Settings, *, registry: FeedRegistry, ledger: Ledger, http: SafeHttpClient,
                 bus: Bus, gate: HostGate) -> None:
        self.settings = settings
        self.registry = registry
        self.ledger = ledger
        self.http = http
        self.bus = bus
        self.gate = gate
        self.policy = Policy.from_settings(settings)
        self.robots = RobotsCache(http, settings.user_agent) if settings.respect_robots else None
        self.websub = WebSubStore(registry.redis, registry.keys) if settings.websub_callback_url else None

    async def poll(self, feed: Feed) -> int:
        """Poll one feed once (politely), record the outcome and schedule the next poll; returns how many
        new items were emitted."""
        state = await self.registry.state(feed.id)
        policy = self.policy
        started = time.time()
        emitted = 0
        body: bytes | None = None
        interval = state.interval_s or policy.initial_interval_s
        update: dict[str, object] = {"last_poll": started, "polls_total": state.polls_total + 1}
        try:
            headers: dict[str, str] = {}
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
            response = await self._fetch(feed.url, headers)
            update["last_status"] = response.status
            digest = hashlib.sha256(response.body).hexdigest()[:32] if response.status != 304 else state.body_hash
            ttl_minutes: float | None = None
            hub: str | None = None
            topic: str | None = None
            # An unchanged body is a 304 the server did not know how to send.
            if response.status != 304 and digest != state.body_hash:
                body = response.body
                parsed = parse_feed(body, response.url)
                ttl_minutes = parsed.ttl_minutes
                hub, topic = parsed.hub, parsed.self_url
                entries = list(parsed.entries)
                if parsed.sitemaps:
                    entries += await self._sitemap_children(feed, parsed.sitemaps[:SITEMAP_CHILDREN])
                for entry in entries:
                    item = FeedItem(
                        url=entry.url, feed_id=feed.id, feed_url=feed.url, outlet=feed.name,
                        title=entry.title, summary=entry.summary, author=entry.author,
                        published_at=entry.published, seen_at=datetime.now(UTC),
                    )
                    if await self.ledger.claim(item):
                        await self._emit(item)
                        emitted += 1
                rate = items_per_day((e.published for e in entries), started)
                if rate is not None:
                    update["items_per_day"] = rate
                update.update(etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
                              body_hash=digest)
            rate_now = update.get("items_per_day", state.items_per_day)
            interval = adaptive_interval(rate_now if isinstance(rate_now, float) else None, policy)
            if self.websub is not None:
                subscription = await self.websub.get(feed.id)
                if hub is None and subscription is not None:  # body unchanged (not parsed): the hub we know
                    hub, topic = subscription.hub, subscription.topic
                if hub is not None and needs_request(subscription, hub, topic or feed.url, started):
                    subscription = await self._subscribe(feed, hub, topic or feed.url, subscription) or subscription
                if subscription is not None and subscription.pushing(started):
                    # The hub pushes every update (each makes the feed due now): polling is only a safety net.
                    interval = policy.max_interval_s
            update.update(last_success=started, last_error=None, failure_class=None, failing_since=None,
                          disabled=False, consecutive_errors=0, items_total=state.items_total + emitted,
                          interval_s=interval)
            next_poll = next_poll_after_success(started, interval, cache_hint_s(response.headers, started, ttl_minutes),
                                                policy)
            if state.disabled:
                log.info("feed.revived", feed_id=feed.id, url=feed.url)
        except WirewatchError as exc:
            kind = failure_class(exc, body)
            failing_since = state.failing_since or started
            disabled = should_disable(failing_since, started, policy)
            errors = state.consecutive_errors + 1
            update.update(last_error=f"{type(exc).__name__}: {exc}", failure_class=kind, failing_since=failing_since,
                          disabled=disabled, consecutive_errors=errors, last_status=getattr(exc, "status", None),
                          interval_s=interval)
            next_poll = next_poll_after_failure(started, interval, errors, getattr(exc, "retry_after_s", None),
                                                disabled, policy)
            log.warning("feed.poll_failed", feed_id=feed.id, url=feed.url, error=str(exc), failure=kind,
                        consecutive_errors=errors)
            if disabled and not state.disabled:
                log.error("feed.disabled", feed_id=feed.id, url=feed.url, failing_hours=round(
                    (started - failing_since) / 3600, 1), retry_every_hours=policy.revive_interval_s / 3600)
        new_state = state.model_copy(update=update)
        await self.registry.record_poll(feed.id, new_state, next_poll)
        log.info("feed.polled", feed_id=feed.id, status=new_state.last_status, emitted=emitted,
                 duration_ms=round((time.time() - started) * 1000, 1), next_in_s=round(next_poll - started))
        return emitted

    async def _subscribe(self, feed: Feed, hub: str, topic: str, current: Subscription | None,
                         ) -> Subscription | None:
        """Ask the feed's hub to push to us (first time or renewal); a hub that fails is logged, polling goes on."""
        assert self.websub is not None and self.settings.websub_callback_url
        callback = f"{self.settings.websub_callback_url.rstrip('/')}/v1/websub/{feed.id}"
        try:
            subscription = await self.websub.subscribe(self.http, feed_id=feed.id, hub=hub, topic=topic,
                                                       callback=callback, current=current,
                                                       lease_s=self.settings.websub_lease_days * 86400)
        except WirewatchError as exc:
            log.warning("websub.request_failed", feed_id=feed.id, hub=hub, error=str(exc))
            return None
        log.info("websub.requested", feed_id=feed.id, hub=hub, topic=topic)
        return subscription

    async def _fetch(self, url: str, headers: dict[str, str] | None = None) -> HttpResponse:
        """GET a feed politely: robots.txt first (RobotsDisallowed), then the host's turn (its Crawl-delay
        counted), within the feed size cap."""
        crawl_delay = None
        if self.robots is not None:
            allowed, crawl_delay = await self.robots.allows(url)
            if not allowed:
                raise RobotsDisallowed(f"{url}: disallowed by {urlsplit(url).netloc}/robots.txt")
        async with self.gate.turn(url, crawl_delay):
            return await self.http.get(url, max_bytes=self.settings.max_feed_bytes, headers=headers)

    async def _sitemap_children(self, feed: Feed, urls: list[str]) -> list[ParsedEntry]:
        """The entries of a sitemap index's newest child sitemaps (each fetched as politely as a feed).

        A child that fails is logged and skipped: the index itself answered, and the other children count.
        """
        entries: list[ParsedEntry] = []
        for url in urls:
            try:
                response = await self._fetch(url)
                entries += parse_feed(response.body, response.url).entries
            except WirewatchError as exc:
                log.warning("feed.sitemap_failed", feed_id=feed.id, url=url, error=str(exc),
                            failure=failure_class(exc))
        return entries

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

    async def run_schedule(self, stop: asyncio.Event) -> None:
        """Claim due feeds and poll them, at most `fetch_concurrency` at once, until `stop`.

        A finished poll frees its slot at once (the loop wakes and claims again); with free slots and
        nothing due, the schedule is looked at again every CLAIM_IDLE_S.
        """
        in_flight: set[asyncio.Task[int]] = set()
        slot_freed = asyncio.Event()
        lease = self.settings.http_timeout_s * 2 + 30
        limit = self.settings.fetch_concurrency

        def finished(task: asyncio.Task[int]) -> None:
            in_flight.discard(task)
            slot_freed.set()

        while not stop.is_set():
            slot_freed.clear()
            free = limit - len(in_flight)
            claimed: list[str] = []
            if free > 0:
                claimed = await self.registry.claim_due(lease_s=lease, limit=free)
                for fid in claimed:
                    feed = await self.registry.get(fid)
                    if feed is None or feed.paused:
                        continue
                    task = asyncio.create_task(self._poll_guarded(feed))
                    in_flight.add(task)
                    task.add_done_callback(finished)
            if len(claimed) == free and free > 0 and len(in_flight) < limit:
                continue  # claimed a full batch and slots are free again: more may be due right now
            # All slots busy: wait for one to free. Free slots but nothing (more) due: look again shortly.
            wake = slot_freed.wait() if len(in_flight) >= limit else asyncio.sleep(CLAIM_IDLE_S)
            waiters = {asyncio.ensure_future(wake), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
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
        gate = HostGate(redis, keys, concurrency=settings.host_concurrency, min_delay_s=settings.host_min_delay_s)
        fetcher = Fetcher(settings, registry=FeedRegistry(redis, keys),
                          ledger=Ledger.from_settings(redis, keys, settings),
                          http=http, bus=bus, gate=gate)
        log.info("service.started", service="fetcher")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(heartbeat(redis, keys, "fetcher", stop))
            tasks.create_task(fetcher.run_reemit(stop))
            tasks.create_task(fetcher.run_schedule(stop))
    log.info("service.stopped", service="fetcher")
