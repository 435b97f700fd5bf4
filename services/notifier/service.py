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
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial

from services.common.bus import Bus, Delivery
from services.common.http import SafeHttpClient
from services.common.keys import Keys
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
        log.info("service.started", service="notifier")
        async with asyncio.TaskGroup() as tasks:
            ready = asyncio.Event()
            tasks.create_task(heartbeat(redis, keys, "notifier", stop, ready))
            tasks.create_task(deliverer.run(stop))
            tasks.create_task(bus.consume(
                STORY_EVENTS, group="notifier", stage="notifier", handle=partial(_handle, notifier),
                stop=stop, ready=ready,
            ))


async def _handle(notifier: Notifier, event: StoryEvent, delivery: Delivery) -> None:
    await notifier.handle(event, delivery)
