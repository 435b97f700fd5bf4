"""The live SSE stream of story events: replay after Last-Event-ID, server-side filters, the replay
window, live events, and the HTTP endpoint (driven over raw ASGI so an endless response can be cut)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis.client import NEVER_DECODE

from services.api.app import create_app
from services.common.keys import Keys
from services.common.messages import StoryEvent
from services.common.redis import Redis, open_redis
from services.common.settings import Settings
from services.notifier import live
from services.notifier.live import story_sse
from services.notifier.subscriptions import Query, SubscriptionStore

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    async with open_redis(settings) as client:
        yield client


def story(n: int, *, entities: tuple[str, ...] = ("person:qassem soleimani",),
          kind: str = "created") -> StoryEvent:
    return StoryEvent(kind=kind, cluster_id=f"c{n}", article_id=f"a{n}", title=f"Story {n}", size=1,
                      outlets=["Example"], entities=list(entities), independent_outlets=1, at=datetime.now(UTC))


async def publish(redis: Redis, keys: Keys, event: StoryEvent) -> str:
    """Add an entry as the notifier does; its stream id."""
    entry_id = await live.publish(redis, keys, event)
    assert entry_id is not None, "each test event is new to the stream"
    return entry_id


def parse(chunks: list[str]) -> list[dict[str, str]]:
    """SSE messages (id, event, data) and comments (comment) in order."""
    out: list[dict[str, str]] = []
    for block in "".join(chunks).split("\n\n"):
        if not block:
            continue
        msg: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                msg["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                msg[name] = value
        out.append(msg)
    return out


async def collect(gen: AsyncIterator[str]) -> list[dict[str, str]]:
    return parse([chunk async for chunk in gen])


async def test_replay_after_last_event_id_then_live(settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    ids = [await publish(redis, keys, story(n)) for n in range(5)]
    got = await asyncio.wait_for(collect(story_sse(redis, keys, last_event_id=ids[1], block_ms=200,
                                                   stop_after=3)), 10)
    assert [m["id"] for m in got] == ids[2:]
    assert [json.loads(m["data"])["cluster_id"] for m in got] == ["c2", "c3", "c4"]
    assert {m["event"] for m in got} == {"story.created"}

    # Caught up with the replay, then a live event arrives.
    gen = story_sse(redis, keys, last_event_id=ids[4], block_ms=200, stop_after=1)
    task = asyncio.create_task(collect(gen))
    await asyncio.sleep(0.3)
    later = await publish(redis, keys, story(9, kind="updated"))
    (msg,) = await asyncio.wait_for(task, 10)
    assert msg["id"] == later and msg["event"] == "story.updated"
    assert StoryEvent.model_validate_json(msg["data"]).cluster_id == "c9"


async def test_without_last_event_id_only_new_events(settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    await publish(redis, keys, story(1))
    gen = story_sse(redis, keys, block_ms=200, stop_after=2)

    async def next_chunk() -> str:
        return await gen.__anext__()

    first = asyncio.create_task(next_chunk())
    await asyncio.sleep(0.3)  # the generator has read where "now" is and blocks in XREAD
    new_ids = [await publish(redis, keys, story(n, kind="merged")) for n in (2, 3)]
    got = parse([await asyncio.wait_for(first, 10)] + [c async for c in gen])
    assert [m["id"] for m in got] == new_ids
    assert [m["event"] for m in got] == ["story.merged", "story.merged"]


async def test_entries_are_stored_compressed_and_plain_ones_of_an_older_version_are_still_sent(
        settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    start = await publish(redis, keys, story(0))
    # An entry as the previous version wrote it: the event's plain JSON under `event`.
    old = str(await redis.xadd(keys.story_stream, {"event": story(1).model_dump_json()}))
    new = await publish(redis, keys, story(2))
    stored = await redis.execute_command(  # type: ignore[no-untyped-call]
        "XRANGE", keys.story_stream, new, new, **{NEVER_DECODE: True})
    assert set(stored[0][1]) == {b"z"} and stored[0][1][b"z"].startswith(b"\x28\xb5\x2f\xfd")
    got = await asyncio.wait_for(collect(story_sse(redis, keys, last_event_id=start, block_ms=200,
                                                   stop_after=2)), 10)
    assert [m["id"] for m in got] == [old, new]
    assert [json.loads(m["data"])["cluster_id"] for m in got] == ["c1", "c2"]
    assert json.loads(got[1]["data"])["title"] == "Story 2"


async def test_too_old_id_gets_the_window_comment_and_the_oldest_kept(settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    ids = [await publish(redis, keys, story(n)) for n in range(4)]
    await redis.xtrim(keys.story_stream, maxlen=2, approximate=False)  # ids[0] and ids[1] fall out of the window
    got = await asyncio.wait_for(collect(story_sse(redis, keys, last_event_id=ids[0], block_ms=200,
                                                   stop_after=2)), 10)
    assert "replay window exceeded" in got[0]["comment"]
    assert [m["id"] for m in got[1:]] == ids[2:]


async def test_entity_and_subscription_filters(settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    events = [
        story(0, entities=("person:qassem soleimani",)),
        story(1, entities=("gpe:iran",)),
        story(2, entities=("org:soleimani",), kind="merged"),  # same bare name, another type
        story(3, entities=("person:qassem soleimani", "gpe:iran"), kind="updated"),
        story(4, entities=("person:someone else",)),
    ]
    start = await publish(redis, keys, story(99))  # the resume point
    ids = [await publish(redis, keys, e) for e in events]

    by_key = Query(entities=["person:qassem soleimani"], events=["created", "updated", "merged"])
    got = await collect(story_sse(redis, keys, last_event_id=start, query=by_key, block_ms=200, stop_after=2))
    assert [m["id"] for m in got] == [ids[0], ids[3]]

    by_names = Query(entities=["Soleimani", "Iran"], events=["created", "updated", "merged"])
    got = await collect(story_sse(redis, keys, last_event_id=start, query=by_names, block_ms=200, stop_after=3))
    assert [m["id"] for m in got] == [ids[1], ids[2], ids[3]]

    subs = SubscriptionStore(redis, keys)
    sub = await subs.create("https://hooks.example.com/x", Query(entities=["gpe:iran"], events=["updated"]))
    got = await collect(story_sse(redis, keys, last_event_id=start, query=sub.query, block_ms=200, stop_after=1))
    assert [m["id"] for m in got] == [ids[3]]

    # Nothing else matches: the generator keeps waiting (and sends a keep-alive) instead of ending.
    gen = story_sse(redis, keys, last_event_id=ids[3], query=sub.query, block_ms=100, keepalive_s=0.2)
    assert await asyncio.wait_for(gen.__anext__(), 10) == ": keep-alive\n\n"
    await gen.aclose()


async def _asgi_get(app: Any, path: str, query: str, headers: list[tuple[bytes, bytes]], *,
                    until: str, publish_after_start: Any = None) -> tuple[int, dict[str, str], str]:
    """GET over raw ASGI, reading the body until `until` appears, then disconnecting."""
    disconnect = asyncio.Event()
    status: list[int] = []
    head: dict[str, str] = {}
    body: list[str] = []
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not started.is_set():
            started.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            head.update({k.decode().lower(): v.decode() for k, v in message["headers"]})
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b"").decode())
            if until in "".join(body) or not message.get("more_body"):
                disconnect.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"test"), *headers], "client": ("127.0.0.1", 1), "server": ("test", 80)}
    task = asyncio.create_task(app(scope, receive, send))
    if publish_after_start is not None:
        await asyncio.sleep(0.5)
        await publish_after_start()
    await asyncio.wait_for(disconnect.wait(), 15)
    await asyncio.wait_for(task, 15)
    return status[0], head, "".join(body)


async def test_http_endpoint(settings: Settings, redis: Redis) -> None:
    keys = Keys(settings.key_prefix)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ids = [await publish(redis, keys, story(n, entities=(("gpe:iran",) if n % 2 else ("gpe:iraq",))))
               for n in range(4)]
        code, head, text = await _asgi_get(app, "/v1/stream", "entity=Iran",
                                           [(b"last-event-id", ids[0].encode())], until=ids[3])
        assert code == 200
        assert head["content-type"].startswith("text/event-stream")
        assert head["cache-control"] == "no-cache"
        assert [m["id"] for m in parse([text])] == [ids[1], ids[3]]

        live: list[str] = []

        async def later() -> None:
            live.append(await publish(redis, keys, story(7, entities=("gpe:iran",))))

        code, _, text = await _asgi_get(app, "/v1/stream", "entity=gpe:iran", [], until="\n\n",
                                        publish_after_start=later)
        assert code == 200
        assert [m["id"] for m in parse([text])] == live

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            missing = await client.get("/v1/stream", params={"subscription": "sub_nope"})
            assert missing.status_code == 404
            assert "sub_nope" in missing.json()["detail"]
            bad_id = await client.get("/v1/stream", headers={"Last-Event-ID": "yesterday"})
            assert bad_id.status_code == 422
            assert "Last-Event-ID" in str(bad_id.json()["detail"])
            empty = await client.get("/v1/stream", params={"entity": "  "})
            assert empty.status_code == 422
            schema = (await client.get("/openapi.json")).json()
            assert "100,000" in schema["paths"]["/v1/stream"]["get"]["description"]


async def test_hundreds_of_live_readers_get_each_event_and_leave_the_client_its_connections(
        settings: Settings, redis: Redis) -> None:
    # A blocking read per reader held one of the client's connections (100) each: 150 readers failed, and
    # every other command through the client with them.
    keys = Keys(settings.key_prefix)
    start = await publish(redis, keys, story(0))
    readers = [asyncio.create_task(collect(story_sse(redis, keys, last_event_id=start, block_ms=2000,
                                                     stop_after=2))) for _ in range(150)]
    await asyncio.sleep(0.5)  # every reader has caught up and waits
    assert await redis.ping(), "the client still has connections for other work"
    first = await publish(redis, keys, story(1, kind="updated"))
    await asyncio.sleep(0.2)
    second = await publish(redis, keys, story(2, kind="merged"))
    got = await asyncio.wait_for(asyncio.gather(*readers), 20)
    assert all([m["id"] for m in messages] == [first, second] for messages in got)
    tail = live.stream_tail(redis, keys.story_stream, 2000)
    await asyncio.sleep(2.5)  # the tail's last blocking read ends without readers
    assert tail._task is not None and tail._task.done(), "no reader left: the shared read stopped"
