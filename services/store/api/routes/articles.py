"""Stored articles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from services.store.api.deps import RepoDep
from services.store.api.schemas import ArticlePublic, ArticleSummary, Page

router = APIRouter(tags=["articles"])
SCAN_LIMIT = 5000


def _cursor(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid cursor") from exc


@router.get("/articles")
async def list_articles(
    repo: RepoDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    since: Annotated[datetime | None, Query(description="only articles stored at or after this time")] = None,
    outlet: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ArticleSummary]:
    """Latest stored articles first."""
    before = _cursor(cursor)
    items: list[ArticleSummary] = []
    scanned = 0
    while len(items) < limit and scanned < SCAN_LIMIT:
        ids = await repo.recent_articles(limit=200, since=since.timestamp() if since else None, before=before)
        if not ids:
            break
        scanned += len(ids)
        for article in await repo.articles(ids):
            before = article.stored_at.timestamp()
            if outlet is None or article.outlet == outlet:
                items.append(ArticleSummary.model_validate(article.model_dump()))
                if len(items) == limit:
                    break
    more = len(items) == limit
    return Page(items=items, next_cursor=repr(items[-1].stored_at.timestamp()) if more and items else None)


@router.get("/articles/{article_id}")
async def get_article(article_id: str, repo: RepoDep) -> ArticlePublic:
    """One article: text, metadata, entities, copy_of, cluster_id."""
    article = await repo.article(article_id)
    if article is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no article {article_id!r}")
    return ArticlePublic.model_validate(article.model_dump())
