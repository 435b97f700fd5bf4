"""The story page (`/stories/{id}`) and the entity page (`/entities/{key}`).

A story is read as `GET /v1/clusters/{id}` answers it (reports earliest first, each with its copies,
and the timeline), plus each member's article as `GET /v1/articles/{id}` gives it (its text left out): why it
joined (rule, score, shared entities), the stories it merged, and the names of the entities. An entity is
`GET /v1/entities/{key}`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.deps import AliasesDep, RepoDep
from services.api.pages import format as fmt
from services.api.pages.render import render
from services.api.pages.river import resolve_name
from services.api.pages.viewer import Viewer, ViewerDep
from services.api.routes import entities as entity_routes
from services.api.routes import stories as story_routes
from services.api.schemas import ArticlePublic, EntityPublic, article_public
from services.store.repository import Repository

router = APIRouter(include_in_schema=False)

#: Members whose article is read for the join reasons (a story larger than this lists the rest without).
MEMBER_READS = 300
ENTITY_CHIPS = 24


@dataclass(frozen=True)
class Shown:
    """How much of a big story the page lists before folding the rest under a count (a wire story re-posted by
    hundreds of outlets is one report and a fold, not hundreds of lines to scroll)."""

    reports: int = 50
    copies: int = 5  # of each report
    timeline: int = 30


SHOWN = Shown()


@dataclass(frozen=True)
class Merge:
    """A merge the story went through: which article linked which stories into it."""

    article_id: str
    outlet: str
    title: str
    merged: list[str]


async def _articles(repo: Repository, ids: list[str]) -> dict[str, ArticlePublic]:
    """The members' articles without their texts (the page shows none), in one round trip: reading each apart
    took a connection each, and a story of more than ~100 members ran the client out of them (a 503)."""
    return {a.id: article_public(a) for a in await repo.articles(ids, with_text=False)}


def _not_found(request: Request, viewer: Viewer, what: str) -> Response:
    return render(request, "not_found.html", viewer, status_code=404, what=what)


@router.get("/stories/{story_id}", response_class=HTMLResponse)
async def story_page(request: Request, viewer: ViewerDep, repo: RepoDep,
                     story_id: Annotated[str, Path(max_length=200)]) -> Response:
    """One story: reports and their copies, timeline, entities, why each article joined, merges."""
    try:
        story = await story_routes.get_cluster(story_id, repo)
    except HTTPException:
        return _not_found(request, viewer, f"No story {story_id!r}: it may have expired from the store.")
    if story.id != story_id:
        # Merged into another story: the old id keeps answering with the survivor; show it at its own address.
        return RedirectResponse(f"/stories/{quote(story.id)}?merged_from={quote(story_id)}",
                                status.HTTP_303_SEE_OTHER)
    articles = await _articles(repo, [m.id for m in story.members[:MEMBER_READS]])
    names: dict[str, str] = {}
    mentions: Counter[str] = Counter()
    for article in articles.values():
        for e in article.entities:
            names.setdefault(e.key, e.name)
        mentions.update({e.key for e in article.entities})
    ranked = sorted(mentions.items(), key=lambda kv: (-kv[1], fmt.KIND_RANK.get(fmt.entity_kind(kv[0]), 9),
                                                      names.get(kv[0], kv[0]).casefold()))
    entities = [(k, names.get(k, fmt.entity_name(k)), n) for k, n in ranked[:ENTITY_CHIPS]]
    merges = [Merge(a.id, a.outlet, a.title, a.joined.merged_clusters)
              for a in articles.values() if a.joined.merged_clusters]
    first = min((t.at for t in story.timeline if t.at), default=None)
    return render(request, "story.html", viewer, story=story, articles=articles, entities=entities, names=names,
                  merges=merges, first=first, merged_from=request.query_params.get("merged_from"),
                  now=datetime.now(UTC), shown=SHOWN)


@router.get("/entities/{key:path}", response_class=HTMLResponse)
async def entity_page(request: Request, viewer: ViewerDep, repo: RepoDep, table: AliasesDep,
                      key: Annotated[str, Path(max_length=300)]) -> Response:
    """An entity: its names and aliases, and its latest stories. A bare name goes to the entity it names."""
    if not fmt.is_entity_key(key):
        candidates = await resolve_name(table, key)
        if not candidates:
            return _not_found(request, viewer, f"No entity is known by the name {key!r}.")
        return RedirectResponse(f"/entities/{quote(candidates[0][0])}", status.HTTP_303_SEE_OTHER)
    try:
        entity = await entity_routes.get_entity(table, repo, key=key, limit=50)
    except HTTPException:
        entity = None
    if not isinstance(entity, EntityPublic):  # unknown (404) or, for a key, never ambiguous (300)
        return _not_found(request, viewer, f"No entity {key!r}: no name, alias or story is known for it.")
    return render(request, "entity.html", viewer, entity=entity, now=datetime.now(UTC),
                  display=entity.name or fmt.entity_name(entity.key))
