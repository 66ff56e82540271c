"""What each endpoint does with a loaded run, apart from HTTP: request body -> response dict.

Every bad input is an :class:`ApiError` naming the field (the app answers it with its
status); the task's own checks (a prompt word not in the vocabulary, a series too short
for the model's window, a NaN) raise ``ValueError``, which :func:`field_errors` turns into
422s naming the request field they came from.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.classification import Examples
from rnnkit.data.lm_corpus import join_generated
from rnnkit.data.series import SeriesSpec, TimeSeries, from_array, read_series
from rnnkit.serve.registry import ENDPOINTS, ServedModel
from rnnkit.serve.schemas import ClassifyRequest, ForecastRequest, TranslateRequest
from rnnkit.serve.settings import ServeSettings

__all__ = [
    "ApiError",
    "check_text",
    "classify",
    "encode_prompt",
    "field_errors",
    "find_model",
    "forecast",
    "joined_text",
    "shown_length",
    "translate",
]


class ApiError(Exception):
    """A request the server refuses: HTTP ``status``, the request ``field`` and why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@contextlib.contextmanager
def field_errors(field: str) -> Iterator[None]:
    """Turn a task's ``ValueError``/``TypeError`` about the input into a 422 on ``field``."""
    try:
        yield
    except (ValueError, TypeError) as err:
        message = str(err).split("\n")[0]
        raise ApiError(422, field, message.removeprefix(f"`{field}` ")) from err


def find_model(models: dict[str, ServedModel], name: str, task: str) -> ServedModel:
    """The model ``name``, which must be of ``task`` (404 unknown, 422 another task)."""
    if name not in models:
        raise ApiError(404, "model", f"unknown model {name!r}; this server has {sorted(models)}")
    model = models[name]
    if model.task != task:
        raise ApiError(
            422, "model",
            f"model {name!r} is a {model.task!r} model; {ENDPOINTS[task]} needs a {task!r} "
            f"model (send it to {ENDPOINTS[model.task]})",
        )  # fmt: skip
    return model


def check_text(field: str, text: str, settings: ServeSettings) -> None:
    """A text input must hold something and fit ``max_input_length``."""
    if not text.strip():
        raise ApiError(422, field, "is empty; give some text")
    if len(text) > settings.max_input_length:
        raise ApiError(
            422, field,
            f"has {len(text)} characters, more than the server's `max_input_length` "
            f"{settings.max_input_length}",
        )  # fmt: skip


def _check_count(field: str, n: int, settings: ServeSettings) -> None:
    if n == 0:
        raise ApiError(422, field, "is empty; give at least one input")
    if n > settings.max_items:
        raise ApiError(
            422, field, f"has {n} inputs, more than the server's `max_items` {settings.max_items}"
        )


# ---------------------------------------------------------------- generate (the text side)


def encode_prompt(lm: Any, prompt: str, settings: ServeSettings) -> torch.Tensor:
    """The prompt's token ids ``(T,)``; 422 on ``prompt`` when empty, too long or unknown."""
    check_text("prompt", prompt, settings)
    with field_errors("prompt"):
        return lm.encode_prompt(prompt)


def joined_text(lm: Any, prompt: str, ids: list[int], stop: Sequence[str] = ()) -> tuple[str, str]:
    """``(prompt + continuation, continuation)`` as :meth:`TextLM.generate` joins them: the
    continuation cut before the first of the ``stop`` strings it holds, and a word model
    putting one space between the prompt and the words after it."""
    text = lm.tokenizer.detokenize(lm.vocab.decode(ids))
    return join_generated(lm.data_config.level, prompt, text, stop)


def shown_length(text: str, generated: int, stop: Sequence[str]) -> int:
    """How much of ``text`` a stream may show now: all but its longest ending (within the
    last ``generated`` characters) that could still grow into a stop string, so that no
    part of a stop string is ever streamed. (Held text is shown by the next token, or is
    in the final ``done`` event.)"""
    held = 0
    for s in stop:
        for n in range(min(len(s) - 1, generated), held, -1):
            if text.endswith(s[:n]):
                held = n
                break
    return len(text) - held


# ---------------------------------------------------------------- translate


def _matrix(t: torch.Tensor | None) -> list[list[float]] | None:
    return None if t is None else [[round(float(v), 5) for v in row] for row in t.tolist()]


def _translation(t: Any) -> dict[str, Any]:
    return {
        "source": t.source, "text": t.text, "score": _finite(t.score),
        "alternatives": [{"text": a, "score": _finite(s)} for a, s in t.alternatives],
        "source_tokens": list(t.source_tokens), "tokens": list(t.tokens),
        "attention": _matrix(t.attention), "parts": [_translation(p) for p in t.parts],
    }  # fmt: skip


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else -1e30  # JSON has no -inf


def translate(model: ServedModel, req: TranslateRequest, settings: ServeSettings) -> dict:
    """``POST /v1/translate``: n-best translations with scores and attention."""
    texts = [req.text] if isinstance(req.text, str) else list(req.text)
    _check_count("text", len(texts), settings)
    for i, text in enumerate(texts):
        check_text("text" if isinstance(req.text, str) else f"text[{i}]", text, settings)
    if req.n_best > req.beam_size and req.method == "beam":
        raise ApiError(422, "n_best", f"must be <= `beam_size` {req.beam_size}, got {req.n_best}")
    n_best = req.n_best if req.method == "beam" else 1
    with field_errors("text"):
        out = model.run.translate(  # type: ignore[attr-defined]
            texts, method=req.method, beam_size=req.beam_size, n_best=n_best,
            temperature=req.temperature, seed=req.seed, return_attention=req.attention,
        )  # fmt: skip
    return {"model": model.name, "translations": [_translation(t) for t in out]}


# ---------------------------------------------------------------- forecast


def _series_from_rows(fc: Any, rows: list, settings: ServeSettings) -> TimeSeries:
    cols = fc.scaling.columns
    if cols["future"]:
        raise ApiError(
            422, "series",
            f"model {fc.run_dir.name!r} uses known-future or calendar columns "
            f"{list(cols['future'])}, which need timestamps: send `csv` instead",
        )  # fmt: skip
    arr = np.asarray(rows, dtype=np.float64)
    arr = arr[:, None] if arr.ndim == 1 else arr  # (T,) -> (T, 1)
    names = [*cols["target"], *cols["past"]]
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise ApiError(
            422, "series",
            f"rows must have {len(names)} value(s), the model's columns {names}; got shape "
            f"{list(arr.shape)}",
        )  # fmt: skip
    c = len(cols["target"])
    with field_errors("series"):
        return from_array(
            arr[:, :c], names=cols["target"], past=arr[:, c:], past_names=cols["past"] or None
        )


def _series_from_csv(fc: Any, text: str) -> TimeSeries:
    spec = fc.data.get("spec")
    if spec is None:
        raise ApiError(422, "csv", "this run does not record its columns; send `series`")
    with tempfile.TemporaryDirectory() as tmp, field_errors("csv"):
        path = Path(tmp) / "series.csv"
        path.write_text(text, encoding="utf-8")
        return read_series(path, SeriesSpec.from_dict(spec))


def _rows(a: np.ndarray | None) -> list[list[float]] | None:
    return None if a is None else [[float(v) for v in row] for row in np.asarray(a)]


def forecast(model: ServedModel, req: ForecastRequest, settings: ServeSettings) -> dict:
    """``POST /v1/forecast``: the K rows after the series, with intervals when the model
    has them."""
    fc: Any = model.run
    if (req.series is None) == (req.csv is None):
        raise ApiError(422, "series", "give exactly one of `series` (numbers) and `csv` (text)")
    if req.series is not None:
        if len(req.series) > settings.max_input_length:
            raise ApiError(
                422, "series", f"has {len(req.series)} rows, more than the server's "
                f"`max_input_length` {settings.max_input_length}",
            )  # fmt: skip
        series = _series_from_rows(fc, req.series, settings)
    else:
        assert req.csv is not None
        if len(req.csv) > settings.max_input_length * 200:
            raise ApiError(422, "csv", "is too long for the server's `max_input_length` rows")
        series = _series_from_csv(fc, req.csv)
    if len(series) > settings.max_input_length:
        raise ApiError(422, "csv", f"has {len(series)} rows, over `max_input_length`")
    need = fc.config.input_len
    if len(series) < need:
        field = "series" if req.series is not None else "csv"
        raise ApiError(422, field, f"has {len(series)} rows; the model reads the last {need}")
    with field_errors("future"):
        future = None if req.future is None else np.asarray(req.future, dtype=np.float64)
        out = fc.predict(series, future=future)
    level = fc.config.level if out.lower is not None else None
    return {
        "model": model.name, "names": list(out.names), "index": [str(i) for i in out.index],
        "mean": _rows(out.mean), "lower": _rows(out.lower), "upper": _rows(out.upper),
        "level": level, "history": _rows(series.target[-4 * need :]),
    }  # fmt: skip


# ---------------------------------------------------------------- classify


def _examples(clf: Any, req: ClassifyRequest, settings: ServeSettings) -> Examples:
    kind = clf.encoder.kind
    if kind == "text":
        if req.texts is None or req.series is not None:
            raise ApiError(
                422, "texts", f"model {clf.run_dir.name!r} classifies texts: send `texts`"
            )
        _check_count("texts", len(req.texts), settings)
        for i, t in enumerate(req.texts):
            check_text(f"texts[{i}]", t, settings)
        items: list[Any] = list(req.texts)
    else:
        if req.series is None or req.texts is not None:
            raise ApiError(
                422, "series", f"model {clf.run_dir.name!r} classifies series: send `series`"
            )
        _check_count("series", len(req.series), settings)
        items = []
        for i, s in enumerate(req.series):
            a = np.asarray(s, dtype=np.float64)
            a = a[:, None] if a.ndim == 1 else a  # (T,) -> (T, 1)
            if len(a) == 0 or len(a) > settings.max_input_length:
                raise ApiError(
                    422, f"series[{i}]", f"has {len(a)} rows; expected 1 to "
                    f"{settings.max_input_length}",
                )  # fmt: skip
            if a.ndim != 2 or a.shape[1] != clf.encoder.input_size:
                raise ApiError(
                    422, f"series[{i}]", f"rows must have {clf.encoder.input_size} feature(s), "
                    f"got shape {list(a.shape)}",
                )  # fmt: skip
            if not np.all(np.isfinite(a)):
                raise ApiError(422, f"series[{i}]", "holds NaN or infinite values")
            items.append(a)
    return Examples(items, None, kind, [str(i) for i in range(len(items))])


def classify(model: ServedModel, req: ClassifyRequest, settings: ServeSettings) -> dict:
    """``POST /v1/classify``: a label and class probabilities per input."""
    clf: Any = model.run
    examples = _examples(clf, req, settings)
    with field_errors("texts" if clf.encoder.kind == "text" else "series"):
        labels, probs = clf.predict(examples)
    names = list(clf.labels.names)
    preds = [
        {"label": lab, "probabilities": {n: float(p) for n, p in zip(names, row, strict=True)}}
        for lab, row in zip(labels, probs, strict=True)
    ]
    return {"model": model.name, "labels": names, "predictions": preds}
