"""HTTP request and response models (the public API, separate from the wire messages), and the mappers from
each owner's records to them: the routes and the CLI show the same views."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from services.common.messages import Entity
from services.fetcher.registry import AddedFeeds, Feed, FeedState
from services.notifier.subscriptions import Query, Subscription
from services.store.repository import JoinReason, RevisionNote, StoredArticle, StoredStory, StoryMember
from services.store.summaries import OutletJoined, Report, copy_graph, timeline

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of results; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = None


class FeedCreate(BaseModel):
    """A feed to register."""

    url: str = Field(min_length=1, max_length=2048, description="RSS or Atom feed URL (http/https)")
    name: str | None = Field(None, max_length=200, description="outlet name; default: the site's host")


class FeedHealth(BaseModel):
    """What the last polls of a feed found."""

    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    failure_class: str | None = Field(
        None, description="kind of the last failure: dns, tls, timeout, network, redirect, http_4xx, http_5xx, "
                          "rate_limited, parse, bot_wall, robots, blocked, too_large, invalid_url")
    failing_since: datetime | None = Field(None, description="start of the current run of failures")
    disabled: bool = Field(False, description="failing for days: retried only every revive interval until it answers")
    consecutive_errors: int = 0
    items_total: int = 0
    polls_total: int = 0
    items_per_day: float = Field(0.0, description="publishing rate over the last week (from the entries' dates)")
    poll_interval_s: float | None = Field(None, description="the interval the schedule adapted to")
    next_poll: datetime | None = None


class FeedPublic(BaseModel):
    """A registered feed with its health."""

    id: str
    url: str
    name: str
    added_at: datetime
    paused: bool = Field(description="a paused feed is not polled until resumed")
    title: str | None = Field(None, description="the feed's own title, where known (OPML `title`)")
    html_url: str | None = Field(None, description="the site the feed belongs to (OPML `htmlUrl`)")
    category: str | None = Field(None, description='folder path from OPML nesting, "/"-separated ("News/World")')
    health: FeedHealth


class FeedImportError(BaseModel):
    """An OPML entry that was not imported."""

    url: str = Field(description="the outline's xmlUrl as written")
    error: str


class FeedImportResult(BaseModel):
    """What an OPML import did: every feed outline is counted once."""

    added: int = Field(description="feeds new to the registry, scheduled for their first poll now")
    existing: int = Field(description="feeds already registered (left as they were, paused or not)")
    invalid: int = Field(description="outlines whose URL wirewatch cannot fetch")
    errors: list[FeedImportError] = Field(default_factory=list, description="why each invalid outline was refused")


class ArticleSummary(BaseModel):
    """An article in a listing."""

    id: str
    url: str
    outlet: str
    title: str
    published_at: datetime | None
    language: str | None
    cluster_id: str
    copy_of: str | None
    stored_at: datetime


class ArticlePublic(ArticleSummary):
    """One article in full."""

    text: str
    author: str | None
    site_name: str | None
    description: str | None
    entities: list[Entity]
    revision: int
    revisions: list[RevisionNote] = Field(default_factory=list, description="earlier versions of this URL")
    joined: JoinReason


class StorySummary(BaseModel):
    """A story cluster in a listing."""

    id: str
    title: str
    first_seen: datetime
    last_updated: datetime
    size: int
    copies: int
    outlets: list[str]
    entities: list[str] = Field(description="top entity keys, most shared first")


class StoryPublic(StorySummary):
    """One story cluster with its members: originals, each followed by its copies."""

    members: list[StoryMember]
    originals: list[str] = Field(description="ids of members that are not copies of another member")
    reports: list[Report] = Field(description="independent reports, earliest first, each with its pickup chain")
    earliest_publisher: str | None = Field(description="outlet of the earliest independent report")
    timeline: list[OutletJoined] = Field(
        default_factory=list, description="when each outlet joined the story (its first member), earliest first")


def story_summary(story: StoredStory) -> StorySummary:
    """The listing view of a story."""
    return StorySummary(
        id=story.id, title=story.title, first_seen=story.first_seen, last_updated=story.last_updated,
        size=story.size, copies=story.copies, outlets=story.outlets, entities=list(story.entities)[:15],
    )


def story_public(story: StoredStory) -> StoryPublic:
    """One story in full: members ordered as originals each followed by its copies, reports, timeline."""
    reports = copy_graph(story)
    by_id = {m.id: m for m in story.members}
    ordered = [by_id[i] for r in reports for i in (r.id, *(c.id for c in r.copies))]
    ordered.extend(m for m in story.members if m not in ordered)
    return StoryPublic(**story_summary(story).model_dump(), members=ordered, originals=[r.id for r in reports],
                       reports=reports, earliest_publisher=reports[0].outlet if reports else None,
                       timeline=timeline(story))


def article_summary(article: StoredArticle) -> ArticleSummary:
    """The listing view of an article."""
    return ArticleSummary.model_validate(article.model_dump())


def article_public(article: StoredArticle) -> ArticlePublic:
    """One article in full."""
    return ArticlePublic.model_validate(article.model_dump())


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def feed_public(feed: Feed, state: FeedState) -> FeedPublic:
    """A feed with its health (`state`: FeedRegistry.state)."""
    days = max((time.time() - feed.added_at.timestamp()) / 86400, 1.0)
    # The fetcher's rate from the feed's own dates; before its first poll, what was emitted so far.
    rate = state.items_per_day if state.items_per_day is not None else state.items_total / days
    health = FeedHealth(
        last_poll=_ts(state.last_poll), last_success=_ts(state.last_success), last_status=state.last_status,
        last_error=state.last_error, failure_class=state.failure_class, failing_since=_ts(state.failing_since),
        disabled=state.disabled, consecutive_errors=state.consecutive_errors, items_total=state.items_total,
        polls_total=state.polls_total, items_per_day=round(rate, 2), poll_interval_s=state.interval_s,
        next_poll=_ts(state.next_poll),
    )
    return FeedPublic(**feed.model_dump(), health=health)


def feed_import_result(result: AddedFeeds) -> FeedImportResult:
    """What an OPML import (FeedRegistry.import_opml) did, every outline counted once."""
    return FeedImportResult(
        added=len(result.added), existing=len(result.existing), invalid=len(result.invalid),
        errors=[FeedImportError(url=url, error=error) for url, error in result.invalid],
    )


class SubscriptionPublic(BaseModel):
    """A subscription as listed: everything but its secret."""

    id: str
    target_url: str
    query: Query
    created_at: datetime
    paused: bool
    description: str | None


class SubscriptionCreated(SubscriptionPublic):
    """A subscription just registered, with its secret: the only time the secret is shown."""

    secret: str


def subscription_public(sub: Subscription) -> SubscriptionPublic:
    """A subscription without its secret, for the API and the CLI."""
    return SubscriptionPublic(**sub.model_dump(exclude={"secret"}))


class EntityStory(BaseModel):
    """A story cluster mentioning the entity, as listed."""

    id: str
    title: str
    size: int = Field(description="articles in the story")
    outlets: list[str]
    last_updated: datetime


class EntityPublic(BaseModel):
    """An entity: the key it resolves to, its display name, its aliases and its latest stories."""

    key: str = Field(description="the canonical entity key the requested key resolves to")
    requested: str = Field(description="the key as asked for")
    name: str | None = Field(description="display name, the fullest form seen (None when never recorded)")
    aliases: list[str] = Field(description="alias keys that resolve to this entity")
    clusters: list[EntityStory] = Field(description="latest updated story clusters first")
