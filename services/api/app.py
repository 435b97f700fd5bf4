"""The HTTP API: feeds, articles, clusters, health. `create_app(settings)` builds it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api import limits, request_errors
from services.api.auth import install_path_keys, key_dependencies
from services.api.deps import ApiState
from services.api.docs import mount_docs
from services.api.pages import mount_desk
from services.api.routes import (
    articles,
    config,
    entities,
    feeds,
    health,
    metrics,
    stories,
    subscription_feeds,
    subscriptions,
    websub,
)
from services.api.routes import stream as stream_routes
from services.common.redis import OUTAGE_ERRORS, open_redis
from services.common.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application, with Redis opened and closed by its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_redis(settings) as redis:
            app.state.api = ApiState.open(settings, redis)
            app.state.started_at = time.time()  # /healthz counts only services that checked in since
            yield

    # docs_url/redoc_url off: services.api.docs serves both with local assets (FastAPI's load from a CDN).
    app = FastAPI(title="wirewatch", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Streaming news ingestion: feeds, articles and story clusters.")
    # API keys on everything but health and the WebSub callbacks (hubs sign their pushes; services.api.auth).
    keyed = key_dependencies(settings)
    app.include_router(health.router)
    app.include_router(feeds.router, prefix="/v1", **keyed)
    app.include_router(config.router, prefix="/v1", **keyed)  # the running settings, for `wirewatch config`
    app.include_router(articles.router, prefix="/v1", **keyed)
    app.include_router(stories.router, prefix="/v1", **keyed)
    app.include_router(websub.router, prefix="/v1")
    app.include_router(subscriptions.router, prefix="/v1", **keyed)
    app.include_router(subscription_feeds.router, prefix="/v1", **keyed)
    app.include_router(entities.router, prefix="/v1", **keyed)
    app.include_router(stream_routes.router, prefix="/v1", **keyed)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    request_errors.install(app)  # a JSON body sent with another content type: an error that names it
    limits.install(app)  # 414 for an oversized URL, 422 for text no encoder can write
    install_path_keys(app, settings)  # /metrics, /openapi.json, /docs and /redoc keyed like /v1
    for outage in OUTAGE_ERRORS:  # Redis restarting: a 503 to retry, not a 500
        app.add_exception_handler(outage, _unavailable)
    mount_docs(app)
    mount_desk(app)  # the story desk's pages at /, /stories, /entities, /feeds, /subscriptions
    # Counters of the services running in this process (all of them under `wirewatch up`).
    app.include_router(metrics.router)  # /metrics itself, no redirect; open like /healthz, for scrapers
    return app


async def _unavailable(request: Request, exc: Exception) -> Response:
    """Redis is unreachable (restarting): 503 with Retry-After, so clients wait instead of failing."""
    return JSONResponse({"detail": "storage temporarily unavailable, retry shortly"}, status_code=503,
                        headers={"Retry-After": "5"})


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Errors as documented: a 422 raised with a message has the shape of FastAPI's own validation errors
    (`detail`: a list of {loc, msg, type}), so every 422 of the API matches one schema."""
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse({"detail": [{"loc": ["request"], "msg": exc.detail, "type": "value_error"}]},
                            status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)
