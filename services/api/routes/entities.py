"""Entities: `GET /v1/entities/{key}` resolves a key through the extractor's alias table and lists the latest
stories naming the entity or one of its aliases, read through the store's entity postings
(`services.store.summaries.stories_naming`: stories that have left the store's window are not listed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from services.api.deps import AliasesDep, RepoDep
from services.api.schemas import EntityPublic, EntityStory
from services.store.summaries import stories_naming

router = APIRouter(tags=["entities"])

#: Postings read per entity key: the newest this many stories are looked at (a filter never scans more).
ENTITY_SCAN = 1000
ENTITY_BATCH = 100


def _normalise_key(key: str) -> str:
    kind, sep, name = key.strip().partition(":")
    if not sep or not kind.strip() or not name.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "an entity key is '<type>:<name>', e.g. 'person:qassem soleimani'")
    return f"{kind.strip().casefold()}:{' '.join(name.casefold().split())}"


@router.get("/entities/{key}", responses={404: {"description": "no such entity"}})
async def get_entity(
    table: AliasesDep,
    repo: RepoDep,
    key: Annotated[str, Path(max_length=300, description="entity key, e.g. 'person:qassem soleimani'")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EntityPublic:
    """An entity with its aliases and latest story clusters (an alias key answers as its entity)."""
    wanted = _normalise_key(key)
    canonical = await table.canonical(wanted)
    aliases = await table.aliases_of(canonical)
    name = await table.display_name(canonical)
    stories = await stories_naming(repo, {canonical, *aliases}, limit=limit, scan=ENTITY_SCAN, batch=ENTITY_BATCH)
    if not stories and name is None and not aliases:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entity {wanted!r}: no name, alias or story known")
    return EntityPublic(
        key=canonical, requested=key, name=name, aliases=aliases,
        clusters=[EntityStory(id=c.id, title=c.title, size=c.size, outlets=c.outlets,
                                last_updated=c.last_updated) for c in stories])
