"""`/docs` (Swagger UI) and `/redoc` (ReDoc) with their scripts and styles served by the API, so both work
without internet. FastAPI's own pages load them from a CDN; here they come from the `fastapi-offline` wheel
(PyPI, MIT), which ships Swagger UI's and ReDoc's release bundles and nothing else we use."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_STATIC = "/docs/assets"
REDOC_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:")


def docs_assets() -> Path:
    """The directory of Swagger UI's and ReDoc's bundles inside the installed fastapi-offline package."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def mount_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets (create the app with docs_url=None, redoc_url=None)."""
    app.mount(DOCS_STATIC, StaticFiles(directory=docs_assets()), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} – API", oauth2_redirect_url=oauth2_redirect,
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg")

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        # No Google Fonts: ReDoc falls back to the system's fonts.
        page = get_redoc_html(openapi_url=openapi_url, title=f"{app.title} – API reference",
                              redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon.svg", with_google_fonts=False)
        # ReDoc's bundle shows its maker's logo from their CDN: images stay local, so the page calls no one.
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page
