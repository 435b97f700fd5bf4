"""Batch handling in the consume loop, against a real broker: a failing batch costs only its bad message."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence

import pytest

from services.common.bus import Bus, Delivery
from services.common.messages import Article, DeadLetter
from services.common.settings import Settings
from services.common.topics import ARTICLES, DEAD_LETTERS
from tests.integration.test_store import synthetic_article
from tests.support.running import read_topic, wait_for

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def test_a_failing_batch_is_handled_one_by_one_and_only_the_bad_message_is_dead_lettered(
        settings: Settings) -> None:
    settings = settings.model_copy(update={"retry_backoff_s": 0.01})
    articles = [synthetic_article(1, n) for n in range(6)]
    bad = articles[3].model_copy(update={"title": "bad"})
    articles[3] = bad
    batches: list[int] = []
    handled: list[str] = []

    async def handle_batch(items: Sequence[tuple[Article, Delivery]]) -> None:
        batches.append(len(items))
        if any(a.title == "bad" for a, _ in items):
            raise RuntimeError("one bad article in the batch")
        handled.extend(a.id for a, _ in items)

    async def handle(article: Article, delivery: Delivery) -> None:
        if article.title == "bad":
            raise ValueError("this article cannot be stored")
        handled.append(article.id)

    async with Bus(settings, client_id="test") as bus:
        for article in articles:  # one key: one partition, one batch
            await bus.publish(ARTICLES, "same-key", article)
        stop = asyncio.Event()
        consuming = asyncio.create_task(bus.consume(ARTICLES, group="batch-test", stage="test", handle=handle,
                                                    handle_batch=handle_batch, stop=stop))
        try:
            await wait_for(lambda: _count(handled, 5), timeout=60, what="the good articles handled")
            letters = await read_topic(settings.bootstrap, bus.topic_name(DEAD_LETTERS), at_least=1, timeout=30)
        finally:
            stop.set()
            await consuming

    assert sorted(handled) == sorted(a.id for a in articles if a is not bad), "each good article handled once"
    assert max(batches) > 1, "records of one poll were handed over together"
    (letter,) = [DeadLetter.model_validate_json(r.value) for r in letters]
    assert letter.error_type == "ValueError" and letter.attempts == settings.max_attempts
    assert Article.model_validate_json(base64.b64decode(letter.payload_b64)).title == "bad"


async def _count(items: list[str], n: int) -> bool:
    return len(items) >= n
