"""Subscriptions to signed webhooks end to end: the seed outlets publish, a subscriber following
"Qassem Soleimani" hears of the story once when it appears and once per later outlet, every signature
verifies, and replaying the story events delivers nothing new."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.common.bus import Bus
from services.common.keys import Keys
from services.common.messages import StoryEvent
from services.common.redis import open_redis
from services.common.settings import Settings
from services.common.topics import ARTICLES, STORY_EVENTS
from services.notifier import service as notifier_service
from services.notifier.service import Notifier
from services.notifier.subscriptions import Query, SubscriptionStore, send_ping
from services.notifier.webhooks import DeliveryQueue, verify
from services.store import service as store_service
from services.store.repository import Repository
from tests.support.running import read_topic, running, wait_for
from tests.support.seed_articles import repost, seed_articles

# Topics are created once per process by whoever starts it; here, once per test namespace.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


class _Server(ThreadingHTTPServer):
    """The receiver's server: a backlog for bursts of concurrent webhooks (the default of 5 resets them)."""

    request_queue_size = 128
    daemon_threads = True


class Receiver:
    """A webhook receiver that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/wirewatch"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


async def test_a_story_alerts_once_then_per_new_outlet_signed_and_replay_sends_nothing(
        settings: Settings, seeds_dir: Path, receiver: Receiver) -> None:
    seeds = seed_articles(seeds_dir)
    copy = repost(seeds[0])
    keys = Keys(settings.key_prefix)
    async with open_redis(settings) as redis:
        subscriptions = SubscriptionStore(redis, keys)
        queue = DeliveryQueue(redis, keys)
        following = await subscriptions.create(receiver.url, Query(entities=["Qassem Soleimani"]))
        await subscriptions.create(receiver.url, Query(entities=["person:someone else entirely"]))
        await send_ping(queue, following)
        async with running(store_service.main, settings), running(notifier_service.main, settings), \
                Bus(settings, client_id="test-publisher") as bus:
            repo = Repository(redis, keys)
            for n, article in enumerate([*seeds, copy], start=1):
                # One at a time (the topic's partitions would reorder them): three outlets' own accounts,
                # then a re-post of the first.
                await bus.publish(ARTICLES, article.id, article)

                async def stored(n: int = n) -> bool:
                    return (await repo.stats())["articles"] >= n
                await wait_for(stored, timeout=30, what=f"{n} articles stored")

            async def five() -> bool:
                await asyncio.sleep(0)
                return len(receiver.received) >= 5
            await wait_for(five, timeout=60, what="the ping and four alerts")
            await asyncio.sleep(2)  # anything extra would arrive now
            events = await read_topic(settings.bootstrap, STORY_EVENTS.full_name(settings.topic_prefix),
                                      at_least=4, timeout=10)
        received = len(receiver.received)
        # Replay the whole story-events topic through a notifier: nothing new is queued.
        notifier = Notifier(settings, redis=redis, keys=keys,
                            subscriptions=subscriptions, queue=queue)
        replayed = [await notifier.handle(StoryEvent.model_validate_json(r.value)) for r in events]
        log = await queue.log(following.id, limit=20)
        streamed = await redis.xlen(keys.story_stream)
        feed = await redis.zrange(keys.subscription_stories(following.id), 0, -1)

    bodies = receiver.bodies()  # in any order: deliveries run concurrently
    assert sorted(str(b["type"]) for b in bodies) == ["ping", "story.created", "story.updated", "story.updated",
                                                      "story.updated"]
    updates: dict[tuple[str, ...], dict[str, object]] = {
        tuple(b["reasons"]): b for b in bodies if b["type"] == "story.updated"}  # type: ignore[arg-type]
    assert sorted(updates) == [("first_pickup",), ("more_outlets",)]
    assert sorted(b["story"]["independent_outlets"] for b in bodies if b["type"] != "ping") == [1, 2, 3, 3]  # type: ignore[index]
    story_ids = {b["story"]["id"] for b in bodies if b["type"] != "ping"}  # type: ignore[index]
    assert len(story_ids) == 1, "one story, whatever the article"
    assert updates[("first_pickup",)]["article"]["copy_of"] == seeds[0].id  # type: ignore[index]
    for headers, body in receiver.received:
        assert verify(following.secret, headers, body), "every delivery is signed with the subscription's secret"
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 5, "one webhook id per alert"
    assert replayed == [0] * len(events) and received == 5
    assert all(entry.status == 200 for entry in log) and len(log) == 5
    assert streamed == len(events), "each event streamed live once, the replay did not stream it again"
    assert [str(s) for s in feed] == list(story_ids), "the subscription's feed lists the story once"


async def test_a_digest_gathers_a_storys_updates_into_one_webhook_per_window(settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from services.notifier.alerts import digest_id

    keys = Keys(settings.key_prefix)
    window_start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def event(minutes: int, independent: int, title: str) -> StoryEvent:
        return StoryEvent(kind="updated", cluster_id="c-digest", article_id=f"a{minutes}", title=title,
                          size=independent, outlets=[f"o{i}" for i in range(independent)],
                          entities=["person:qassem soleimani"], independent_outlets=independent,
                          at=window_start + timedelta(minutes=minutes))

    async with open_redis(settings) as redis:
        subscriptions = SubscriptionStore(redis, keys)
        queue = DeliveryQueue(redis, keys)
        sub = await subscriptions.create("http://127.0.0.1:9/hook", Query(entities=["Qassem Soleimani"],
                                                                          digest_minutes=60))
        notifier = Notifier(settings, redis=redis, keys=keys,
                            subscriptions=subscriptions, queue=queue)
        assert await notifier.handle(event(1, 1, "Harbour fire")) == 1  # created: at once, never digested
        assert await notifier.handle(event(5, 2, "Harbour fire")) == 1  # the window's digest is queued
        assert await notifier.handle(event(9, 3, "Harbour fire spreads")) == 0  # ... and gathers this one
        digest = await queue.get(digest_id(sub.id, "c-digest", int((window_start + timedelta(minutes=5))
                                                                        .timestamp() // 3600)))
        later = await notifier.handle(event(65, 4, "Harbour fire spreads"))  # the next window: a new digest
    assert digest is not None and digest.state == "pending"
    assert digest.next_attempt_at == (window_start + timedelta(hours=1)).timestamp(), "sent when the window ends"
    body = json.loads(digest.body)
    assert body["type"] == "story.updated" and body["reasons"] == ["headline", "more_outlets"]
    assert body["digest"] == {"window_minutes": 60, "updates": 2}
    assert body["story"]["independent_outlets"] == 3 and body["story"]["title"] == "Harbour fire spreads"
    assert later == 1
