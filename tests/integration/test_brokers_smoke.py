"""Smoke test of the servers wirewatch runs on: Tansu, Apache Kafka (KRaft) and Valkey.

Self-contained (no fixtures from tests/conftest.py): each broker is started
here, topics are created with ensure_topics (with a retention config), 100 records go through a producer
with acks=all and no idempotence, and come back through a consumer group that
commits explicit offsets by hand. Startup and group-join times are logged
(`pytest -o log_cli=true --log-cli-level=INFO` shows them).

Apache Kafka needs its jars: `scripts/fetch-kafka`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.common.embedded import ChildProcess, start_tansu, start_valkey
from services.common.topics import TopicSpec, ensure_topics
from tests.support.kafka import start_apache_kafka

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

N = 100
PARTITIONS = 3


_KIND: dict[str, str] = {}


def broker_kind(bootstrap: str) -> str:
    """Which broker serves `bootstrap` ("tansu" or "apache-kafka")."""
    return _KIND[bootstrap]


@pytest.fixture(scope="module", params=["tansu", "apache-kafka"])
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start one broker per parameter; log how long it took to become ready."""
    kind: str = request.param
    work = tmp_path_factory.mktemp(kind)
    started = time.monotonic()
    child: ChildProcess
    if kind == "tansu":
        bootstrap, child = start_tansu(work)
    else:
        bootstrap, child = start_apache_kafka(work)
    log.info("%s ready in %.2fs at %s", kind, time.monotonic() - started, bootstrap)
    _KIND[bootstrap] = kind
    try:
        yield bootstrap
    finally:
        child.stop()


def spec(name: str) -> TopicSpec:
    """A smoke topic, created with a retention config as wirewatch's own topics are."""
    return TopicSpec(name, PARTITIONS, {"retention.ms": "3600000"})


async def test_produce_consume_commit(broker: str) -> None:
    topic = f"smoke-{time.monotonic_ns()}"
    # Twice and concurrently: creation must be idempotent and race-safe.
    async with asyncio.timeout(60):
        await asyncio.gather(
            ensure_topics(broker, [spec(topic), spec(f"{topic}-b")]),
            ensure_topics(broker, [spec(topic)]),
        )
        await ensure_topics(broker, [spec(topic)])

    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", enable_idempotence=False)
    async with asyncio.timeout(60):
        await producer.start()
        try:
            futures = [
                await producer.send(topic, key=f"k{i % 7}".encode(), value=f"v{i}".encode()) for i in range(N)
            ]
            metadata = await asyncio.gather(*futures)
        finally:
            await producer.stop()
    assert {m.partition for m in metadata} <= set(range(PARTITIONS))

    group = f"g-{topic}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    seen: list[bytes] = []
    started = time.monotonic()
    first_record_s: float | None = None
    async with asyncio.timeout(90):
        await consumer.start()
        try:
            while len(seen) < N:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    if not records:
                        continue
                    if first_record_s is None:
                        first_record_s = time.monotonic() - started
                    seen.extend(r.value for r in records if r.value is not None)
                    # Explicit offset + 1 of the last record handled, never a bare commit().
                    await consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "")})
        finally:
            await consumer.stop()
    log.info("%s: consumer start to first record %.2fs, all %d in %.2fs", broker_kind(broker),
             first_record_s or -1, N, time.monotonic() - started)
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(N))

    # The committed offset of each partition is one past its last record: a
    # restart of the group reads nothing again.
    last = {p: max((m.offset for m in metadata if m.partition == p), default=-1) for p in range(PARTITIONS)}
    checker = AIOKafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
    async with asyncio.timeout(60):
        await checker.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            for tp in tps:
                if last[tp.partition] >= 0:
                    assert await checker.committed(tp) == last[tp.partition] + 1
            ends = await checker.end_offsets(tps)
        finally:
            await checker.stop()
    expected_ends = {tp: last[tp.partition] + 1 for tp in tps}
    if broker_kind(broker) == "tansu":
        # Known Tansu difference: ListOffsets(latest) answers the base offset of
        # the partition's last record batch + 1, not its last offset + 1, so
        # end_offsets()/highwater() undercount when a batch holds several records.
        # wirewatch must not use end offsets for correctness (lag display only).
        if ends != expected_ends:
            log.warning("tansu end_offsets %s != last offsets + 1 %s", ends, expected_ends)
    else:
        assert ends == expected_ends


async def test_valkey_ping_set_get_and_aof_restart(tmp_path: Path) -> None:
    started = time.monotonic()
    url, child = await asyncio.to_thread(start_valkey, tmp_path)
    log.info("valkey ready in %.2fs at %s", time.monotonic() - started, url)
    try:
        client = aioredis.from_url(url)
        try:
            assert await client.ping()
            await client.set("wirewatch:smoke", "1")
            assert await client.get("wirewatch:smoke") == b"1"
            assert await client.config_get("appendonly") == {"appendonly": "yes"}
            assert await client.config_get("appendfsync") == {"appendfsync": "everysec"}
        finally:
            await client.aclose()
    finally:
        child.stop()

    # Same data dir again: the AOF brings the key back.
    url, child = await asyncio.to_thread(start_valkey, tmp_path)
    try:
        client = aioredis.from_url(url)
        try:
            assert await client.get("wirewatch:smoke") == b"1"
        finally:
            await client.aclose()
    finally:
        child.stop()
