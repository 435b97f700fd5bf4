"""Invalid requests answered with their cause: a JSON body sent with another content type is read by FastAPI
as bytes, and its complaint ("Input should be a valid dictionary") does not say why."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response


def install(app: FastAPI) -> None:
    """Answer invalid request bodies sent without a JSON content type with an error that names it."""
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]


def is_json(content_type: str) -> bool:
    """application/json, or any +json type (RFC 6839)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    content_type = request.headers.get("content-type", "")
    # FastAPI parses a body as JSON only with a JSON content type (or none): otherwise the errors about
    # the body's fields are about bytes it never read as JSON.
    if content_type and not is_json(content_type) and any(e["loc"][:1] == ("body",) for e in exc.errors()):
        message = f"the body must be JSON sent with Content-Type: application/json, not {content_type!r}"
        return JSONResponse({"detail": [{"loc": ["body"], "msg": message, "type": "content_type"}]},
                            status_code=422)
    return await request_validation_exception_handler(request, exc)
