"""HTTP request and response models (the public API, separate from the wire messages), and the mappers from
each owner's records to them: the routes and the CLI show the same views."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.messages import Entity
from services.extractor.lookup import AmbiguousName
from services.fetcher.registry import AddedFeeds, Feed, FeedState
from services.notifier.subscriptions import Query, Subscription
from services.store.repository import JoinReason, RevisionNote, StoredArticle, StoredStory, StoryMember
from services.store.summaries import (
    OutletJoined,
    Report,
    copy_graph,
    copy_only_outlets,
    independent_outlets,
    lead_report,
    timeline,
)

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of results; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = None


class FeedCreate(BaseModel):
    """A feed to register."""

    url: str = Field(min_length=1, max_length=2048,
                     description="a feed's URL (RSS, Atom, JSON Feed, sitemap; http/https), or a site's page: "
                                 "the first feed it advertises (<link rel=\"alternate\">) is registered")
    name: str | None = Field(None, max_length=200,
                             description="outlet name; default: the feed's own title, else the site's host")
    force: bool = Field(False, description="register even when the URL cannot be fetched or read as a feed today "
                                           "(the refusal is returned as `warning`)")


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


class FeedRegistered(FeedPublic):
    """A feed just registered (201), or the feed already registered under that URL (200)."""

    already_registered: bool = Field(description="the feed was registered before: left as it was")
    message: str = Field(description="what happened, in a sentence")
    discovered_from: str | None = Field(None, description="the page the feed was discovered on, if the URL was one")
    other_feeds: list[str] = Field(default_factory=list, description="further feeds that page advertises")
    warning: str | None = Field(None, description="with `force`: why the feed could not be fetched or read now")


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
    independent_outlets: list[str] = Field(
        default_factory=list, description="outlets with a report of their own (not only copies), sorted")
    copy_outlets: list[str] = Field(
        default_factory=list, description="outlets that only re-post another member's text, sorted")
    headline: str = Field("", description="the most representative title: that of the lead article")
    lead_article: str | None = Field(
        None, description="the independent report most re-posted, earliest among equals (`GET /v1/articles/{id}` "
                          "has its text)")


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
    lead = lead_report(story)
    return StorySummary(
        id=story.id, title=story.title, first_seen=story.first_seen, last_updated=story.last_updated,
        size=story.size, copies=story.copies, outlets=story.outlets, entities=list(story.entities)[:15],
        independent_outlets=independent_outlets(story), copy_outlets=copy_only_outlets(story),
        headline=lead.title if lead else story.title, lead_article=lead.id if lead else None,
    )


def story_public(story: StoredStory) -> StoryPublic:
    """One story in full: members ordered as originals each followed by its copies, reports, timeline."""
    reports = copy_graph(story)
    by_id = {m.id: m for m in story.members}
    ordered = [by_id[i] for r in reports for i in (r.id, *(c.id for c in r.copies))]
    # By id (comparing members one by one with every listed one made a story of 1,000 members take seconds).
    listed = {m.id for m in ordered}
    ordered.extend(m for m in story.members if m.id not in listed)  # copies of a member the story no longer holds
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


class AliasCount(BaseModel):
    """An alias the alias table learned for an entity, with the articles that used it for that entity."""

    alias: str
    articles: int


class EntityStory(BaseModel):
    """A story cluster mentioning the entity, as listed."""

    id: str
    title: str
    size: int = Field(description="articles in the story")
    outlets: list[str]
    last_updated: datetime


class EntityPublic(BaseModel):
    """An entity: the key it resolves to, its display name, its aliases and its latest stories."""

    key: str = Field(description="the canonical entity key the requested key or name resolves to")
    requested: str = Field(description="the key or name as asked for")
    name: str | None = Field(description="display name, the fullest form seen (None when never recorded)")
    aliases: list[str] = Field(description="alias keys that resolve to this entity")
    articles: int = Field(0, description="articles filed under the canonical key")
    alias_counts: list[AliasCount] = Field(
        default_factory=list, description="what the alias table learned: each alias that resolves directly to "
                                          "this entity and the articles that used it for it, most used first")
    clusters: list[EntityStory] = Field(description="latest updated story clusters first")


class EntityMatch(BaseModel):
    """An entity a name or a prefix may stand for."""

    key: str = Field(description="canonical entity key")
    name: str | None = Field(description="display name, the fullest form seen")
    articles: int = Field(description="articles filed under the key")


class EntityChoice(EntityMatch):
    """One of the entities an ambiguous name stands for, with the request that asks for it by key."""

    href: str | None = Field(description="for a read, the same request with this entity's key (None for a "
                                         "write: send it again with the key)")


class AmbiguousEntity(BaseModel):
    """A name that stands for several entities: repeat the request with one candidate's key."""

    detail: str
    query: str = Field(description="the name as given")
    candidates: list[EntityChoice] = Field(description="most articles first")


class EntitySearch(BaseModel):
    """Entities whose name, or a word of it onwards, starts with the prefix."""

    query: str
    items: list[EntityMatch] = Field(description="most articles first")


#: How a GET route answers a name that stands for several entities, for its OpenAPI `responses`.
AMBIGUOUS: dict[int | str, dict[str, Any]] = {300: {
    "model": AmbiguousEntity,
    "description": "Multiple Choices: the name stands for several entities; ask again with one candidate's key "
                   "(its href)"}}


def ambiguous_entity(exc: AmbiguousName, href: Callable[[str], str] | None = None) -> AmbiguousEntity:
    """The candidates of an ambiguous name, each with `href(key)`: the request that asks for it by key."""
    return AmbiguousEntity(detail=str(exc), query=exc.query, candidates=[
        EntityChoice(key=c.key, name=c.name, articles=c.articles, href=href(c.key) if href else None)
        for c in exc.candidates])


def ambiguous_answer(exc: AmbiguousName, href: Callable[[str], str] | None = None, *,
                     status_code: int = 300) -> JSONResponse:
    """The response to an ambiguous name, listing its candidates: 300 Multiple Choices for a read (HTTP's
    "pick one of these", each with its `href`), the caller's `status_code` for a write."""
    return JSONResponse(ambiguous_entity(exc, href).model_dump(mode="json"), status_code=status_code)
