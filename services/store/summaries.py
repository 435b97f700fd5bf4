"""Read views of stored stories: which stories pass a listing filter, who reported and who copied, when each
outlet joined, and the latest stories naming an entity.

Pure functions over `StoredStory` (plus one Redis read of the store's entity postings): the store owns what
a story means, so the API's routes and the CLI both call these instead of computing views of their own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.store.cluster import match_key
from services.store.repository import Repository, StoredStory, StoryMember

#: Stories a listing filter looks at: the newest this many (a filter that matches little never scans more).
FILTER_SCAN = 5000
#: Stories read and parsed at a time while filtering.
FILTER_BATCH = 200
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class Pickup(BaseModel):
    """One re-post of an independent report."""

    id: str
    outlet: str
    url: str
    published_at: datetime | None
    delay_s: float | None = Field(description="seconds after the original was published")
    similarity: float | None


class Report(BaseModel):
    """An independent report (an original) and who re-posted it."""

    id: str
    outlet: str
    title: str
    url: str
    published_at: datetime | None
    copies: list[Pickup]


class OutletJoined(BaseModel):
    """An outlet's first article in a story."""

    outlet: str
    article_id: str
    at: datetime | None = Field(description="its publication time, when known")
    kind: Literal["report", "copy"] = Field(description="a report of its own, or a copy of another's")


@dataclass(frozen=True)
class StoryFilter:
    """What a listing asks of a story; every field left empty passes."""

    entity: str | None = None
    #: the keys an entity goes by, resolved by the caller (the extractor's alias table); when given, a story
    #: passes by naming one of them and `entity` (a key or bare name matched as written) is not used
    entity_keys: frozenset[str] | None = None
    q: str | None = None
    min_outlets: int = 1
    outlet: str | None = None
    language: str | None = None

    @property
    def reads_members(self) -> bool:
        """Whether passing needs a story's members (a member's title or language), not its summary alone."""
        return bool(self.q or self.language)

    def passes(self, story: StoredStory) -> bool:
        """Whether the story passes: an entity key or name among its entities, the words in a member's
        title, enough independent outlets (copies do not count), an outlet among its members, a member in the
        language."""
        if len(independent_outlets(story)) < self.min_outlets:
            return False
        if self.outlet and self.outlet.casefold() not in {o.casefold() for o in story.outlets}:
            return False
        if self.language:
            wanted_language = self.language.casefold().split("-")[0]
            if not any((m.language or "").casefold().split("-")[0] == wanted_language for m in story.members):
                return False
        if self.entity_keys is not None:
            if self.entity_keys.isdisjoint(story.entities):
                return False
        elif self.entity:
            wanted = self.entity.casefold()
            if not any(k == wanted or k.split(":", 1)[-1] == wanted for k in story.entities):
                return False
        if self.q:
            needle = self.q.casefold()
            if needle not in story.title.casefold() and not any(needle in m.title.casefold() for m in story.members):
                return False
        return True


def independent_outlets(story: StoredStory) -> list[str]:
    """Outlets with a report of their own in the story (not only copies of another's), sorted: the summary keeps
    them, so a story read without its members answers too."""
    return story.independent_outlets


def copy_only_outlets(story: StoredStory) -> list[str]:
    """Outlets whose every article in the story is a copy of another member, sorted."""
    return sorted(set(story.outlets) - set(story.independent_outlets))


async def latest_stories(repo: Repository, wanted: StoryFilter, *, limit: int) -> list[StoredStory]:
    """The latest updated stories that pass `wanted`, newest first, with their members, looking at no more than
    FILTER_SCAN."""
    ids = [sid for sid, _ in await repo.recent_stories(limit=FILTER_SCAN)]
    out: dict[str, StoredStory] = {}
    # Read a batch at a time: a filter that the newest stories pass reads no more than they. The summaries alone
    # when they tell: the members of a story the filter drops are not read.
    members = wanted.reads_members
    for start in range(0, len(ids), FILTER_BATCH):
        for story in await repo.stories(ids[start:start + FILTER_BATCH], members=members):
            if story.id not in out and wanted.passes(story):  # two merged-away ids may lead to one survivor
                out[story.id] = story
                if len(out) == limit:
                    break
        if len(out) == limit:
            break
    return list(out.values()) if members else await repo.stories(list(out))


def copy_graph(story: StoredStory) -> list[Report]:
    """Independent reports, earliest first, each with its copies in pickup order."""
    originals = sorted((m for m in story.members if not m.copy_of), key=lambda m: m.published_at or _FAR_FUTURE)
    # Grouped in one pass: looking for each original's copies among all members made a story of 5,000 members
    # take seconds to list (benchmarks.summary).
    copies_of: dict[str, list[StoryMember]] = {}
    for m in story.members:
        if m.copy_of:
            copies_of.setdefault(m.copy_of, []).append(m)
    reports = []
    for original in originals:
        copies = sorted(copies_of.get(original.id, ()), key=lambda m: m.published_at or _FAR_FUTURE)
        reports.append(Report(
            id=original.id, outlet=original.outlet, title=original.title, url=original.url,
            published_at=original.published_at,
            copies=[Pickup(id=c.id, outlet=c.outlet, url=c.url, published_at=c.published_at,
                           delay_s=(c.published_at - original.published_at).total_seconds()
                           if c.published_at and original.published_at else None,
                           similarity=c.copy_similarity) for c in copies],
        ))
    return reports


def lead_report(story: StoredStory) -> Report | None:
    """The story's most representative report: the independent one re-posted most, the earliest among equals
    (a wire story many outlets carry says what the story is better than the first account to arrive)."""
    reports = copy_graph(story)
    return max(reports, key=lambda r: len(r.copies)) if reports else None  # max keeps the first of equals


def timeline(story: StoredStory) -> list[OutletJoined]:
    """When each outlet joined the story: its first member by publication time (undated ones last)."""
    first: dict[str, OutletJoined] = {}
    for m in sorted(story.members, key=lambda m: m.published_at or _FAR_FUTURE):
        first.setdefault(m.outlet, OutletJoined(outlet=m.outlet, article_id=m.id, at=m.published_at,
                                                kind="copy" if m.copy_of else "report"))
    return list(first.values())


async def stories_naming(repo: Repository, entity_keys: Collection[str], *, limit: int, scan: int,
                         batch: int) -> list[StoredStory]:
    """The latest updated stories that name one of `entity_keys` (an entity and its aliases), newest first.

    Read through the store's entity postings, which are keyed by an entity's match form (people by surname),
    so a story found there is kept only when it names one of the keys itself. The postings are the store's
    candidate index: stories that have left its window are not found. At most `scan` postings per key are read.
    """
    newest: dict[str, float] = {}
    for posting in dict.fromkeys(match_key(k) for k in sorted(entity_keys)):
        for story_id, at in await repo.entity_postings(posting, scan):
            newest[story_id] = max(newest.get(story_id, at), at)
    ids = sorted(newest, key=lambda s: newest[s], reverse=True)
    found: dict[str, StoredStory] = {}
    wanted = set(entity_keys)
    for start in range(0, len(ids), batch):
        for story in await repo.stories(ids[start:start + batch], members=False):  # the summary tells
            if wanted.intersection(story.entities):
                found.setdefault(story.id, story)
        if len(found) >= limit:
            break
    kept = sorted(found.values(), key=lambda s: s.last_updated, reverse=True)[:limit]
    return await repo.stories([s.id for s in kept])
