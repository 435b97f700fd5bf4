"""Topics: the only place a topic name is spelled, each bound to its message type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import ValidationError

from services.common.errors import InvalidMessage
from services.common.messages import Article, DeadLetter, FeedItem, Message, StoryEvent

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A topic name (without the configurable prefix) and the message type it carries."""

    name: str
    model: type[M]

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


FEED_ITEMS = Topic("feed-items", FeedItem)
ARTICLES = Topic("articles", Article)
STORY_EVENTS = Topic("story-events", StoryEvent)
DEAD_LETTERS = Topic("dead-letters", DeadLetter)

ALL_TOPICS: tuple[Topic[FeedItem] | Topic[Article] | Topic[StoryEvent] | Topic[DeadLetter], ...] = (
    FEED_ITEMS,
    ARTICLES,
    STORY_EVENTS,
    DEAD_LETTERS,
)
