"""When the broker shows a new life (it lost its log), what Redis holds in flight is emitted again at once:
the fetcher's pending feed items, and the story events of the outbox, which the notifier handles itself.
No grace period is waited out (both tests run with the 600 s grace of the test settings)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.common.incarnation import IncarnationWatch, broker_incarnation
from services.common.keys import Keys
from services.common.ledger import EventOutbox, Ledger
from services.common.messages import FeedItem, StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher import service as fetcher
from services.notifier import service as notifier
from services.notifier.subscriptions import Query, SubscriptionStore
from services.notifier.webhooks import DeliveryQueue
from tests.support.running import read_topic, running, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def test_the_incarnation_is_stable_while_the_broker_lives(settings: Settings) -> None:
    first = await broker_incarnation(settings)
    assert first and await broker_incarnation(settings) == first
    async with open_redis(settings) as redis:
        watch = IncarnationWatch(settings, redis, Keys(settings.key_prefix), "test")
        assert not await watch.changed()  # first look: remembered, nothing to re-emit
        assert not await watch.changed()
        await redis.set(Keys(settings.key_prefix).broker_incarnation("test"), "an-earlier-life")
        assert await watch.changed()  # once ...
        assert not await watch.changed()  # ... and only once


async def test_pending_items_are_emitted_again_as_soon_as_the_broker_lost_them(settings: Settings) -> None:
    keys = Keys(settings.key_prefix)
    item = FeedItem(url="https://news.example/lost-with-the-broker", feed_id="f1",
                    feed_url="https://news.example/rss", outlet="Example", title="Lost", seen_at=datetime.now(UTC))
    async with open_redis(settings) as redis:
        assert await Ledger(redis, keys, seen_ttl_s=3600).claim(item)  # emitted (to a broker since gone)
        await redis.set(keys.broker_incarnation("ledger"), "an-earlier-life")
        async with running(fetcher.main, settings):
            records = await read_topic(settings.bootstrap, FEED_ITEMS.full_name(settings.topic_prefix),
                                       at_least=1, timeout=20)
    assert [r.key.decode() for r in records] == [item.url]


async def test_story_events_lost_with_the_broker_are_alerted_from_the_outbox(settings: Settings) -> None:
    keys = Keys(settings.key_prefix)
    event = StoryEvent(kind="created", cluster_id="c-lost", article_id="a1", title="Harbour fire", size=1,
                       outlets=["o1"], entities=["person:qassem soleimani"], independent_outlets=1,
                       at=datetime.now(UTC))
    async with open_redis(settings) as redis:
        queue = DeliveryQueue(redis, keys)
        sub = await SubscriptionStore(redis, keys).create("http://127.0.0.1:9/hook",
                                                          Query(entities=["Qassem Soleimani"]))
        outbox = EventOutbox(redis, keys)
        await outbox.add_many([event])  # the store recorded it; the broker died before the notifier read it
        await redis.set(keys.broker_incarnation("outbox"), "an-earlier-life")
        async with running(notifier.main, settings):
            await wait_for(lambda: _undelivered(queue, sub.id), timeout=20, what="the lost event's alert")
            await wait_for(lambda: _empty(outbox), timeout=10, what="the outbox to empty")
        alerts = await queue.undelivered(sub.id)
    assert len(alerts) == 1 and '"story.created"' in alerts[0].body


async def _undelivered(queue: DeliveryQueue, sub_id: str) -> bool:
    return bool(await queue.undelivered(sub_id))


async def _empty(outbox: EventOutbox) -> bool:
    await asyncio.sleep(0)
    return await outbox.pending_count() == 0
