"""The wire schema: every payload that travels on a topic, defined once.

Each message carries `schema_version`. Adding an optional field keeps the
version (readers ignore unknown fields); a breaking change adds a new class
with the next version, and readers accept both during a rollout.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Message(BaseModel):
    """Base of every topic payload: JSON on the wire, one schema per class."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    schema_version: Literal[1] = 1


class FeedItem(Message):
    """An entry first seen in a feed. Topic key: its canonical URL."""

    url: str = Field(description="canonical article URL (services.common.urls.canonical_url)")
    feed_id: str
    feed_url: str
    outlet: str = Field(description="outlet name: the feed's name, else the site's host")
    title: str | None = None
    summary: str | None = None
    author: str | None = None
    published_at: AwareDatetime | None = None
    seen_at: AwareDatetime


class Entity(BaseModel):
    """A named entity of one article, normalised so it can be followed across outlets."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    key: str = Field(description="stable key: '<type>:<normalised name>', e.g. 'person:vladimir putin'")
    name: str = Field(description="display name, the fullest form seen in the article")
    type: str = Field(description="PERSON, ORG, GPE, LOC, NORP, EVENT, FAC, PRODUCT, WORK_OF_ART, LAW")
    count: int = Field(ge=1, description="mentions in the article")
    first_position: int = Field(ge=0, description="character offset of the first mention in the text")
    aliases: list[str] = Field(
        default_factory=list,
        description="other keys this entity was written as in the article ('person:putin' for 'person:vladimir "
                    "putin'); the alias table learns from them")
    plain: bool = Field(
        default=False,
        description="the article also writes the last word of the name in lower case ('Gang' beside 'a gang'): "
                    "weak evidence that the word is a name")


class Fingerprint(BaseModel):
    """What the store needs of an article's text, computed once by the extractor (services.common.fingerprint)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    version: int = Field(description="fingerprint algorithm version; the store recomputes other versions")
    body_hash: str = Field(description="hash of the normalised body (exact copies)")
    sketch: str = Field(description="MinHash sketches of the body's 5-word shingles and of its first 60, "
                                    "`size:base64:base64(lead)`")
    terms: dict[str, int] = Field(description="content-word counts of title and body")
    title_terms: dict[str, int] = Field(description="content-word counts of the title")


class Article(Message):
    """A cleaned article with metadata and entities. Topic key: its article id."""

    id: str = Field(description="article_id(canonical_url or url): stable, derived from the canonical URL")
    url: str = Field(description="the feed item's (canonical) URL the article was fetched from")
    canonical_url: str | None = Field(
        default=None, description="the URL the page names as its own (<link rel=canonical>, og:url), on its site")
    feed_id: str | None = None
    outlet: str
    title: str
    text: str
    author: str | None = None
    published_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = Field(default=None, description="last modification the page declares")
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    entities: list[Entity] = Field(default_factory=list)
    fetched_at: AwareDatetime
    fingerprint: Fingerprint | None = Field(
        default=None, description="text fingerprint for the store; recomputed by the store when absent")


class StoryArticle(BaseModel):
    """The article behind a story event, carried in the event so its consumers (the notifier, outside
    readers) need not read the store's state."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    id: str
    title: str
    url: str
    outlet: str
    language: str | None = None
    published_at: AwareDatetime | None = None
    text: str = Field("", description="the article's text: subscriptions match keywords in it")


class StoryEvent(Message):
    """A change to a story. Topic key: the story id (`cluster_id` on the wire)."""

    kind: Literal["created", "updated", "merged"]
    cluster_id: str
    article_id: str
    merged_into: str | None = Field(default=None, description="surviving cluster id when kind == 'merged'")
    title: str
    size: int
    outlets: list[str]
    entities: list[str] = Field(default_factory=list, description="top entity keys")
    independent_outlets: int = Field(0, description="outlets with a report of their own (not only copies)")
    copies: int = Field(0, description="members that re-post another member's text")
    article_copy_of: str | None = Field(None, description="the triggering article is a copy of this one")
    article: StoryArticle | None = Field(None, description="the triggering article (absent in older events)")
    at: AwareDatetime


class DeadLetter(Message):
    """A message that could not be processed, with why. Topic key: the original key."""

    stage: str = Field(description="fetcher, extractor, store, ...")
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    key: str | None = None
    error_type: str
    error: str
    attempts: int
    payload_b64: str = Field(description="the original bytes, base64")
    failed_at: datetime


def article_id(canonical: str) -> str:
    """Stable article id for a canonical URL: replays and re-fetches map to the same id."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
