"""The server's limits: one frozen dataclass, the flags of ``rnnkit serve`` and the second
argument of :func:`rnnkit.serve.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass, fields

from rnnkit.config import check_types

__all__ = ["ServeSettings"]


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one server. A request over a limit gets a 4xx naming the field."""

    max_input_length: int = 2000
    """The most characters of a text input (prompt, sentence, text to classify), and the
    most rows of a series input."""
    max_items: int = 64
    """The most inputs in one /v1/translate or /v1/classify request."""
    max_new_tokens: int = 512
    """The most tokens one /v1/generate request may ask for (``max_tokens``)."""
    max_streams: int = 32
    """The most generation streams of one model advanced together in one batch; requests
    beyond it wait in a first-come queue."""
    max_queue: int = 256
    """The most generation requests of one model waiting for a place in the batch; one more
    is answered 429 (Too Many Requests) with a Retry-After header."""
    request_timeout: float = 60.0
    """Seconds one request may take; past them it is cancelled and answered 504 (a stream
    ends with an ``error`` event)."""
    batching: bool = True
    """Advance concurrent generation streams together (False: the honest one-at-a-time
    baseline of the load test: the same worker decodes ONE stream at a time while the
    others wait in arrival order)."""
    max_body_bytes: int = 2_000_000
    """The largest request body read; larger ones get 413 (by their Content-Length before
    anything is read, or, for a chunked body, as soon as the bytes read pass the limit)."""
    threads: int = 1
    """torch intra-op threads of each generation worker. One suits a small recurrent
    network's per-step work best: more threads spin against each other and against the
    event loop for the same cores (on a 2-core machine, 2 threads made a step 10-20x
    slower)."""

    def __post_init__(self) -> None:
        check_types(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value <= 0:
                raise ValueError(f"`{f.name}` must be > 0, got {value}")
