"""Request limits answered with a 4xx that names the cause, never a reset connection or a 500.

* **URL length.** The HTTP server reads request heads up to `MAX_REQUEST_HEAD_BYTES` (uvicorn's h11
  limit, raised from its 16 KiB default so an oversized URL is read and refused, not cut off mid-send);
  any URL over `MAX_URL_BYTES` gets 414 before routing. Query parameters have their own, smaller
  `max_length` (422) where they are declared.
* **Body size.** A JSON body over `MAX_JSON_BODY_BYTES` gets 413 as soon as it is known (its
  Content-Length, or the bytes received so far): feeds, subscriptions and keys are small. The routes that
  take documents (OPML import, WebSub pushes) bound their bodies themselves, with their own caps.
* **Unencodable text.** JSON may carry a lone surrogate (`"\\ud800"`), which Python accepts as a `str` and
  no UTF-8 encoder (Redis, httpx, logging) can write: 422 wherever it surfaces, not 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Longest URL (path and query) the API reads; longer gets 414.
MAX_URL_BYTES = 16 * 1024
#: Largest JSON body read by the routes that do not bound their own.
MAX_JSON_BODY_BYTES = 1024 * 1024
#: Routes that read documents and bound them themselves (services.api.routes.feeds, .websub).
OWN_BODY_LIMITS = ("/v1/feeds/import", "/v1/websub/")
#: What the HTTP server buffers for one request head (request line and headers) before refusing it.
MAX_REQUEST_HEAD_BYTES = 2 * 1024 * 1024


class UrlLimit:
    """ASGI middleware: 414 for a URL over MAX_URL_BYTES."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            if length > MAX_URL_BYTES:
                response = JSONResponse(
                    {"detail": [{"loc": ["url"], "type": "too_long",
                                 "msg": f"the URL is {length} bytes; at most {MAX_URL_BYTES} are read"}]},
                    status_code=414)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: 413 for a body over MAX_JSON_BODY_BYTES (by Content-Length, or while it arrives)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OWN_BODY_LIMITS):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_JSON_BODY_BYTES:
            await _too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_JSON_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": [{"loc": ["body"], "type": "too_large",
                                         "msg": f"the body is over {MAX_JSON_BODY_BYTES} bytes"}]}, status_code=413)
    await response(scope, receive, send)


async def _unencodable(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": [{"loc": ["body"], "type": "unencodable", "msg":
                                     "the request holds text that cannot be encoded as UTF-8 "
                                     "(a lone surrogate such as \\ud800)"}]}, status_code=422)


def install(app: FastAPI) -> None:
    """Add the URL and body limits, and the 422 for unencodable text, to the app."""
    app.add_middleware(BodyLimit)
    app.add_middleware(UrlLimit)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
