"""A sender that dies mid-request: the delivery is sent again under the same webhook-id only when its outcome
is unknown, and the re-send is counted in the delivery log; a known outcome is never sent again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from services.common.http import SafeHttpClient
from services.common.keys import Keys
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.notifier.webhooks import Deliverer, DeliveryQueue
from tests.integration.test_webhook_delivery import FAST_SCHEDULE, Receiver, _delivery

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    async with open_redis(settings) as client:
        yield client


async def test_a_send_cut_short_by_a_crash_is_resent_once_under_its_id_and_counted(
        settings: Settings, redis: Redis, receiver: Receiver) -> None:
    queue = DeliveryQueue(redis, Keys(settings.key_prefix), schedule=FAST_SCHEDULE)
    assert await queue.enqueue(_delivery("msg_crash", receiver.url("/hook")))
    # A sender claims it and starts the request, then is killed before it records the result.
    [(claimed, token)] = await queue.claim_due(10, lease_s=0.2)
    assert await queue.begin(claimed, token)
    assert await queue.claim_due(10, lease_s=0.2) == []  # leased: nobody else sends it meanwhile
    # The lease ends: the next claim sees an attempt whose outcome nobody knows.
    [(again, token2)] = await queue.claim_due(10, lease_s=30, now=time.time() + 1)
    assert (again.id, again.attempts, again.resends) == ("msg_crash", 1, 1)
    async with SafeHttpClient.from_settings(settings) as http:
        done = await Deliverer(queue, http, timeout_s=5).deliver_once(again, token2)
    assert done is not None and done.state == "delivered" and done.attempts == 2 and done.resends == 1
    assert [r.msg_id for r in receiver.requests()] == ["msg_crash"]  # (the dead sender's request never left here)
    newest, oldest = await queue.log("sub1")
    assert oldest.outcome_unknown and oldest.attempt == 1 and oldest.status is None
    assert not newest.outcome_unknown and newest.attempt == 2 and newest.status == 200
    # The stale sender's token can no longer write anything.
    assert await queue.record_result(claimed, token, status=200, error=None, latency_ms=1) is None


async def test_a_known_outcome_is_never_sent_again(settings: Settings, redis: Redis, receiver: Receiver) -> None:
    queue = DeliveryQueue(redis, Keys(settings.key_prefix), schedule=FAST_SCHEDULE)
    assert await queue.enqueue(_delivery("msg_known", receiver.url("/hook")))
    [(claimed, token)] = await queue.claim_due(10, lease_s=0.2)
    async with SafeHttpClient.from_settings(settings) as http:
        done = await Deliverer(queue, http, timeout_s=5).deliver_once(claimed, token)
    assert done is not None and done.state == "delivered" and done.resends == 0
    assert await queue.claim_due(10, lease_s=30, now=time.time() + 3600) == []
    [entry] = await queue.log("sub1")
    assert not entry.outcome_unknown and entry.status == 200
    assert receiver.delivered() == {"msg_known": 1}
