"""Helpers for integration tests: run a service in-process, serve the API, wait for a condition, read a topic."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.embedded import free_port
from services.common.settings import Settings

ServiceMain = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


@asynccontextmanager
async def running(main: ServiceMain, settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """Run a service's main() as a task; on exit set its stop event and wait for a clean stop."""
    stop = asyncio.Event()
    task = asyncio.create_task(main(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


@contextmanager
def serving_api(settings: Settings) -> Iterator[str]:
    """The API of `settings` served by uvicorn on a free local port, in a thread, until the block ends; its URL
    (once it listens)."""
    import uvicorn  # only the tests that serve the API pay for importing it

    from services.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float, what: str,
                   every: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


async def read_topic(bootstrap: str, topic: str, *, at_least: int, timeout: float) -> list[Any]:
    """Every record of `topic` from the beginning (no consumer group), once `at_least` arrived."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await wait_for(lambda: _partitions(consumer, topic), timeout=timeout, what=f"topic {topic}")
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for rs in batch.values():
                records.extend(rs)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return parts or None
