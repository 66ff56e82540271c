"""``rnnkit serve --run DIR [--run DIR ...]``: the CLI verb (a plain function)."""

from __future__ import annotations

import logging
from dataclasses import fields

from rnnkit.serve.settings import ServeSettings

__all__ = ["serve"]

log = logging.getLogger(__name__)

_DEFAULTS = ServeSettings()


def serve(
    run: str | list[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    max_input_length: int = _DEFAULTS.max_input_length,
    max_items: int = _DEFAULTS.max_items,
    max_new_tokens: int = _DEFAULTS.max_new_tokens,
    max_streams: int = _DEFAULTS.max_streams,
    max_queue: int = _DEFAULTS.max_queue,
    request_timeout: float = _DEFAULTS.request_timeout,
    batching: bool = _DEFAULTS.batching,
    max_body_bytes: int = _DEFAULTS.max_body_bytes,
    threads: int = _DEFAULTS.threads,
    log_level: str = "info",
) -> str:
    """Serve trained runs over HTTP: a JSON API (OpenAPI docs at /docs) and a web page at /.

    Args:
        run: run directories of any task (`--run DIR --run DIR2`, or `--run '[DIR, DIR2]'`);
            each model is named by its directory's name.
        host: the address to bind (default loopback only; 0.0.0.0 exposes it to the network).
        port: the TCP port.
        max_input_length: the most characters of a text input, or rows of a series.
        max_items: the most inputs in one translate or classify request.
        max_new_tokens: the most tokens one generate request may ask for.
        max_streams: generation streams of one model advanced together in one batch.
        max_queue: generation requests that may wait for a place; more get 429.
        request_timeout: seconds a request may take before it is cancelled (504).
        batching: advance concurrent generation streams together (false: one stream
            decoded at a time, the others queued: the load test's baseline).
        max_body_bytes: the largest request body accepted (413 beyond), chunked or not.
        threads: torch intra-op threads of each generation worker (1 suits small RNNs).
        log_level: uvicorn's log level (debug, info, warning, error).
    """
    import uvicorn

    from rnnkit.serve.app import create_app

    values = dict(locals())
    settings = ServeSettings(**{f.name: values[f.name] for f in fields(ServeSettings)})
    runs = [run] if isinstance(run, str) else list(run)
    app = create_app(runs, settings)
    log.info("serving %d model(s) on http://%s:%d (docs at /docs)", len(runs), host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
    return "server stopped"
