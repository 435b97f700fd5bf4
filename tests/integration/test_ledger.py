"""The ledger in Redis: an item claimed by a fetcher that died before the broker acknowledged it is emitted
again within seconds, not after the pending grace period (600 s in the test settings)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.keys import Keys
from services.common.ledger import Ledger
from services.common.messages import FeedItem
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import FEED_ITEMS
from services.fetcher import service as fetcher
from tests.support.running import read_topic, running

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def _item(slug: str) -> FeedItem:
    return FeedItem(url=f"https://news.example/{slug}", feed_id="f1", feed_url="https://news.example/rss",
                    outlet="Example", title=slug, seen_at=datetime.now(UTC))


async def test_an_item_claimed_but_never_sent_is_emitted_again_soon(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetcher, "UNSENT_GRACE_S", 1.0)
    keys = Keys(settings.key_prefix)
    lost, sent = _item("claimed-then-killed"), _item("claimed-and-sent")
    async with open_redis(settings) as redis:
        ledger = Ledger(redis, keys, seen_ttl_s=3600)
        assert await ledger.claim(lost) and await ledger.claim(sent)
        await ledger.sent(sent.url)  # acknowledged by the broker: in flight, not to be sent again
        async with running(fetcher.main, settings):
            records = await read_topic(settings.bootstrap, FEED_ITEMS.full_name(settings.topic_prefix),
                                       at_least=1, timeout=20)
        assert [r.key.decode() for r in records] == [lost.url]
        assert await redis.zcard(keys.unsent) == 0 and await ledger.pending_count() == 2  # still pending
        assert await redis.hget(keys.pending_attempts, lost.url) == "1"  # a lost send is no attempt


async def test_settling_an_item_forgets_that_it_was_unsent(settings: Settings) -> None:
    keys = Keys(settings.key_prefix)
    item = _item("stored-quickly")
    async with open_redis(settings) as redis:
        ledger = Ledger(redis, keys, seen_ttl_s=3600)
        assert await ledger.claim(item)
        assert await redis.zscore(keys.unsent, item.url) is not None
        await ledger.settle(item.url)
        assert await redis.zcard(keys.unsent) == 0 and await ledger.pending_count() == 0
