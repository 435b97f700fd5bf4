"""Topics: the only place a topic is defined: its name, message type, key, partitions and retention.

`ensure_topics` creates the missing ones idempotently on Tansu and on Apache Kafka alike; a process calls
it once at start (`wirewatch up`, or a service run on its own), never per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from pydantic import ValidationError

from services.common.errors import InvalidMessage
from services.common.logging import get_logger
from services.common.messages import Article, DeadLetter, FeedItem, Message, StoryEvent
from services.common.settings import Settings

M = TypeVar("M", bound=Message)
log = get_logger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A topic: name (without the configurable prefix), the message type it carries, what its records are
    keyed by, and how wirewatch creates it (partitions bound how many consumers of a group share the work;
    retention bounds how far back a replay can go)."""

    name: str
    model: type[M]
    key: str
    partitions: int
    retention_ms: int

    def full_name(self, prefix: str) -> str:
        """The name on the broker: prefix + name."""
        return f"{prefix}{self.name}"

    def encode(self, value: M) -> bytes:
        """Serialise a message for the wire."""
        return value.model_dump_json().encode()

    def decode(self, raw: bytes | None) -> M:
        """Parse wire bytes; InvalidMessage if they are not this topic's schema."""
        if raw is None:
            raise InvalidMessage(f"{self.name}: empty record value")
        try:
            return self.model.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidMessage(f"{self.name}: not a valid {self.model.__name__}: {exc}") from exc


FEED_ITEMS = Topic("feed-items", FeedItem, key="canonical URL", partitions=3, retention_ms=7 * DAY_MS)
ARTICLES = Topic("articles", Article, key="article id", partitions=3, retention_ms=7 * DAY_MS)
STORY_EVENTS = Topic("story-events", StoryEvent, key="story id", partitions=3, retention_ms=7 * DAY_MS)
DEAD_LETTERS = Topic("dead-letters", DeadLetter, key="original key", partitions=3, retention_ms=30 * DAY_MS)

ALL_TOPICS: tuple[Topic[FeedItem] | Topic[Article] | Topic[StoryEvent] | Topic[DeadLetter], ...] = (
    FEED_ITEMS,
    ARTICLES,
    STORY_EVENTS,
    DEAD_LETTERS,
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: its full name, partitions and topic-level configs."""

    name: str
    partitions: int
    configs: dict[str, str]


def specs(prefix: str, topics: Sequence[Topic[Any]] = ALL_TOPICS) -> list[TopicSpec]:
    """What creating wirewatch's topics under `prefix` asks the broker for."""
    return [TopicSpec(t.full_name(prefix), t.partitions, {"retention.ms": str(t.retention_ms)}) for t in topics]


async def ensure_all(settings: Settings, *, timeout_s: float | None = None) -> None:
    """Create every wirewatch topic that is missing on the configured broker (once per process start, and
    again when the broker lost its log), within `timeout_s` (default: the start-up wait)."""
    await ensure_topics(settings.bootstrap, specs(settings.topic_prefix),
                        timeout_s=settings.startup_wait_s if timeout_s is None else timeout_s)


async def ensure_topics(bootstrap: str, wanted: Sequence[TopicSpec], *, timeout_s: float = 30.0) -> None:
    """Create the topics that are missing (replication factor 1); existing ones are left alone.

    Idempotent and safe to race: TopicAlreadyExists is success. Waits until every topic has a leader for each
    partition, because Apache Kafka answers CreateTopics before the partitions are writable.
    """
    if not wanted:
        return
    names = [t.name for t in wanted]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                response = await admin.create_topics([
                    NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=1,
                             topic_configs=t.configs) for t in missing])
                for entry in response.to_object()["topic_errors"]:
                    code = entry["error_code"]
                    if code == 0:
                        continue
                    error_cls = for_code(code)
                    if error_cls is TopicAlreadyExistsError:
                        continue  # created by a racing service: fine
                    raise error_cls(f"create topic {entry['topic']}: {entry.get('error_message')}")
                log.info("topics_created", topics=[t.name for t in missing])
            await _wait_for_leaders(admin, names)
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Poll metadata until each topic exists without error and every partition has a leader."""
    while True:
        topics = await admin.describe_topics(names)
        ok = {
            t["topic"]
            for t in topics
            if t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 and p["error_code"] == 0 for p in t["partitions"])
        }
        if ok >= set(names):
            return
        await asyncio.sleep(0.1)
