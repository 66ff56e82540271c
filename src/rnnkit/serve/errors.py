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
    """ASGI middleware: no request body over ``limit`` bytes reaches the app (413).

    A request with a Content-Length over the limit (or not a number) is refused before its
    body is read. One without (a chunked body) is read here up to ``limit + 1`` bytes:
    refused as soon as it passes the limit, otherwise handed to the app whole."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            text = length.decode("latin-1")
            if not text.isdigit() or int(text) > self.limit:
                await self._refuse(send, f"has {text} bytes")
                return
        else:
            body = await _read_body(receive, self.limit)
            if body is None:
                await self._refuse(send, f"has more than {self.limit} bytes (chunked)")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _refuse(self, send: Any, what: str) -> None:
        body = {"detail": f"`body` {what}, over the server's `max_body_bytes` {self.limit}",
                "field": "body"}  # fmt: skip
        await _send_json(send, 413, body)


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes ``limit`` bytes."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: nothing more will come
            return b"".join(parts)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives ``body`` in one message, then waits on the real one (for
    the client's disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
