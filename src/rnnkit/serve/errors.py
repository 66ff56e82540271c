"""How the server answers what goes wrong: one JSON shape, a message naming the field, no
traceback ever sent, and request bodies over the size limit refused before they are read."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rnnkit.serve.handlers import ApiError

__all__ = ["BodyLimit", "error_handlers", "field_name"]

log = logging.getLogger(__name__)

# pydantic puts the member of a union it tried into the error's location; not a field
_TYPE_TAGS = {"str", "int", "float", "bool", "none", "list", "dict"}


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "series", 0, "list[float]", 2)`` -> ``"series[0][2]"``."""
    name = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif "[" in str(part) or str(part).lower() in _TYPE_TAGS:
            continue
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    seen: dict[str, str] = {}
    for e in errors:
        field = field_name(tuple(e.get("loc", ())))
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "json_invalid":
            field, message = "body", f"is not valid JSON ({e.get('ctx', {}).get('error', message)})"
        seen.setdefault(field, message)  # a union's members repeat the field: keep the first
    items = [{"field": f, "message": m} for f, m in seen.items()]
    detail = "; ".join(f"`{f}`: {m}" for f, m in seen.items())
    return {"detail": detail, "field": items[0]["field"] if items else "body", "errors": items}


def error_handlers(app: FastAPI) -> None:
    """Install the handlers: validation 422, :class:`ApiError`, HTTP errors, anything else."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(list(exc.errors())), status_code=422)

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status == 429 else None
        body = {"detail": f"`{exc.field}` {exc.message}", "field": exc.field}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        body = {"detail": f"internal error ({type(exc).__name__}); see the server log"}
        return JSONResponse(body, status_code=500)


class BodyLimit:
    """ASGI middleware: a request whose Content-Length is over ``limit`` bytes (or not a
    number) gets 413 without its body being read."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"0").decode("latin-1")
            if not length.isdigit() or int(length) > self.limit:
                body = {"detail": f"`body` has {length} bytes, over the server's "
                        f"`max_body_bytes` {self.limit}", "field": "body"}  # fmt: skip
                await _send_json(send, 413, body)
                return
        await self.app(scope, receive, send)


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
