"""Who is reading the desk: the API key kept for the browser session, checked like any request's key.

When the API requires keys (services.api.apikeys.auth_required) a reader signs in once with a key at
`/login`; it is kept in a session cookie (no expiry: it ends with the browser session; SameSite=Strict,
so no other site's page sends it). Pages are rendered with it, and the page's script sends it as
`X-API-Key` to /v1 for the live stream and every change: /v1 itself never reads the cookie, so a change
can only come from the desk's own script (no cross-site request can forge one). The cookie is not
HttpOnly because that script must read it to send the header; it holds exactly what the reader typed.

A read-only key sees no write buttons; an admin key (or no keys required) sees them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, HTTPException, Request, status

from services.api.apikeys import ApiKey, auth_required
from services.api.deps import api_state

COOKIE = "wirewatch_key"
MAX_FORM_BYTES = 4096


@dataclass(frozen=True)
class Viewer:
    """The reader of a page: whether keys are required and, if so, the key they signed in with."""

    keys_required: bool
    key: ApiKey | None = None

    @property
    def can_write(self) -> bool:
        """Whether the desk shows buttons that change something (an admin key, or no keys required)."""
        return not self.keys_required or (self.key is not None and self.key.scope == "admin")

    @property
    def scope(self) -> str:
        """What the reader may do, for the header ('admin', 'read', or 'open' when keys are off)."""
        return "open" if not self.keys_required else (self.key.scope if self.key else "none")


class SignInRequired(Exception):
    """The page needs a key the browser does not hold (or holds an invalid one)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def safe_next(value: str | None) -> str:
    """A local path to return to after signing in (never another site: '//host' and schemes are refused)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def read_viewer(request: Request) -> Viewer:
    """The page's reader; raises SignInRequired when keys are required and the browser has no valid one."""
    state = api_state(request)
    if not auth_required(state.settings):
        return Viewer(keys_required=False)
    token = request.cookies.get(COOKIE, "").strip()
    key = await state.apikeys.verify(token) if token else None
    if key is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return Viewer(keys_required=True, key=key)


async def fragment_viewer(request: Request) -> Viewer:
    """Like read_viewer, for fragments the script fetches: a 401 instead of a redirect to the sign-in page."""
    try:
        return await read_viewer(request)
    except SignInRequired as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in again: the desk's key is missing or invalid") \
            from exc


ViewerDep = Annotated[Viewer, Depends(read_viewer)]
FragmentViewerDep = Annotated[Viewer, Depends(fragment_viewer)]


def login_url(next_path: str) -> str:
    """The sign-in page that returns to `next_path`."""
    return f"/login?next={quote(safe_next(next_path), safe='/')}"


async def read_login_form(request: Request) -> tuple[str, str]:
    """The key and return path of the sign-in form (url-encoded; small, so no multipart parser is needed)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"sign-in form over {MAX_FORM_BYTES} bytes")
    fields = parse_qs(body.decode("utf-8", "replace"))
    return fields.get("key", [""])[0].strip(), safe_next(fields.get("next", ["/"])[0])
