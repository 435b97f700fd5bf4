"""What a subscriber is told about a story, and when (pure).

Alerts are about the story, not the article: analysts drown in per-article alerts.
For each (subscription, story) the notifier keeps the snapshot it last alerted on:

* the first event of a story that matches a subscription is `story.created` for it
  (even when the story existed before: it is new to this subscriber);
* later events are `story.updated` only on a real change: more outlets reporting on
  their own, the first pickup of the story by another outlet (a copy), a new
  headline, or a merge with another story. A copy adds no outlet of its own, so a
  copy never fires by itself beyond the first pickup;
* anything else is silence.

The webhook id is stable per (subscription, story, triggering event), so a receiver
can deduplicate and a replay of the story-events topic enqueues nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from services.common.messages import StoryEvent

#: What an alert tells: a story new to the subscriber, or a real change to one it was told about.
AlertKind = Literal["story.created", "story.updated"]


@dataclass(frozen=True)
class StorySnapshot:
    """What the subscriber was last told about a story, and as of which event time."""

    independent_outlets: int
    copies: int
    title: str
    size: int
    at: float = 0.0

    @classmethod
    def of(cls, event: StoryEvent) -> StorySnapshot:
        """The story as an event shows it."""
        return cls(event.independent_outlets, event.copies, event.title, event.size, event.at.timestamp())

    def dumps(self) -> str:
        """JSON for Redis."""
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: str) -> StorySnapshot:
        """From the JSON `dumps` wrote."""
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class Alert:
    """One alert to deliver: `story.created` or `story.updated`, with why."""

    kind: AlertKind
    reasons: tuple[str, ...]


def decide(previous: StorySnapshot | None, event: StoryEvent) -> Alert | None:
    """The alert an event earns for a subscriber last told `previous` (None: never told), if any.

    An event no newer than what the subscriber was told (a replay of the topic) earns nothing.
    """
    if previous is None:
        return Alert("story.created", ("first_match",))
    if event.at.timestamp() <= previous.at:
        return None
    reasons: list[str] = []
    if event.kind == "merged":
        reasons.append("merged")
    if event.independent_outlets > previous.independent_outlets:
        reasons.append("more_outlets")
    if previous.copies == 0 and event.copies > 0:
        reasons.append("first_pickup")
    if event.title != previous.title:
        reasons.append("headline")
    return Alert("story.updated", tuple(reasons)) if reasons else None


def wanted(alert: Alert, events: Iterable[str]) -> bool:
    """Whether a subscription asking for these story events (created, updated, merged) wants the alert."""
    kinds = set(events)
    if alert.kind == "story.created":
        return "created" in kinds
    return ("merged" in kinds and "merged" in alert.reasons) or (
        "updated" in kinds and bool(set(alert.reasons) - {"merged"}))


def webhook_id(subscription_id: str, event: StoryEvent) -> str:
    """Stable id of the delivery of `event` to a subscription (Standard Webhooks `webhook-id`)."""
    source = "|".join((subscription_id, event.cluster_id, event.kind, event.article_id, event.merged_into or ""))
    return "msg_" + hashlib.sha256(source.encode()).hexdigest()[:32]


def digest_id(subscription_id: str, story_id: str, window: int) -> str:
    """Stable id of a subscription's digest of a story's updates in one digest window."""
    source = f"{subscription_id}|{story_id}|digest|{window}"
    return "msg_" + hashlib.sha256(source.encode()).hexdigest()[:32]
