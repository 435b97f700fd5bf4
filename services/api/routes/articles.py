"""Stored articles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from services.api.deps import RepoDep
from services.api.paging import BATCH, latest_page
from services.api.schemas import ArticlePublic, ArticleSummary, Page, article_public, article_summary

router = APIRouter(tags=["articles"])


@router.get("/articles")
async def list_articles(
    repo: RepoDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    since: Annotated[datetime | None, Query(description="only articles stored at or after this time")] = None,
    outlet: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ArticleSummary]:
    """Latest stored articles first."""
    after = since.timestamp() if since else None
    found, next_cursor = await latest_page(
        fetch_ids=lambda before: repo.recent_article_times(limit=BATCH, since=after, before=before),
        load=repo.articles,
        stamp=lambda a: a.stored_at.timestamp(),
        keep=lambda a: outlet is None or a.outlet == outlet,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[article_summary(a) for a in found], next_cursor=next_cursor)


@router.get("/articles/{article_id}", responses={404: {"description": "unknown id"}})
async def get_article(article_id: str, repo: RepoDep) -> ArticlePublic:
    """One article: text, metadata, entities, copy_of, cluster_id."""
    article = await repo.article(article_id)
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no article {article_id!r}")
    return article_public(article)
