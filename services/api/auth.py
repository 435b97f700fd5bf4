"""API-key enforcement: a dependency on every router but health and the WebSub callbacks, and a middleware
for what is served outside those routers (`/metrics`, `/openapi.json`, `/docs`, `/redoc`).

Token from `Authorization: Bearer <token>` or `X-API-Key: <token>`. Missing or unknown: 401 with
`WWW-Authenticate: Bearer`; a read-only key on anything but GET/HEAD: 403. When keys are not
required (`api_auth` off, or auto while the API listens on loopback only) it is not registered at all
(`key_dependencies`), so the OpenAPI schema names the security schemes only when they apply.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.apikeys import ApiKey, auth_required
from services.api.deps import api_state
from services.api.pages.viewer import COOKIE
from services.common.settings import Settings

_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="an API key (`wirewatch apikeys create`) as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                       description="an API key (`wirewatch apikeys create`)")

#: Documented on every protected route.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or invalid API key"},
    403: {"description": "the API key's scope does not allow this request"},
}


def key_dependencies(settings: Settings) -> dict[str, Any]:
    """`include_router` arguments for a protected router: the key check and its documented 401/403 when
    keys are required, else nothing (so the OpenAPI schema states exactly what the running API asks for)."""
    if not auth_required(settings):
        return {}
    return {"dependencies": [Depends(require_key)], "responses": AUTH_RESPONSES}


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


async def require_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_header)],
) -> ApiKey | None:
    """The caller's key when keys are required (else None); 401 / 403 when it may not make this request."""
    state = api_state(request)
    settings = state.settings
    if not auth_required(settings):
        return None
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise _unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)")
    store = state.apikeys
    key = await store.verify(token.strip())
    if key is None:
        raise _unauthorized("invalid API key")
    if not key.allows(request.method):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {key.scope} key may not {request.method}")
    request.state.api_key = key
    return key


#: Paths served outside the keyed routers that reveal as much (counters, the schema, its viewers).
KEYED_PATHS = ("/metrics", "/openapi.json", "/docs", "/redoc")


def _keyed_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in KEYED_PATHS)


class PathKeys:
    """ASGI middleware: KEYED_PATHS need a key like the /v1 routes (any scope may read them). Besides the
    headers, a GET may carry the story desk's session cookie, so a signed-in browser can open /docs."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app = app
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _keyed_path(scope["path"]):
            request = Request(scope)
            token = _token_of(request, self.cookie)
            message: str | None = "an API key is required (Authorization: Bearer <key> or X-API-Key)"
            if token:
                key = await api_state(request).apikeys.verify(token)
                message = None if key is not None else "invalid API key"
            if message is not None:
                response = JSONResponse({"detail": message}, status_code=status.HTTP_401_UNAUTHORIZED,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _token_of(request: Request, cookie: str) -> str:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    header = request.headers.get("x-api-key", "").strip()
    if header:
        return header
    return request.cookies.get(cookie, "").strip() if request.method in ("GET", "HEAD") else ""


def install_path_keys(app: FastAPI, settings: Settings) -> None:
    """Require keys on KEYED_PATHS when keys are required at all."""
    if auth_required(settings):
        app.add_middleware(PathKeys, cookie=COOKIE)
