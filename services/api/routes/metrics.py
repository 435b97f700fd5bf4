"""`GET /metrics`: the Prometheus metrics of the services running in this process (all of them under
`wirewatch up`), and the articles, stories and entities held in Redis, read at each scrape."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.api.deps import AliasesDep, RepoDep
from services.common.metrics import ARTICLES, ENTITIES, STORIES
from services.common.redis import OUTAGE_ERRORS

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(repo: RepoDep, aliases: AliasesDep) -> Response:
    """Prometheus text exposition format (served at /metrics itself: no redirect to /metrics/)."""
    try:
        counts = await repo.stats()
        entities = await aliases.size()
    except OUTAGE_ERRORS:
        pass  # Redis away: the counters still answer; the gauges keep their last values
    else:
        ARTICLES.set(counts["articles"])
        STORIES.set(counts["clusters"])
        ENTITIES.set(entities)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
