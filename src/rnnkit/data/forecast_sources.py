"""Where a forecasting run's series comes from, and how to read newer data in its columns.

A *source* is a JSON-able dict that a run stores in its ``config.json`` (``data.source``)::

    {"csv": "my.csv", "dataset": None, "file": None, "encoding": "latin-1",
     "spec": {"target": ["OT"], "time_col": "date", ...}}        # SeriesSpec fields given

or ``{"dataset": "airline"}`` for a built-in example (``spec`` then only overrides its
columns), or ``{"dataset": NAME, "file": FILE}`` for any registered dataset.
:func:`load_source` reads it; :func:`read_spec` gives the columns the fitted series really
had (an example's defaults filled in), so that ``rnnkit forecast predict --run R --csv F``
can read a newer file of any run the same way, and :func:`source_files` names the file a
source is read from (its checksum is stored in the run, so reading it again can say when it
changed)::

    >>> src = make_source(dataset="airline")
    >>> series, period = load_source(src)
    >>> read_spec(src, series)["target"], period
    (['Passengers'], 12)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rnnkit.data.csv_columns import date_column, guess_columns
from rnnkit.data.series import SeriesSpec, TimeSeries, read_series
from rnnkit.data.series_examples import EXAMPLES, data_file, load_example

__all__ = [
    "PERIODS",
    "load_source",
    "make_source",
    "names",
    "read_spec",
    "seasonal_period",
    "source_files",
]

logger = logging.getLogger(__name__)

PERIODS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4}
"""Default seasonal period of a pandas frequency (its base alias)."""


def seasonal_period(series: TimeSeries) -> int:
    """A default seasonal period from the frequency (h 24, D 7, MS 12 ...); 1 if unknown."""
    return PERIODS.get(str(series.freq).split("-")[0], 1) if series.freq else 1


def names(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (the CLI takes either); None stays."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return None if value is None else list(value)


def make_source(
    *,
    csv: str | None = None,
    dataset: str | None = None,
    file: str | None = None,
    time_col: str | None = None,
    target: str | list[str] | None = None,
    past_covariates: str | list[str] | None = None,
    future_covariates: str | list[str] | None = None,
    calendar: str | list[str] | None = None,
    freq: str | None = None,
    fill: str | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """The source dict of the CLI's data flags (None: not given; ``encoding`` None: UTF-8)."""
    spec: dict[str, Any] = {
        "target": names(target),
        "time_col": time_col,
        "past_covariates": names(past_covariates),
        "future_covariates": names(future_covariates),
        "calendar": names(calendar),
        "freq": freq,
    }
    if fill is not None:
        spec["fill"] = fill
    if csv and Path(csv).is_file():
        spec.update(_csv_columns(csv, encoding or "utf-8", spec))
    source: dict[str, Any] = {"csv": csv, "dataset": dataset, "file": file, "spec": spec}
    if encoding is not None:
        source["encoding"] = encoding
    return source


def _csv_columns(csv: str, encoding: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The columns of a CSV the user did not name (see :mod:`rnnkit.data.csv_columns`):
    without ``target``, the target (and the time column, unless given) are guessed; with a
    ``target`` but no ``time_col``, nothing is, but a first column of dates is pointed out."""
    if not spec["target"]:
        return guess_columns(csv, encoding, time_col=spec["time_col"])
    if spec["time_col"]:
        return {}
    dates = date_column(csv, encoding)
    named = spec["target"] + (spec["past_covariates"] or []) + (spec["future_covariates"] or [])
    if dates and dates not in named:
        logger.warning(
            "`csv` %r: column %r holds dates, but no `time_col` was given, so rows are read "
            "as equally spaced steps (no calendar features, seasonal period 1); "
            "pass --time_col %s to use them",
            csv,
            dates,
            dates,
        )
    return {}


def _given(source: dict[str, Any]) -> dict[str, Any]:
    """The SeriesSpec fields ``source`` sets (None and empty lists mean "not given")."""
    return {k: v for k, v in (source.get("spec") or {}).items() if v not in (None, [], ())}


def load_source(source: dict[str, Any]) -> tuple[TimeSeries, int]:
    """Read the series ``source`` describes; returns it and its seasonal period.

    Raises:
        FileNotFoundError: a ``csv`` that does not exist.
        ValueError: no data given (neither ``csv`` nor ``dataset``), a CSV without
            ``target`` (:func:`make_source` fills it in where it can), a dataset that is
            neither an example nor given with ``file``, or a file that does not decode in
            ``source["encoding"]`` (named, with the line).
    """
    spec = _given(source)
    encoding = source.get("encoding") or "utf-8"
    if source.get("csv"):
        if not Path(source["csv"]).is_file():
            raise FileNotFoundError(f"`csv` file not found: {str(source['csv'])!r}")
        if not spec.get("target"):
            raise ValueError("`target` column(s) are needed with `csv` (--target NAME)")
        series = read_series(source["csv"], SeriesSpec.from_dict(spec), encoding=encoding)
        return series, seasonal_period(series)
    name = source.get("dataset")
    if not name:
        raise ValueError("give the data: `csv` (a file) or `dataset` (a name)")
    if name in EXAMPLES:
        return load_example(name, **spec), EXAMPLES[name].period
    if not source.get("file"):
        raise ValueError(f"`dataset` {name!r} is not a built-in example; give `file` too")
    path = data_file(name, source["file"])
    series = read_series(path, SeriesSpec.from_dict(spec), encoding=encoding)
    return series, seasonal_period(series)


def source_files(source: dict[str, Any]) -> dict[str, Path]:
    """``{"train": path}`` of the file ``source`` is read from (``{}`` for a generated
    series, such as the ``sine`` example): the run's checksum is of this file."""
    if source.get("csv"):
        return {"train": Path(source["csv"])}
    name = source.get("dataset")
    if name in EXAMPLES:
        example = EXAMPLES[name]
        return {"train": data_file(example.dataset, example.file)} if example.dataset else {}
    if name and source.get("file"):
        return {"train": data_file(name, source["file"])}
    return {}


def read_spec(source: dict[str, Any], series: TimeSeries) -> dict[str, Any]:
    """The :class:`SeriesSpec` (as a dict) that reads a CSV with ``series``' columns.

    The columns come from the series itself (an example's defaults and generated columns,
    such as the pollution example's wind one-hots, included); the time column, fill policy
    and frequency from the source or the example's spec.
    """
    base: dict[str, Any] = {}
    name = source.get("dataset")
    if not source.get("csv") and name in EXAMPLES and EXAMPLES[name].dataset:
        base = EXAMPLES[name].spec.to_dict()
    given = {**base, **_given(source)}
    spec = SeriesSpec(
        target=series.target_names,
        time_col=given.get("time_col"),
        past_covariates=series.past_names,
        future_covariates=series.future_names[: series.n_given_future],
        calendar=series.calendar,
        freq=series.freq,
        fill=given.get("fill", "none"),
    )
    return spec.to_dict()
