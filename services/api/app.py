"""The HTTP API: feeds, articles, clusters, health. `create_app(settings)` builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.auth import key_dependencies
from services.api.deps import ApiState
from services.api.routes import (
    articles,
    entities,
    feeds,
    health,
    stories,
    subscription_feeds,
    subscriptions,
    websub,
)
from services.api.routes import stream as stream_routes
from services.common.redis import open_redis
from services.common.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application, with Redis opened and closed by its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_redis(settings) as redis:
            app.state.api = ApiState.open(settings, redis)
            yield

    app = FastAPI(title="wirewatch", version="0.1.0", lifespan=lifespan,
                  description="Streaming news ingestion: feeds, articles and story clusters.")
    # API keys on everything but health and the WebSub callbacks (hubs sign their pushes; services.api.auth).
    keyed = key_dependencies(settings)
    app.include_router(health.router)
    app.include_router(feeds.router, prefix="/v1", **keyed)
    app.include_router(articles.router, prefix="/v1", **keyed)
    app.include_router(stories.router, prefix="/v1", **keyed)
    app.include_router(websub.router, prefix="/v1")
    app.include_router(subscriptions.router, prefix="/v1", **keyed)
    app.include_router(subscription_feeds.router, prefix="/v1", **keyed)
    app.include_router(entities.router, prefix="/v1", **keyed)
    app.include_router(stream_routes.router, prefix="/v1", **keyed)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # Counters of the services running in this process (all of them under `wirewatch up`).
    app.mount("/metrics", make_asgi_app())
    return app


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Errors as documented: a 422 raised with a message has the shape of FastAPI's own validation errors
    (`detail`: a list of {loc, msg, type}), so every 422 of the API matches one schema."""
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse({"detail": [{"loc": ["request"], "msg": exc.detail, "type": "value_error"}]},
                            status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)
