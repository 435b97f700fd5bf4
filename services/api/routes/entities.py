"""Entities: `GET /v1/entities/{name or key}` finds an entity by its key, full name, surname or any alias
through the extractor's alias table and lists its aliases (with the articles that used each) and the latest
stories naming it or one of its aliases, read through the store's entity postings
(`services.store.summaries.stories_naming`: stories that have left the store's window are not listed);
`GET /v1/entities?q=` finds entities by the prefix of a name, for a search box.

A name that stands for several entities ("Jordan": the country and a player) answers 300 Multiple Choices
with the candidates, each with the URL that asks for it by key: the client picks one, as HTTP defines 300.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse

from services.api.deps import AliasesDep, RepoDep
from services.api.schemas import (
    AMBIGUOUS,
    AliasCount,
    EntityMatch,
    EntityPublic,
    EntitySearch,
    EntityStory,
    ambiguous_answer,
)
from services.extractor.lookup import AmbiguousName
from services.store.summaries import stories_naming

router = APIRouter(tags=["entities"])

#: Postings read per entity key: the newest this many stories are looked at (a filter never scans more).
ENTITY_SCAN = 1000
ENTITY_BATCH = 100

@router.get("/entities", responses={422: {"description": "no prefix"}})
async def search_entities(
    table: AliasesDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="the start of a name or of a word of it")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> EntitySearch:
    """Entities whose name, or a word of it onwards, starts with `q` (any case), most articles first."""
    if not q.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "q is empty: give the start of a name")
    found = await table.search(q, limit=limit)
    return EntitySearch(query=q, items=[EntityMatch(key=c.key, name=c.name, articles=c.articles) for c in found])


@router.get("/entities/{key}", response_model=EntityPublic,
            responses={404: {"description": "no such entity"}, **AMBIGUOUS})
async def get_entity(
    table: AliasesDep,
    repo: RepoDep,
    key: Annotated[str, Path(max_length=300, description="an entity key ('person:qassem soleimani'), a full "
                                                          "name, a surname or any alias ('Soleimani')")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EntityPublic | JSONResponse:
    """An entity found by key or any name, with what the alias table learned for it and its latest story
    clusters (an alias answers as its entity)."""
    if not key.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "give an entity key ('person:qassem soleimani') or a name ('Soleimani')")
    found = await table.lookup(key)
    if found.ambiguous:
        return ambiguous_answer(AmbiguousName(found), lambda k: f"/v1/entities/{quote(k, safe='')}")
    if found.key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entity {key.strip()!r}: no key, name or alias known")
    canonical = found.key
    counts = await table.aliases_with_counts(canonical)
    aliases = sorted(c.alias for c in counts)
    stories = await stories_naming(repo, await table.keys_of(canonical), limit=limit, scan=ENTITY_SCAN,
                                   batch=ENTITY_BATCH)
    return EntityPublic(
        key=canonical, requested=key, name=await table.display_name(canonical), aliases=aliases,
        articles=await table.articles(canonical),
        alias_counts=[AliasCount(alias=c.alias, articles=c.articles) for c in counts],
        clusters=[EntityStory(id=c.id, title=c.title, size=c.size, outlets=c.outlets,
                              last_updated=c.last_updated) for c in stories])
