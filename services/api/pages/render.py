"""The desk's Jinja2 templates (`services/api/templates/`) and static files (`services/api/static/`), both
shipped inside the package, and the one function pages render with."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import Response
from starlette.types import Scope

from services.api.pages import format as fmt
from services.api.pages.viewer import Viewer

STATIC_URL = "/static"
#: The desk's pages run their own script and styles only: article titles and texts come from other sites, and
#: whatever markup slipped through could not run (Jinja escapes it in the first place).
POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'")


class VersionedStatic(StaticFiles):
    """The desk's static files; a URL carrying its content's version (`?v=`, static_url) is cached for a year
    without revalidation, so a page paints without waiting on its stylesheet's round trip."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        """The file, with a long-lived cache header when the URL is versioned."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        if b"v=" in scope.get("query_string", b""):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def static_dir() -> Path:
    """Where the desk's script and styles are, inside the installed package."""
    return Path(str(resources.files("services.api") / "static"))


@cache
def asset_version(name: str) -> str:
    """A short hash of a static file's content, so a changed file gets a new URL (no stale cache)."""
    return hashlib.sha256((static_dir() / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content."""
    return f"{STATIC_URL}/{name}?v={asset_version(name)}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("services.api", "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        reltime=fmt.relative_time, iso=fmt.iso, abstime=fmt.absolute_time, duration=fmt.duration,
        delay=fmt.delay, percent=fmt.percent, entity_kind=fmt.entity_kind,
    )
    env.globals.update(static_url=static_url, entity_name=fmt.entity_name)
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, template: str, viewer: Viewer, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page (or fragment) rendered with the reader and the request in its context."""
    return templates.TemplateResponse(request, template, {"viewer": viewer, **context}, status_code=status_code,
                                      headers={"Cache-Control": "no-store", "Content-Security-Policy": POLICY,
                                               "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})
