"""Stories (the /v1/clusters resource), latest updated first."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse

from services.api.deps import AliasesDep, RepoDep
from services.api.names import entity_filter
from services.api.paging import BATCH, latest_page
from services.api.schemas import (
    AMBIGUOUS,
    Page,
    StoryPublic,
    StorySummary,
    ambiguous_answer,
    story_public,
    story_summary,
)
from services.extractor.lookup import AmbiguousName
from services.store.repository import StoredStory

router = APIRouter(tags=["clusters"])


@router.get("/clusters", response_model=Page[StorySummary], responses=AMBIGUOUS)
async def list_clusters(
    repo: RepoDep,
    table: AliasesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    since: Annotated[datetime | None, Query(description="only clusters updated at or after this time")] = None,
    entity: Annotated[str | None, Query(max_length=200, description="an entity key, full name, surname or any "
                                                                     "alias ('Soleimani')")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in a member's title")] = None,
    min_outlets: Annotated[int, Query(ge=1, le=1000, description="independent outlets (copies do not count)")] = 1,
    outlet: Annotated[str | None, Query(max_length=200, description="an outlet among the members")] = None,
    language: Annotated[str | None, Query(max_length=20, description="a member in this language ('en')")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[StorySummary] | JSONResponse:
    """Latest updated story clusters first, filtered by entity, title words, outlet count, outlet and language."""
    after = since.timestamp() if since else None
    try:
        by_entity = await entity_filter(table, entity)
    except AmbiguousName as exc:
        asked = {"limit": limit, "since": since.isoformat() if since else None, "q": q, "min_outlets": min_outlets,
                 "outlet": outlet, "language": language}
        kept = {k: v for k, v in asked.items() if v is not None}
        return ambiguous_answer(exc, lambda key: f"/v1/clusters?{urlencode({**kept, 'entity': key})}")
    wanted = dataclasses.replace(by_entity, q=q, min_outlets=min_outlets, outlet=outlet, language=language)

    batches = 0

    async def fetch_ids(before: float | None) -> list[tuple[str, float]]:
        # The first batch is the page itself: a page every story passes (the river's first) reads no more stories
        # than it shows; a filter that drops some reads on in BATCHes.
        nonlocal batches
        batches += 1
        size = limit if batches == 1 else BATCH
        return await repo.recent_stories(limit=size, since=after, before=before)

    async def load(ids: list[str]) -> list[StoredStory]:
        # A batch is read to fill a page: the summaries tell whether a story passes (unless the filter is on a
        # member's title or language), and only the members of the stories kept are read, below.
        return await repo.stories(ids, members=wanted.reads_members)

    found, next_cursor = await latest_page(
        fetch_ids=fetch_ids,
        load=load,
        stamp=lambda s: s.last_updated.timestamp(),
        keep=wanted.passes,
        limit=limit,
        cursor=cursor,
    )
    if not wanted.reads_members:
        found = await repo.stories([s.id for s in found])
    return Page(items=[story_summary(s) for s in found], next_cursor=next_cursor)


@router.get("/clusters/{cluster_id}", responses={404: {"description": "unknown id"}})
async def get_cluster(cluster_id: str, repo: RepoDep) -> StoryPublic:
    """One cluster: members (each original followed by its copies), outlets, entities, timeline."""
    story = await repo.story(cluster_id)
    if story is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cluster {cluster_id!r}")
    return story_public(story)
