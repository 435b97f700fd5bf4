"""Notifier: story events -> signed webhooks to the subscriptions they match.

Consumes `story-events` (key: story id, so one story's events arrive in order), adds each event to the
live stream (services.notifier.live), finds the candidate subscriptions through the subscription index
(never a scan of all of them), decides per subscription whether the event is news to it
(services.notifier.alerts), and enqueues one delivery per alert with a stable webhook id and a typed body
(services.notifier.payloads). Deliveries are sent by the delivery engine running in the same process
(services.notifier.webhooks): signed per Standard Webhooks, retried with backoff over hours from a
schedule kept in Redis, paused when an endpoint keeps failing. Replaying the topic enqueues nothing new:
an event no newer than what a subscriber was told earns nothing, and a delivery id already known is not
queued again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial

from services.common.bus import Bus, Delivery
from services.common.http import SafeHttpClient
from services.common.incarnation import CHECK_EVERY_S, IncarnationWatch, stray_cancellation
from services.common.keys import Keys
from services.common.ledger import EventOutbox
from services.common.lifecycle import heartbeat
from services.common.logging import get_logger
from services.common.messages import StoryArticle, StoryEvent
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.common.topics import STORY_EVENTS
from services.notifier import live
from services.notifier.alerts import Alert, StorySnapshot, decide, digest_id, wanted, webhook_id
from services.notifier.payloads import DigestBody, alert_body, digest_body
from services.notifier.subscriptions import StoryFacts, Subscription, SubscriptionStore, delivery_to
from services.notifier.webhooks import Deliverer, DeliveryQueue

log = get_logger(__name__)
#: After the broker lost its log: for RESTART_FOLLOW_UP_S, outbox events still there RESTART_GRACE_S after
#: they were recorded are handled by the drain (the consumer may have skipped them).
RESTART_FOLLOW_UP_S = 120.0
RESTART_GRACE_S = 20.0


class Notifier:
    """Turns story events into queued webhook deliveries."""

    def __init__(self, settings: Settings, *, redis: Redis, keys: Keys,
                 subscriptions: SubscriptionStore, queue: DeliveryQueue,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        """`on_queued` is called after an event queued deliveries (the delivery engine's `wake`)."""
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.subscriptions = subscriptions
        self.queue = queue
        self.on_queued = on_queued
        # The consumer and the outbox drain take turns: two handlings of one story at once would both see
        # "never told" and alert twice.
        self.turn = asyncio.Lock()

    async def handle(self, event: StoryEvent, delivery: Delivery | None = None) -> int:
        """Alert the subscriptions an event is news to; returns how many deliveries were queued."""
        article = event.article
        facts = StoryFacts.from_event(
            event, article_title=article.title if article else None, article_text=article.text if article else None,
            language=article.language if article else None, outlet=article.outlet if article else None)
        story_id = event.merged_into or event.cluster_id
        snapshots_key = self.keys.alert_snapshots(story_id)
        await live.publish(self.redis, self.keys, event)
        queued = 0
        for sub in await self.subscriptions.candidates(facts):
            raw = await self.redis.hget(snapshots_key, sub.id)
            previous = StorySnapshot.loads(str(raw)) if raw else None
            alert = decide(previous, event)
            if alert is None:
                continue
            if wanted(alert, sub.query.events) and alert.kind == "story.updated" and sub.query.digest_minutes:
                queued += await self._digest(sub, alert, event, article, story_id)
            elif wanted(alert, sub.query.events):
                msg_id = webhook_id(sub.id, event)
                body = alert_body(alert, sub.id, event, article, msg_id)
                if await self.queue.enqueue(delivery_to(sub, body)):
                    queued += 1
                    await self.subscriptions.record_alert(sub.id, story_id, event.at.timestamp())
                    log.info("alert.queued", subscription=sub.id, story=story_id, kind=alert.kind,
                             reasons=list(alert.reasons), webhook_id=msg_id)
            # Told or not (an event kind it did not ask for), the subscriber is now measured from here.
            await self.redis.hset(snapshots_key, sub.id, StorySnapshot.of(event).dumps())
            await self.redis.expire(snapshots_key, int(self.settings.retention_days * 86400))
        if queued:
            self.on_queued()  # seconds from publication to alert: send now, not at the next poll
        return queued

    async def _digest(self, sub: Subscription, alert: Alert, event: StoryEvent, article: StoryArticle | None,
                      story_id: str) -> int:
        """Gather a story's updates into one webhook per digest window: the first update of a window queues
        it, due at the window's end; later ones give it the story's newest state and all the reasons."""
        window_s = sub.query.digest_minutes * 60
        window = int(event.at.timestamp() // window_s)
        msg_id = digest_id(sub.id, story_id, window)
        earlier = await self.queue.get(msg_id)
        body = digest_body(alert, sub.id, event, article, msg_id, window_minutes=sub.query.digest_minutes,
                           earlier=None if earlier is None else DigestBody.model_validate_json(earlier.body))
        if earlier is None:
            return int(await self.queue.enqueue(delivery_to(sub, body, due=(window + 1) * window_s)))
        await self.queue.refresh(msg_id, body.wire())
        return 0


async def main(settings: Settings, stop: asyncio.Event) -> None:
    """Run the notifier (matching and delivery) until `stop` is set."""
    keys = Keys(settings.key_prefix)
    async with AsyncExitStack() as stack:
        # Registered first so it runs last: after the clients are closed, whether the tasks ended or failed.
        stack.callback(log.info, "service.stopped", service="notifier")
        redis = await stack.enter_async_context(open_redis(settings))
        http = await stack.enter_async_context(SafeHttpClient.from_settings(settings))
        bus = await stack.enter_async_context(Bus(settings, client_id="wirewatch-notifier"))
        queue = DeliveryQueue(redis, keys)
        deliverer = Deliverer(queue, http, timeout_s=settings.http_timeout_s)
        notifier = Notifier(settings, redis=redis, keys=keys,
                            subscriptions=SubscriptionStore(redis, keys), queue=queue, on_queued=deliverer.wake)
        outbox = EventOutbox(redis, keys)
        log.info("service.started", service="notifier")
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "notifier", stop, ready))
            tasks.create_task(deliverer.run(stop))
            tasks.create_task(drain_outbox(notifier, outbox, IncarnationWatch(settings, redis, keys, "outbox"),
                                           settings, stop))
            tasks.create_task(bus.consume(
                STORY_EVENTS, group="notifier", stage="notifier", handle=partial(_handle, notifier, outbox),
                stop=stop, ready=ready,
            ))


async def _handle(notifier: Notifier, outbox: EventOutbox, event: StoryEvent, delivery: Delivery) -> None:
    async with notifier.turn:
        await notifier.handle(event, delivery)
    await outbox.settle(event)


async def drain_outbox(notifier: Notifier, outbox: EventOutbox, watch: IncarnationWatch, settings: Settings,
                       stop: asyncio.Event) -> None:
    """Handle the story events the broker lost: every one still in the outbox as soon as the broker shows a
    new incarnation, and any older than the grace period (handling is idempotent, so a merely slow event
    that arrives later from the topic queues nothing twice)."""
    every = min(30.0, settings.pending_grace_s / 2)
    next_grace_round = time.monotonic() + every
    unfinished: float | None = None  # cutoff of a drain after a broker restart that was interrupted
    follow_up_until = 0.0  # after a broker restart: the short grace applies until then
    while not stop.is_set():
        try:
            if await watch.check():
                unfinished = time.time()
                follow_up_until = time.monotonic() + RESTART_FOLLOW_UP_S
                next_grace_round = time.monotonic() + RESTART_GRACE_S
            if unfinished is not None:
                await _drain(notifier, outbox, emitted_before=unfinished, stop=stop)
                unfinished = None
            if time.monotonic() >= next_grace_round:
                # Right after a broker restart this consumer may resume at its position of the old life and skip
                # the first story events of the new one: what is still in the outbox after a short grace is
                # handled here (handling is idempotent).
                follow_up = time.monotonic() < follow_up_until
                grace = RESTART_GRACE_S if follow_up else settings.pending_grace_s
                next_grace_round = time.monotonic() + (RESTART_GRACE_S if follow_up else every)
                await _drain(notifier, outbox, emitted_before=time.time() - grace, stop=stop)
        except asyncio.CancelledError as exc:
            # A broker client let out a cancellation of its own: this loop must not end by it (in a task group it
            # would end silently, and the outbox would wait for the grace period). The service stopping goes on.
            if not stray_cancellation():
                raise
            log.warning("outbox.drain_failed", error=repr(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - Redis away: the events stay in the outbox for the next round
            log.warning("outbox.drain_failed", error=repr(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)


async def _drain(notifier: Notifier, outbox: EventOutbox, *, emitted_before: float, stop: asyncio.Event) -> None:
    handled = 0
    while not stop.is_set():
        events = await outbox.due(emitted_before=emitted_before, limit=200)
        for event in events:
            async with notifier.turn:
                await notifier.handle(event)
            await outbox.settle(event)
        handled += len(events)
        if len(events) < 200:
            break
    if handled:
        log.info("outbox.drained", events=handled)
