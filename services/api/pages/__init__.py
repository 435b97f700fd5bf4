"""The story desk: the pages a person reads in a browser, served by the API itself and working offline.

`/` (the river of stories), `/stories/{id}`, `/entities/{key}`, `/feeds`, `/subscriptions`, and `/login`
when the API requires keys. Pages are Jinja2 templates rendered from the same route functions /v1 serves
(so they show what the API answers); one small script (`static/desk.js`) follows the live stream, fetches
fresh cards and sends changes to /v1. Templates, script and styles ship inside the package: no CDN, no
build step. `/docs` and `/redoc` serve Swagger UI and ReDoc from a package too (services.api.docs).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.deps import api_state
from services.api.pages import manage, river, story
from services.api.pages.render import STATIC_URL, VersionedStatic, render, static_dir
from services.api.pages.viewer import (
    COOKIE,
    SignInRequired,
    Viewer,
    login_url,
    read_login_form,
    safe_next,
)

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form: an API key, kept for this browser session."""
    return render(request, "login.html", Viewer(keys_required=True), next=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the key like any request's and keep it in a session cookie (see services.api.pages.viewer)."""
    token, next_path = await read_login_form(request)
    key = await api_state(request).apikeys.verify(token) if token else None
    if key is None:
        return render(request, "login.html", Viewer(keys_required=True), status_code=401, next=next_path,
                      error="That key is not valid: it may be mistyped or revoked (wirewatch apikeys list).")
    response = RedirectResponse(next_path, status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, token, path="/", samesite="strict", secure=request.url.scheme == "https",
                        httponly=False)  # the page's script sends it to /v1 as X-API-Key (viewer's docstring)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Forget the key this browser holds."""
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/", samesite="strict")
    return response


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(login_url(exc.next_path), status.HTTP_303_SEE_OTHER)


def mount_desk(app: FastAPI) -> None:
    """Add the desk's pages, its static files and the sign-in redirect to the app."""
    app.mount(STATIC_URL, VersionedStatic(directory=static_dir()), name="desk-static")
    app.include_router(router)
    app.include_router(river.router)
    app.include_router(story.router)
    app.include_router(manage.router)
    app.add_exception_handler(SignInRequired, _sign_in)
