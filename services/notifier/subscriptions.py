"""Subscriptions: what a user follows, where alerts go, and the index that finds them for a story.

A subscription is a target URL, a Standard Webhooks secret and a `Query`. The notifier asks
`SubscriptionStore.candidates(facts)` which subscriptions a story event concerns; `matches` is the
pure predicate that decides.

Criteria combine with AND; within one criterion the values combine with OR (entities can ask for
all). A story whose language is unknown does not pass a language filter.

The index. Every subscription is filed under the values of ONE criterion that any matching story
must hit at least once: its entities (keys, or names for bare names) when it has some, else the
first word of each keyword, else its outlets, else the "broad" set. A story's candidates are the
union of the sets for its entity keys and names, the words of its title (and article text), its
outlets, and the broad set: one SUNION, so 100,000 subscriptions on other things cost nothing.
The candidates are then loaded (HMGET) and checked with `matches`, so the index may over-select
but never miss.

Owner of the `{subs}` keys and of each subscription's feed (the stories it was alerted about): this
module. The API and the CLI register, remove and replay through the functions at the end of it
(`subscribe`, `unsubscribe`, `replay`), which keep a subscription and its webhooks in step.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.common.errors import InvalidUrl
from services.common.keys import Keys
from services.common.logging import get_logger
from services.common.messages import StoryEvent
from services.common.redis import Redis
from services.common.urls import normalize_url
from services.notifier.payloads import WebhookBody, ping_body
from services.notifier.webhooks.queue import DeliveryQueue, WebhookDelivery
from services.notifier.webhooks.signing import check_secret, generate_secret

log = get_logger(__name__)

EventKind = Literal["created", "updated", "merged"]
#: What a subscription delivers unless it says otherwise.
DEFAULT_EVENTS: tuple[EventKind, ...] = ("created", "updated")

#: Bounds on a query: it is user input, and every value becomes an index entry.
MAX_VALUES = 100
MAX_VALUE_CHARS = 200
MAX_DESCRIPTION_CHARS = 500

#: Stories kept per subscription for its feed.
SUBSCRIPTION_FEED_MAX = 500

# An entity key is "<type>:<name>" with a lower-case type of letters and underscores ("person:",
# "work_of_art:"); anything else is a bare name.
_ENTITY_KEY = re.compile(r"^[a-z_]+:\S")
_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")


def words(text: str) -> list[str]:
    """The lower-case words of `text` (Unicode word characters), the unit of keyword matching."""
    return _WORD.findall(text.lower())


def is_entity_key(value: str) -> bool:
    """Whether a (normalised) query entity is a key "type:name" rather than a bare name."""
    return bool(_ENTITY_KEY.match(value))


def entity_name(key: str) -> str:
    """The name part of an entity key ("person:qassem soleimani" -> "qassem soleimani")."""
    return key.split(":", 1)[1] if ":" in key else key


def _normal(value: str) -> str:
    return _SPACES.sub(" ", value).strip().lower()


def _normal_list(values: list[str]) -> list[str]:
    """Values trimmed, spaces collapsed, lower-cased, empties dropped, first spelling kept once."""
    out: list[str] = []
    for value in values:
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"a value is longer than {MAX_VALUE_CHARS} characters")
        value = _normal(value)
        if value and value not in out:
            out.append(value)
    return out


class Query(BaseModel):
    """What a subscription follows. Every criterion given must hold; an empty one is no constraint."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    entities: list[str] = Field(
        default_factory=list, max_length=MAX_VALUES,
        description="entity keys ('person:qassem soleimani') or bare names ('Qassem Soleimani', matching any "
                    "entity type with that name); compared lower-cased")
    entities_mode: Literal["any", "all"] = Field("any", description="the story names any / all of the entities")
    keywords: list[str] = Field(
        default_factory=list, max_length=MAX_VALUES,
        description="words or phrases, any of which must appear in the story title or the article text "
                    "(case-insensitive, whole words, punctuation ignored)")
    outlets: list[str] = Field(default_factory=list, max_length=MAX_VALUES,
                               description="outlet names (case-insensitive), any of which is in the story")
    languages: list[str] = Field(default_factory=list, max_length=MAX_VALUES,
                                 description="language codes ('en', 'de'); 'en' also covers 'en-GB'")
    min_outlets: int = Field(1, ge=1, le=10_000, description="independent outlets the story has at least")
    events: list[EventKind] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1,
                                    description="story events to deliver")
    digest_minutes: int = Field(0, ge=0, le=1440, description="gather a story's updates into one webhook per this "
                                                              "many minutes (0: each update at once)")

    @field_validator("entities", "outlets", "languages")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return _normal_list(values)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, values: list[str]) -> list[str]:
        out = _normal_list(values)
        for keyword in out:
            if not words(keyword):
                raise ValueError(f"keyword {keyword!r} has no word characters")
        return out

    @field_validator("events")
    @classmethod
    def _events(cls, values: list[EventKind]) -> list[EventKind]:
        return list(dict.fromkeys(values))


def new_subscription_id() -> str:
    """A new random subscription id."""
    return "sub_" + secrets.token_hex(8)


class Subscription(BaseModel):
    """A registered subscription: where alerts go, how they are signed, and what they are about."""

    model_config = ConfigDict(frozen=True)
    id: str
    target_url: str = Field(description="http(s) URL the webhooks are POSTed to")
    secret: str = Field(description="Standard Webhooks secret, 'whsec_' + base64 of 24 to 64 bytes")
    query: Query
    created_at: datetime
    paused: bool = False
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)

    @field_validator("target_url")
    @classmethod
    def _target_url(cls, value: str) -> str:
        # Syntax and scheme only: the address is checked at delivery time by the SSRF-safe client,
        # on every connection, since DNS may change after registration.
        try:
            return normalize_url(value)
        except InvalidUrl as exc:
            raise ValueError(str(exc)) from None

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret(value)


@dataclass(frozen=True)
class StoryFacts:
    """What matching needs to know of a story event (and, when known, of its triggering article)."""

    kind: EventKind
    cluster_id: str
    title: str
    entities: frozenset[str] = frozenset()
    outlets: frozenset[str] = frozenset()
    size: int = 1
    independent_outlets: int = 1
    languages: frozenset[str] = frozenset()
    text: str = ""
    _words: frozenset[str] = field(init=False, repr=False, compare=False)
    _phrase_text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalised once: keywords are matched as space-delimited word sequences, so "Putin's visit"
        # and "PUTIN'S VISIT" meet, and "put" never matches inside "putin".
        all_words = words(self.title) + words(self.text)
        object.__setattr__(self, "_words", frozenset(all_words))
        object.__setattr__(self, "_phrase_text", " " + " ".join(words(self.title)) + " | "
                           + " ".join(words(self.text)) + " ")

    @classmethod
    def from_event(cls, event: StoryEvent, *, article_title: str | None = None, article_text: str | None = None,
                   language: str | None = None, outlet: str | None = None) -> StoryFacts:
        """The facts of a story event, with the triggering article's title, text, language and outlet if known."""
        outlets = {_normal(o) for o in event.outlets if o.strip()}
        if outlet and outlet.strip():
            outlets.add(_normal(outlet))
        # Events written before the count existed say 0: fall back to the distinct outlets.
        independent = event.independent_outlets or len(outlets) or 1
        text = " ".join(t for t in (article_title, article_text) if t)
        return cls(
            kind=event.kind, cluster_id=event.cluster_id, title=event.title,
            entities=frozenset(_normal(e) for e in event.entities if e.strip()), outlets=frozenset(outlets),
            size=event.size, independent_outlets=independent,
            languages=frozenset({_normal(language)} if language and language.strip() else set()), text=text,
        )

    @property
    def entity_names(self) -> frozenset[str]:
        """The name parts of the story's entity keys."""
        return frozenset(entity_name(k) for k in self.entities)

    @property
    def tokens(self) -> frozenset[str]:
        """Every lower-case word of the title and the article text."""
        return self._words

    def has_phrase(self, keyword: str) -> bool:
        """Whether the keyword's words appear consecutively in the title or the article text."""
        phrase = " ".join(words(keyword))
        return bool(phrase) and f" {phrase} " in self._phrase_text


def _entity_hit(wanted: str, facts: StoryFacts) -> bool:
    return wanted in facts.entities if is_entity_key(wanted) else wanted in facts.entity_names


def _language_hit(wanted: str, languages: Iterable[str]) -> bool:
    # "en" covers "en-gb" and "en_us"; "en-gb" needs that exact tag.
    return any(lang == wanted or lang.replace("_", "-").startswith(wanted + "-") for lang in languages)


def matches(query: Query, story: StoryFacts) -> bool:
    """Whether a story event is one the query asks for (pure: no I/O)."""
    if story.kind not in query.events:
        return False
    if story.independent_outlets < query.min_outlets:
        return False
    if query.entities:
        hits = [_entity_hit(e, story) for e in query.entities]
        if not (all(hits) if query.entities_mode == "all" else any(hits)):
            return False
    if query.keywords and not any(story.has_phrase(k) for k in query.keywords):
        return False
    if query.outlets and not story.outlets.intersection(query.outlets):
        return False
    return not query.languages or any(_language_hit(lang, story.languages) for lang in query.languages)


def index_entries(keys: Keys, query: Query) -> list[str]:
    """The index sets a subscription with this query belongs to (see the module docstring)."""
    if query.entities:
        return [keys.subscription_index("ent" if is_entity_key(e) else "name", e) for e in query.entities]
    if query.keywords:
        return sorted({keys.subscription_index("kw", words(k)[0]) for k in query.keywords})
    if query.outlets:
        return [keys.subscription_index("outlet", o) for o in query.outlets]
    return [keys.subscriptions_broad]


def candidate_sets(keys: Keys, facts: StoryFacts) -> list[str]:
    """The index sets whose union holds every subscription that may match the story."""
    sets = [keys.subscriptions_broad]
    sets += [keys.subscription_index("ent", e) for e in sorted(facts.entities)]
    sets += [keys.subscription_index("name", n) for n in sorted(facts.entity_names)]
    sets += [keys.subscription_index("kw", w) for w in sorted(facts.tokens)]
    sets += [keys.subscription_index("outlet", o) for o in sorted(facts.outlets)]
    return sets


# KEYS[1] subscriptions HASH. ARGV[1] id, ARGV[2] new JSON. Replaces a subscription only if it still
# exists, so a pause racing a delete cannot bring the record back without its index entries.
_REPLACE_IF_EXISTS = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class SubscriptionStore:
    """Subscriptions and their matching index in Redis (sole writer of the `{subs}` keys)."""

    def __init__(self, redis: Redis, keys: Keys, *, canonical: Callable[[str], Awaitable[str]] | None = None) -> None:
        """`canonical` resolves a query's entity (a key or any name) to the key it stands for, returning it
        unchanged when it knows none, and may raise ValueError naming the candidates of an ambiguous name (the
        extractor's alias table, `AliasTable.entity_key`, wired in by the composition root); without it
        entities are stored as given."""
        self.redis = redis
        self.keys = keys
        self._replace = redis.register_script(_REPLACE_IF_EXISTS)
        self._canonical = canonical

    async def create(self, target_url: str, query: Query, *, secret: str | None = None,
                     description: str | None = None) -> Subscription:
        """Register a subscription (a secret is generated when none is given).

        Entities the alias table knows, by key or any name, are stored as the keys they stand for
        ("person:putin", "Putin" -> "person:vladimir putin"): story events carry resolved keys.
        Raises pydantic.ValidationError when the target URL or the secret is unusable, and what `canonical`
        raises for an ambiguous name.
        """
        query = await self.canonical_query(query)
        sub = Subscription(id=new_subscription_id(), target_url=target_url, secret=secret or generate_secret(),
                           query=query, created_at=datetime.now(UTC), description=description)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.subscriptions, sub.id, sub.model_dump_json())
            for index in index_entries(self.keys, query):
                pipe.sadd(index, sub.id)
            await pipe.execute()
        return sub

    async def canonical_query(self, query: Query) -> Query:
        """The query with its entities (keys or names) resolved through `canonical`; what it knows nothing
        by is kept (a bare name then matches any entity type with that name)."""
        if self._canonical is None:
            return query
        resolved = [await self._canonical(e) for e in query.entities]
        if resolved == query.entities:
            return query
        return query.model_copy(update={"entities": list(dict.fromkeys(resolved))})

    async def get(self, sub_id: str) -> Subscription | None:
        """One subscription, or None."""
        return self._parse(sub_id, await self.redis.hget(self.keys.subscriptions, sub_id))

    async def get_many(self, sub_ids: Sequence[str]) -> list[Subscription]:
        """The subscriptions of these ids that exist, in the order given (one HMGET)."""
        if not sub_ids:
            return []
        raw = await self.redis.hmget(self.keys.subscriptions, list(sub_ids))
        found = (self._parse(sid, value) for sid, value in zip(sub_ids, raw, strict=True))
        return [s for s in found if s is not None]

    async def all(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        raw = await self.redis.hgetall(self.keys.subscriptions)
        found = (self._parse(str(sid), value) for sid, value in raw.items())
        return sorted((s for s in found if s is not None), key=lambda s: (s.created_at, s.id))

    async def delete(self, sub_id: str) -> bool:
        """Remove a subscription and its index entries; False when there was none."""
        sub = await self.get(sub_id)
        if sub is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.subscriptions, sub_id)
            for index in index_entries(self.keys, sub.query):
                pipe.srem(index, sub_id)
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def pause(self, sub_id: str) -> Subscription | None:
        """Stop matching a subscription (idempotent); None when there is none."""
        return await self._set_paused(sub_id, paused=True)

    async def resume(self, sub_id: str) -> Subscription | None:
        """Match a paused subscription again (idempotent); None when there is none."""
        return await self._set_paused(sub_id, paused=False)

    async def _set_paused(self, sub_id: str, *, paused: bool) -> Subscription | None:
        sub = await self.get(sub_id)
        if sub is None:
            return None
        if sub.paused != paused:
            sub = sub.model_copy(update={"paused": paused})
            if not await self._replace(keys=[self.keys.subscriptions], args=[sub_id, sub.model_dump_json()]):
                return None
        return sub

    async def record_alert(self, sub_id: str, story_id: str, at: float) -> None:
        """Put a story at the top of the subscription's feed (`at`: unix time of the alert's event); the feed
        keeps the latest `SUBSCRIPTION_FEED_MAX` stories."""
        stories = self.keys.subscription_stories(sub_id)
        await self.redis.zadd(stories, {story_id: at})
        await self.redis.zremrangebyrank(stories, 0, -SUBSCRIPTION_FEED_MAX - 1)

    async def alerted(self, sub_id: str, limit: int) -> list[tuple[str, float]]:
        """The subscription's feed: up to `limit` story ids it was alerted about with the unix time of the
        latest alert, newest first."""
        rows = cast("list[tuple[str, float]]", await self.redis.zrevrange(
            self.keys.subscription_stories(sub_id), 0, limit - 1, withscores=True))
        return [(str(story_id), float(at)) for story_id, at in rows]

    async def candidates(self, facts: StoryFacts) -> list[Subscription]:
        """The active subscriptions a story event matches, found through the index (SUNION, HMGET)."""
        ids = sorted(str(i) for i in await self.redis.sunion(candidate_sets(self.keys, facts)))
        return [s for s in await self.get_many(ids) if not s.paused and matches(s.query, facts)]

    def _parse(self, sub_id: str, raw: str | bytes | None) -> Subscription | None:
        if raw is None:
            return None
        try:
            return Subscription.model_validate_json(raw)
        except ValidationError as exc:
            # One unreadable record must not stop every alert: skip it, loudly.
            log.warning("subscription.unreadable", subscription=sub_id, error=str(exc))
            return None


# --- a subscription and its webhooks, kept in step (what the API and the CLI call) --------------------


def delivery_to(sub: Subscription, body: WebhookBody, *, due: float | None = None) -> WebhookDelivery:
    """The delivery of `body` to `sub`'s endpoint, signed with its secret, due at `due` (unix time; default: now)."""
    now = time.time()
    return WebhookDelivery(id=body.id, subscription_id=sub.id, target_url=sub.target_url, secret=sub.secret,
                           body=body.wire(), next_attempt_at=now if due is None else due, created_at=now)


async def send_ping(queue: DeliveryQueue, sub: Subscription) -> bool:
    """Queue the signed test ping of a subscription (sent by the notifier's delivery engine)."""
    return await queue.enqueue(delivery_to(sub, ping_body(sub.id, datetime.now(UTC))))


async def subscribe(store: SubscriptionStore, queue: DeliveryQueue, target_url: str, query: Query, *,
                    secret: str | None = None, description: str | None = None) -> Subscription:
    """Register a subscription and queue its test ping. Raises pydantic.ValidationError when the target URL
    or the secret is unusable."""
    sub = await store.create(target_url, query, secret=secret, description=description)
    await send_ping(queue, sub)
    return sub


async def unsubscribe(store: SubscriptionStore, queue: DeliveryQueue, sub_id: str) -> bool:
    """Remove a subscription and its undelivered webhooks; False when there was none."""
    if not await store.delete(sub_id):
        return False
    await queue.forget(sub_id)
    return True


async def replay(store: SubscriptionStore, queue: DeliveryQueue, sub_id: str) -> int | None:
    """Unpause a subscription's endpoint and make its undelivered webhooks due now; how many, or None when
    there is no such subscription."""
    if await store.get(sub_id) is None:
        return None
    return await queue.replay(sub_id)
