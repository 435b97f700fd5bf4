"""The JSON bodies of the notifier's webhooks, as typed models: an alert, a digest of updates, the test ping.

Receivers verify the signature over the exact bytes, so `wire()` is the one way a body becomes text:
compact JSON (`separators=(",", ":")`), ASCII-only (`\\uXXXX` escapes, as `json.dumps` writes them),
keys in field order, nulls kept, times as `datetime.isoformat()` ("+00:00", not pydantic's "Z"). Pure: no I/O.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, PlainSerializer

from services.common.messages import StoryArticle, StoryEvent
from services.notifier.alerts import Alert, AlertKind

__all__ = [
    "AlertBody",
    "ArticleInfo",
    "DigestBody",
    "DigestInfo",
    "PingBody",
    "StoryInfo",
    "WebhookBody",
    "alert_body",
    "digest_body",
    "ping_body",
]

#: A time as the bodies have always carried it: `datetime.isoformat()`.
IsoTime = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str)]


class WebhookBody(BaseModel):
    """What every webhook body has: its id, which is also its `webhook-id`."""

    id: str

    def wire(self) -> str:
        """The exact text that is sent and signed."""
        # json.dumps over the python dump, not model_dump_json: that one writes raw UTF-8 where the
        # bodies have always had \uXXXX escapes, and receivers sign over the bytes.
        return json.dumps(self.model_dump(), separators=(",", ":"))


class StoryInfo(BaseModel):
    """The story an alert is about, as of the triggering event."""

    id: str
    title: str
    size: int
    outlets: list[str]
    independent_outlets: int
    copies: int
    entities: list[str]
    merged_from: str | None
    href: str


class ArticleInfo(BaseModel):
    """The article that triggered an alert."""

    id: str
    title: str
    url: str
    outlet: str
    published_at: IsoTime | None
    copy_of: str | None


class AlertBody(WebhookBody):
    """An alert: the story's summary and the article that triggered it."""

    type: AlertKind
    reasons: list[str]
    subscription_id: str
    story: StoryInfo
    article: ArticleInfo | None
    at: IsoTime


class DigestInfo(BaseModel):
    """How many updates of a story a digest gathers, over which window."""

    window_minutes: int
    updates: int


class DigestBody(AlertBody):
    """An alert that gathers a story's updates over a digest window."""

    digest: DigestInfo


class PingBody(WebhookBody):
    """The test ping sent when a subscription is created: the receiver can check its signature end to end."""

    type: Literal["ping"] = "ping"
    subscription_id: str
    at: IsoTime


def alert_body(alert: Alert, subscription_id: str, event: StoryEvent, article: StoryArticle | None,
               msg_id: str) -> AlertBody:
    """The body of an alert about the story of `event`, triggered by `article`."""
    story_id = event.merged_into or event.cluster_id
    return AlertBody(
        id=msg_id,
        type=alert.kind,
        reasons=list(alert.reasons),
        subscription_id=subscription_id,
        story=StoryInfo(
            id=story_id, title=event.title, size=event.size, outlets=event.outlets,
            independent_outlets=event.independent_outlets, copies=event.copies, entities=event.entities,
            merged_from=event.cluster_id if event.kind == "merged" else None, href=f"/v1/clusters/{story_id}",
        ),
        article=None if article is None else ArticleInfo(
            id=article.id, title=article.title, url=article.url, outlet=article.outlet,
            published_at=article.published_at, copy_of=event.article_copy_of,
        ),
        at=event.at,
    )


def digest_body(alert: Alert, subscription_id: str, event: StoryEvent, article: StoryArticle | None, msg_id: str,
                *, window_minutes: int, earlier: DigestBody | None) -> DigestBody:
    """The digest of a story's updates in one window: the story's newest state, every reason given so far
    in the window (`earlier`: the digest as it stood before this update) and how many updates it gathers."""
    reasons, updates = list(alert.reasons), 1
    if earlier is not None:
        reasons = sorted(set(earlier.reasons) | set(reasons))
        updates = earlier.digest.updates + 1
    body = alert_body(Alert(alert.kind, tuple(reasons)), subscription_id, event, article, msg_id)
    return DigestBody(**dict(body), digest=DigestInfo(window_minutes=window_minutes, updates=updates))


def ping_body(subscription_id: str, at: datetime) -> PingBody:
    """The test ping of a new subscription."""
    return PingBody(id=f"msg_ping_{subscription_id}", subscription_id=subscription_id, at=at)
