"""Story clusters, latest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from services.api.deps import RepoDep
from services.api.paging import BATCH, latest_page
from services.api.schemas import OutletJoined, Page, Pickup, Report, StoryPublic, StorySummary
from services.store.repository import StoredStory

router = APIRouter(tags=["clusters"])


def story_summary(story: StoredStory) -> StorySummary:
    """The listing view of a cluster."""
    return StorySummary(
        id=story.id, title=story.title, first_seen=story.first_seen, last_updated=story.last_updated,
        size=story.size, copies=story.copies, outlets=story.outlets, entities=list(story.entities)[:15],
    )


def story_matches(story: StoredStory, entity: str | None, q: str | None, min_outlets: int,
                    outlet: str | None = None, language: str | None = None) -> bool:
    """Whether a cluster passes the listing filters (entity key or name, title words, outlet count, an outlet
    among its members, a member in a language)."""
    if len(story.outlets) < min_outlets:
        return False
    if outlet and outlet.casefold() not in {o.casefold() for o in story.outlets}:
        return False
    if language:
        wanted_language = language.casefold()
        if not any((m.language or "").casefold().split("-")[0] == wanted_language.split("-")[0]
                   for m in story.members):
            return False
    if entity:
        wanted = entity.casefold()
        if not any(k == wanted or k.split(":", 1)[-1] == wanted for k in story.entities):
            return False
    if q:
        needle = q.casefold()
        if needle not in story.title.casefold() and not any(needle in m.title.casefold()
                                                                for m in story.members):
            return False
    return True


@router.get("/clusters")
async def list_clusters(
    repo: RepoDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    since: Annotated[datetime | None, Query(description="only clusters updated at or after this time")] = None,
    entity: Annotated[str | None, Query(max_length=200, description="entity key or name")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in a member's title")] = None,
    min_outlets: Annotated[int, Query(ge=1, le=1000)] = 1,
    outlet: Annotated[str | None, Query(max_length=200, description="an outlet among the members")] = None,
    language: Annotated[str | None, Query(max_length=20, description="a member in this language ('en')")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[StorySummary]:
    """Latest updated story clusters first, filtered by entity, title words, outlet count, outlet and language."""
    after = since.timestamp() if since else None

    async def fetch_ids(before: float | None) -> list[str]:
        return [cid for cid, _ in await repo.recent_stories(limit=BATCH, since=after, before=before)]

    found, next_cursor = await latest_page(
        fetch_ids=fetch_ids,
        load=repo.stories,
        stamp=lambda c: c.last_updated.timestamp(),
        keep=lambda c: story_matches(c, entity, q, min_outlets, outlet, language),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[story_summary(c) for c in found], next_cursor=next_cursor)


@router.get("/clusters/{cluster_id}", responses={404: {"description": "unknown id"}})
async def get_cluster(cluster_id: str, repo: RepoDep) -> StoryPublic:
    """One cluster: members (each original followed by its copies), outlets, entities, timeline."""
    story = await repo.story(cluster_id)
    if story is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cluster {cluster_id!r}")
    reports = copy_graph(story)
    by_id = {m.id: m for m in story.members}
    ordered = [by_id[i] for r in reports for i in (r.id, *(c.id for c in r.copies))]
    ordered.extend(m for m in story.members if m not in ordered)
    return StoryPublic(**story_summary(story).model_dump(), members=ordered,
                         originals=[r.id for r in reports], reports=reports,
                         earliest_publisher=reports[0].outlet if reports else None, timeline=timeline(story))


def timeline(story: StoredStory) -> list[OutletJoined]:
    """When each outlet joined the story: its first member by publication time (undated ones last)."""
    far_future = datetime.max.replace(tzinfo=UTC)
    first: dict[str, OutletJoined] = {}
    for m in sorted(story.members, key=lambda m: m.published_at or far_future):
        first.setdefault(m.outlet, OutletJoined(outlet=m.outlet, article_id=m.id, at=m.published_at,
                                                kind="copy" if m.copy_of else "report"))
    return list(first.values())


def copy_graph(story: StoredStory) -> list[Report]:
    """Independent reports, earliest first, each with its copies in pickup order."""
    far_future = datetime.max.replace(tzinfo=UTC)
    originals = sorted((m for m in story.members if not m.copy_of), key=lambda m: m.published_at or far_future)
    reports = []
    for original in originals:
        copies = sorted((m for m in story.members if m.copy_of == original.id),
                        key=lambda m: m.published_at or far_future)
        reports.append(Report(
            id=original.id, outlet=original.outlet, title=original.title, url=original.url,
            published_at=original.published_at,
            copies=[Pickup(id=c.id, outlet=c.outlet, url=c.url, published_at=c.published_at,
                           delay_s=(c.published_at - original.published_at).total_seconds()
                           if c.published_at and original.published_at else None,
                           similarity=c.copy_similarity) for c in copies],
        ))
    return reports
