"""Fetcher: registered feeds -> FeedItems.

Claims due feeds from the Redis schedule, polls each (services.fetcher.poll: a
polite conditional GET, an outcome as data), publishes every entry it has not
emitted before to `feed-items` (key: canonical URL), and records the feed's
health and next poll (services.fetcher.schedule.next_state). The seen-set and
the in-flight ledger make emission once-only and let items lost with the broker
be emitted again (services.common.ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

from services.common import metrics
from services.common.bus import Bus, is_outage
from services.common.http import SafeHttpClient
from services.common.incarnation import CHECK_EVERY_S, IncarnationWatch, stray_cancellation
from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import FeedItem
from services.common.redis import open_redis, wait_out_outage
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher.politeness import HostGate, PoliteClient, RobotsCache
from services.fetcher.poll import PollOutcome, poll_feed
from services.fetcher.registry import Feed, FeedRegistry, FeedState
from services.fetcher.schedule import Policy, next_state
from services.fetcher.websub import WebSubStore

log = get_logger(__name__)
MAX_REEMITS = 10
#: After the broker lost its log: for RESTART_FOLLOW_UP_S, items still pending RESTART_GRACE_S after their
#: re-emission are emitted again (at most about 5 times in that window, well under MAX_REEMITS).
RESTART_FOLLOW_UP_S = 120.0
RESTART_GRACE_S = 20.0
#: An item claimed this long ago whose send the broker never acknowledged is emitted again (its fetcher died,
#: or the send failed); far above a send's deadline, far below the pending grace period.
UNSENT_GRACE_S = 30.0
REEMIT_ROUND = 500
CLAIM_IDLE_S = 0.5


class Fetcher:
    """Polls feeds and emits new items; one instance per process, several processes may share Redis."""

    def __init__(self, settings: Settings, *, registry: FeedRegistry, ledger: Ledger, http: SafeHttpClient,
                 bus: Bus, gate: HostGate) -> None:
        self.settings = settings
        self.registry = registry
        self.ledger = ledger
        self.http = http
        self.bus = bus
        self.policy = Policy.from_settings(settings)
        robots = RobotsCache(http, settings.user_agent) if settings.respect_robots else None
        self.client = PoliteClient(http, gate, robots, max_bytes=settings.max_feed_bytes)
        self.websub = WebSubStore(registry.redis, registry.keys) if settings.websub_callback_url else None

    async def poll(self, feed: Feed) -> int:
        """Poll one feed once (politely), publish its new items, record its health and schedule its next
        poll; returns how many new items were emitted."""
        previous = await self.registry.state(feed.id)
        started = time.time()
        outcome = await poll_feed(self.client, feed, previous)
        emitted = await self._publish(feed, outcome)
        metrics.count_poll(failure_class=outcome.failure_class, changed=outcome.changed, emitted=emitted)
        pushing = outcome.ok and await self._pushing(feed, outcome, started)
        state = next_state(previous, outcome, started, self.policy, emitted=emitted, pushing=pushing)
        assert state.next_poll is not None  # next_state always schedules
        await self.registry.record_poll(feed.id, state, state.next_poll)
        self._log(feed, outcome, previous, state, started)
        log.info("feed.polled", feed_id=feed.id, status=state.last_status, emitted=emitted,
                 duration_ms=round((time.time() - started) * 1000, 1), next_in_s=round(state.next_poll - started))
        return emitted

    async def _publish(self, feed: Feed, outcome: PollOutcome) -> int:
        """Emit the entries not emitted before (the ledger decides); returns how many."""
        emitted = 0
        for entry in outcome.entries:
            item = FeedItem(
                url=entry.url, feed_id=feed.id, feed_url=feed.url, outlet=feed.name, title=entry.title,
                summary=entry.summary, author=entry.author, published_at=entry.published, seen_at=datetime.now(UTC),
            )
            if await self.ledger.claim(item):
                await self._emit(item)
                emitted += 1
        return emitted

    async def _pushing(self, feed: Feed, outcome: PollOutcome, now: float) -> bool:
        """Whether the feed's WebSub hub pushes its updates; asks the hub first when a (re)subscription is due."""
        if self.websub is None or not self.settings.websub_callback_url:
            return False
        subscription = await self.websub.follow(
            self.http, feed_id=feed.id, feed_url=feed.url, hub=outcome.hub, topic=outcome.topic,
            callback=f"{self.settings.websub_callback_url.rstrip('/')}/v1/websub/{feed.id}",
            lease_s=self.settings.websub_lease_days * 86400, now=now)
        # The hub pushes every update (each makes the feed due now): polling is only a safety net.
        return subscription is not None and subscription.pushing(now)

    def _log(self, feed: Feed, outcome: PollOutcome, previous: FeedState, state: FeedState, now: float) -> None:
        """A failure, a feed disabled by its failures, a disabled feed answering again."""
        if outcome.ok:
            if previous.disabled:
                log.info("feed.revived", feed_id=feed.id, url=feed.url)
            return
        log.warning("feed.poll_failed", feed_id=feed.id, url=feed.url, error=str(outcome.error),
                    failure=outcome.failure_class, consecutive_errors=state.consecutive_errors)
        if state.disabled and not previous.disabled:
            log.error("feed.disabled", feed_id=feed.id, url=feed.url,
                      failing_hours=round((now - (state.failing_since or now)) / 3600, 1),
                      retry_every_hours=self.policy.revive_interval_s / 3600)

    async def _poll_guarded(self, feed: Feed) -> int:
        """poll(), with any unexpected failure logged: one feed must never disturb the others."""
        try:
            return await self.poll(feed)
        except Exception:
            log.exception("feed.poll_crashed", feed_id=feed.id, url=feed.url)
            return 0

    async def _emit(self, item: FeedItem) -> bool:
        try:
            await self.bus.publish(FEED_ITEMS, item.url, item)
            await self.ledger.sent(item.url)
            return True
        except Exception as exc:  # noqa: BLE001 - the item stays pending and is emitted again later
            log.warning("item.emit_failed", url=item.url, error=repr(exc))
            return False

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

        outage_delay = 0.5

        try:
            while not stop.is_set():
                slot_freed.clear()
                free = limit - len(in_flight)
                claimed: list[str] = []
                if free > 0:
                    try:
                        claimed = await self._claim(lease, free, in_flight, finished)
                    except Exception as exc:
                        if not is_outage(exc):
                            raise
                        # Redis is away: the feeds stay due (or their lease runs out); try again shortly.
                        log.warning("fetcher.redis_unavailable", error=repr(exc)[:300])
                        outage_delay = await wait_out_outage(stop, outage_delay)
                        continue
                    outage_delay = 0.5
                if len(claimed) == free and free > 0 and len(in_flight) < limit:
                    continue  # claimed a full batch and slots are free again: more may be due right now
                # All slots busy: wait for one to free. Free slots but nothing (more) due: look again shortly.
                wake = slot_freed.wait() if len(in_flight) >= limit else asyncio.sleep(CLAIM_IDLE_S)
                waiters = {asyncio.ensure_future(wake), asyncio.ensure_future(stop.wait())}
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.settings.shutdown_grace_s)
        finally:
            # Also when cancelled (another task of the service failed): no poll may outlive the clients
            # that main's exit stack closes next.
            polls = list(in_flight)
            for task in polls:
                task.cancel()
            await asyncio.gather(*polls, return_exceptions=True)

    async def _claim(self, lease: float, free: int, in_flight: set[asyncio.Task[int]],
                     finished: Callable[[asyncio.Task[int]], None]) -> list[str]:
        """Claim up to `free` due feeds and start a poll of each; returns the claimed ids."""
        claimed = await self.registry.claim_due(lease_s=lease, limit=free)
        for fid in claimed:
            feed = await self.registry.get(fid)
            if feed is None or feed.paused:
                continue
            task = asyncio.create_task(self._poll_guarded(feed))
            in_flight.add(task)
            task.add_done_callback(finished)
        return claimed

    async def run_reemit(self, stop: asyncio.Event, watch: IncarnationWatch | None = None) -> None:
        """Emit again the items still pending: all of them as soon as the broker shows it lost its log
        (`watch`), and any older than the grace period (a record lost some other way)."""
        every = min(30.0, self.settings.pending_grace_s / 2)
        next_grace_round = time.monotonic() + every
        unfinished = False  # a re-emission after a broker restart that could not send everything yet
        follow_up_until = 0.0  # after a broker restart: the short grace applies until then
        while not stop.is_set():
            try:
                if (watch is not None and await watch.check()) or unfinished:
                    failed = await self._reemit(emitted_before=time.time())
                    unfinished = failed > 0
                    follow_up_until = time.monotonic() + RESTART_FOLLOW_UP_S
                    next_grace_round = time.monotonic() + RESTART_GRACE_S
                if time.monotonic() >= next_grace_round:
                    # Right after a broker restart a consumer may still resume at its position of the old life
                    # (skipping the first records of the new one): what is still pending after a short grace is
                    # emitted again, past that position. Consumers are idempotent, so a repeat costs only work.
                    follow_up = time.monotonic() < follow_up_until
                    next_grace_round = time.monotonic() + (RESTART_GRACE_S if follow_up else every)
                    await self._reemit(older_than_s=RESTART_GRACE_S if follow_up else self.settings.pending_grace_s)
                # Claimed but never acknowledged by the broker (a fetcher killed between claim and send): no
                # consumer will ever see it, so it need not wait out the pending grace period.
                await self._reemit(older_than_s=UNSENT_GRACE_S, unsent=True)
            except asyncio.CancelledError as exc:
                # A broker client let out a cancellation of its own: this loop must not end by it (in a task group
                # it would end silently, and nothing pending would be emitted again). The service stopping goes on.
                if not stray_cancellation():
                    raise
                log.warning("ledger.reemit_failed", error=repr(exc))
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: try again next round
                log.warning("ledger.reemit_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECK_EVERY_S if watch is not None else every)

    async def _reemit(self, *, older_than_s: float = 0.0, emitted_before: float | None = None,
                      unsent: bool = False) -> int:
        """Emit the due pending items (with `unsent`: the claimed items never acknowledged by the broker) again,
        in rounds of REEMIT_ROUND until none is left; returns how many could not be sent (they stay pending)."""
        total = failed = 0
        while True:
            due = await (self.ledger.unsent_again(older_than_s, REEMIT_ROUND) if unsent else
                         self.ledger.due_again(older_than_s, REEMIT_ROUND, emitted_before=emitted_before))
            for item, attempts in due:
                if attempts > MAX_REEMITS:
                    log.error("item.abandoned", url=item.url, attempts=attempts)
                    await self.ledger.settle(item.url)
                    continue
                log.info("item.reemitted", url=item.url, attempts=attempts)
                failed += not await self._emit(item)
            total += len(due)
            if len(due) < REEMIT_ROUND:
                if total:
                    log.info("ledger.reemitted", items=total, failed=failed,
                             after_broker_restart=emitted_before is not None, unsent=unsent)
                return failed


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
            tasks.create_task(fetcher.run_reemit(stop, IncarnationWatch(settings, redis, keys, "ledger")))
            tasks.create_task(fetcher.run_schedule(stop))
    log.info("service.stopped", service="fetcher")
