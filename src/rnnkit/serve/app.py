"""The FastAPI application: the JSON API, server-sent events for generation, the web page.

    >>> from rnnkit.serve import create_app, ServeSettings     # doctest: +SKIP
    >>> app = create_app(["runs/demo"], ServeSettings(max_new_tokens=200))

Errors are JSON ``{"detail": "...", "field": "..."}`` (validation errors also list
``errors``): 404 an unknown model, 413 a body over ``max_body_bytes``, 422 anything wrong
with a field, 429 a full generation queue, 504 a request over ``request_timeout``. An
unexpected error is logged with its traceback and answered 500 without one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from rnnkit.serve import handlers
from rnnkit.serve.batcher import DONE, Batcher, BusyError, GenParams, Stream
from rnnkit.serve.errors import BodyLimit, error_handlers
from rnnkit.serve.handlers import ApiError
from rnnkit.serve.registry import ServedModel, describe, load_models
from rnnkit.serve.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    ForecastRequest,
    ForecastResponse,
    GenerateRequest,
    GenerateResponse,
    TranslateRequest,
    TranslateResponse,
)
from rnnkit.serve.settings import ServeSettings
from rnnkit.tasks.run import TaskRun

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def create_app(
    runs: Sequence[str | os.PathLike[str] | TaskRun], settings: ServeSettings | None = None
) -> FastAPI:
    """The app serving ``runs`` (run directories of any task, or loaded runs).

    Each language model gets its generation worker (:class:`~rnnkit.serve.batcher.Batcher`)
    now; they stop when the app shuts down (``app.state.close()`` stops them by hand).
    """
    settings = settings or ServeSettings()
    models = load_models(runs)
    batchers = {
        name: Batcher(
            m.run, settings.max_streams, settings.max_queue, settings.batching, settings.threads
        )
        for name, m in models.items()
        if m.task == "lm"
    }

    def close() -> None:
        for b in batchers.values():
            b.close()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        close()

    app = FastAPI(
        title="rnnkit serve",
        description="Generate, translate, forecast and classify with trained rnnkit runs.",
        lifespan=lifespan,
    )
    app.state.models, app.state.settings, app.state.batchers = models, settings, batchers
    app.state.close = close
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    error_handlers(app)
    _routes(app, models, settings, batchers)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# ---------------------------------------------------------------- routes


def _routes(
    app: FastAPI,
    models: dict[str, ServedModel],
    settings: ServeSettings,
    batchers: dict[str, Batcher],
) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, the models served and the generation streams in flight."""
        load = {name: b.load for name, b in batchers.items()}
        return {"status": "ok", "models": len(models), "streams": load}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """Each model's name, task, endpoint and what it accepts."""
        return {"models": [describe(m) for m in models.values()]}

    @app.post("/v1/generate", response_model=GenerateResponse)
    async def generate(req: GenerateRequest) -> Any:
        """Continue ``prompt``; with ``stream: true`` server-sent events (``token`` events
        ``{"token", "text"}``, then ``done`` with the whole text, or ``error``)."""
        model = handlers.find_model(models, req.model, "lm")
        ids = handlers.encode_prompt(model.run, req.prompt, settings)
        if req.max_tokens > settings.max_new_tokens:
            raise ApiError(
                422, "max_tokens",
                f"is {req.max_tokens}, over the server's `max_new_tokens` "
                f"{settings.max_new_tokens}",
            )  # fmt: skip
        stop = tuple(req.stop or ())
        params = GenParams(req.max_tokens, req.temperature, req.top_k, req.top_p, req.seed, stop)
        try:
            stream = batchers[model.name].submit(ids, params, stream_tokens=req.stream)
        except BusyError as err:
            raise ApiError(429, "model", f"{req.model!r} is busy: {err}; retry shortly") from err
        if req.stream:
            events = _events(model, req.prompt, stream, settings.request_timeout)
            return StreamingResponse(events, media_type="text/event-stream")
        await _collect(stream, settings.request_timeout)
        return _result(model, req.prompt, stream)

    def blocking(path: str, task: str, work: Callable[..., dict], request: Any, response: Any):
        async def endpoint(req: request) -> Any:  # type: ignore[valid-type]
            model = handlers.find_model(models, req.model, task)
            call = run_in_threadpool(work, model, req, settings)
            try:
                return await asyncio.wait_for(call, settings.request_timeout)
            except asyncio.TimeoutError as err:
                raise _timeout(settings) from err

        endpoint.__doc__ = work.__doc__
        endpoint.__annotations__ = {"req": request, "return": Any}  # the body's model
        app.post(path, response_model=response, name=task)(endpoint)

    blocking("/v1/translate", "translate", handlers.translate, TranslateRequest, TranslateResponse)
    blocking("/v1/forecast", "forecast", handlers.forecast, ForecastRequest, ForecastResponse)
    blocking("/v1/classify", "classify", handlers.classify, ClassifyRequest, ClassifyResponse)


def _timeout(settings: ServeSettings) -> ApiError:
    return ApiError(504, "request_timeout", f"the request took over {settings.request_timeout:g} s")


async def _next(stream: Stream, deadline: float) -> Any:
    """The stream's next queue item; an error once the deadline passes."""
    left = deadline - asyncio.get_running_loop().time()
    item = await asyncio.wait_for(stream.queue.get(), max(left, 0.0))
    if isinstance(item, Exception):
        log.error("generation failed: %s", item)
        raise ApiError(503, "model", "generation failed on the server; see its log")
    return item


async def _collect(stream: Stream, timeout: float) -> None:
    """Wait for the stream's end (it is cancelled on a timeout or an error); its tokens are
    then in ``stream.tokens``."""
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while await _next(stream, deadline) is not DONE:
            pass  # token ids, if the stream was asked for them
    except asyncio.TimeoutError as err:
        raise ApiError(504, "request_timeout", f"generation took over {timeout:g} s") from err
    finally:
        stream.cancelled = True  # a no-op once done; frees its batch row otherwise


def _result(model: ServedModel, prompt: str, stream: Stream) -> dict[str, Any]:
    """The answer of a finished stream (the body of /v1/generate, the ``done`` event)."""
    tokens = list(stream.tokens)
    text, generated = handlers.joined_text(model.run, prompt, tokens, stream.params.stop)
    return {"model": model.name, "text": text, "generated": generated, "tokens": tokens,
            "finish_reason": stream.finish}  # fmt: skip


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def _events(
    model: ServedModel, prompt: str, stream: Stream, timeout: float
) -> AsyncIterator[str]:
    """Server-sent events: one ``token`` event per token, then ``done`` (or ``error``).

    A token event's ``text`` is what the token adds to the text shown so far; an ending
    that may still grow into a stop string is held back (and never shown if it does). A
    client that disconnects cancels this generator; ``finally`` drops the stream from the
    batch at the next step."""
    deadline = asyncio.get_running_loop().time() + timeout
    stop = stream.params.stop
    shown, tokens = len(prompt), []
    try:
        while (item := await _next(stream, deadline)) is not DONE:
            tokens.append(item)
            text, generated = handlers.joined_text(model.run, prompt, tokens, stop)
            upto = handlers.shown_length(text, len(generated), stop)
            yield _sse("token", {"token": item, "text": text[shown:upto]})
            shown = max(shown, upto)
        yield _sse("done", _result(model, prompt, stream))
    except asyncio.TimeoutError:
        yield _sse("error", {"detail": f"generation took over {timeout:g} s", "status": 504})
    except ApiError as err:
        yield _sse("error", {"detail": err.message, "status": err.status})
    finally:
        stream.cancelled = True
