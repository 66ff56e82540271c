"""Built-in example series: a generated sine wave and the real series of the data mirror.

Each real file has a quirk its loader handles (and its test checks):

- ``airline``, ``sunspots``: month strings ``"1949-01"`` -> month starts (``MS``).
- ``temperatures``: daily, but 1984-12-31 and 1988-12-31 are absent; filled by linear
  interpolation by default (``fill="none"`` reports the gap instead).
- ``pollution``: the time is split over year/month/day/hour columns; ``pm2.5`` has "NA"
  cells (the first 24 hours all missing: those rows are dropped, the rest interpolated);
  the wind direction ``cbwd`` is text and becomes one-hot past covariates.
- ``etth1``, ``etth2``: hourly, target ``OT`` (the other six loads are available as
  covariates by name).
- ``stock``: two ``#`` comment lines (the second holds the header), no time column, rows
  newest first: they are reversed to oldest first; the index is the trading-day number.

Files are found through the dataset registry (``rnnkit.data.registry.dataset_path``) and,
while that is unavailable, directly in ``$RNNKIT_DATA_DIR/<dataset>/<file>``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.series import SeriesSpec, TimeSeries, frame_to_series, from_array, read_series

__all__ = ["EXAMPLES", "Example", "data_file", "load_example", "sine_wave"]


@dataclass(frozen=True)
class Example:
    """A built-in series: where its file is, how to read it, its seasonal period."""

    dataset: str
    """Registry name (the folder in the data mirror); empty for generated series."""
    file: str
    """File inside the dataset."""
    spec: SeriesSpec
    """Default columns and cleaning."""
    period: int
    """Seasonal period in steps (seasonal naive baseline and MASE)."""
    about: str


EXAMPLES: dict[str, Example] = {
    "sine": Example("", "", SeriesSpec(target=("y",)), 50, "generated sine wave, period 50"),
    "airline": Example(
        "timeseries_small",
        "airline-passengers.csv",
        SeriesSpec(target=("Passengers",), time_col="Month"),
        12,
        "monthly airline passengers 1949-1960",
    ),
    "sunspots": Example(
        "timeseries_small",
        "monthly-sunspots.csv",
        SeriesSpec(target=("Sunspots",), time_col="Month"),
        12,
        "monthly sunspots 1749-1983",
    ),
    "temperatures": Example(
        "timeseries_small",
        "daily-min-temperatures.csv",
        SeriesSpec(target=("Temp",), time_col="Date", fill="interpolate"),
        365,
        "Melbourne daily minimum temperature 1981-1990",
    ),
    "pollution": Example(
        "timeseries_small",
        "pollution.csv",
        SeriesSpec(
            target=("pm2.5",),
            time_col="time",
            past_covariates=("DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"),
            fill="interpolate",
        ),
        24,
        "Beijing PM2.5 hourly 2010-2014 with weather covariates",
    ),
    "etth1": Example(
        "ett", "ETTh1.csv", SeriesSpec(target=("OT",), time_col="date"), 24, "ETTh1 hourly"
    ),
    "etth2": Example(
        "ett", "ETTh2.csv", SeriesSpec(target=("OT",), time_col="date"), 24, "ETTh2 hourly"
    ),
    "stock": Example(
        "stock_daily",
        "data-02-stock_daily.csv",
        SeriesSpec(target=("Close",), past_covariates=("Open", "High", "Low", "Volume")),
        5,
        "GOOG daily prices, oldest first",
    ),
}


def data_file(dataset: str, file: str) -> Path:
    """Path of ``file`` of a registered dataset (registry first, then ``$RNNKIT_DATA_DIR``)."""
    try:
        from rnnkit.data.registry import dataset_path
    except ImportError:
        dataset_path = None
    if dataset_path is not None:
        return Path(dataset_path(dataset, file))
    root = os.environ.get("RNNKIT_DATA_DIR")
    if root and (Path(root) / dataset / file).is_file():
        return Path(root) / dataset / file
    raise FileNotFoundError(
        f"dataset {dataset!r} file {file!r} not found (no registry, RNNKIT_DATA_DIR={root!r})"
    )


def sine_wave(n: int = 1000, period: float = 50.0, noise: float = 0.0, seed: int = 0) -> TimeSeries:
    """``y_t = sin(2 pi t / period) + noise * N(0, 1)`` for t = 0..n-1 (the classic tutorial)."""
    if n < 2:
        raise ValueError(f"`n` must be >= 2, got {n}")
    t = np.arange(n, dtype=np.float64)
    y = np.sin(2 * np.pi * t / period)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(n)
    return from_array(y, names=("y",))


def load_example(name: str, **overrides) -> TimeSeries:
    """Load a built-in series by name (see ``EXAMPLES``).

    Args:
        name: one of ``EXAMPLES`` (``sine``, ``airline``, ``sunspots``, ``temperatures``,
            ``pollution``, ``etth1``, ``etth2``, ``stock``).
        overrides: :class:`SeriesSpec` fields replacing the example's defaults (e.g.
            ``target=("OT", "HUFL")``, ``calendar=("hour",)``, ``fill="none"``); for
            ``sine``, the arguments of :func:`sine_wave` instead.
    """
    if name not in EXAMPLES:
        raise ValueError(f"`name` must be one of {sorted(EXAMPLES)}, got {name!r}")
    ex = EXAMPLES[name]
    if name == "sine":
        return sine_wave(**overrides)
    spec = dataclasses.replace(ex.spec, **overrides)
    path = data_file(ex.dataset, ex.file)
    reader = _READERS.get(name)
    return reader(path, spec) if reader else read_series(path, spec)


def _read_pollution(path: Path, spec: SeriesSpec) -> TimeSeries:
    df = pd.read_csv(path, dtype=str, keep_default_na=True)
    time = pd.to_datetime(df[["year", "month", "day", "hour"]].astype(int))
    df.insert(0, "time", time.dt.strftime("%Y-%m-%d %H:%M:%S"))
    # The text wind direction becomes one column per direction, 0/1.
    wind = pd.get_dummies(df["cbwd"], prefix="cbwd", dtype=float)
    df = pd.concat([df, wind], axis=1)
    target = list(spec.target)
    first = int(df[target].notna().all(axis=1).to_numpy().argmax())
    df = df.iloc[first:]  # the first day has no PM2.5 reading at all
    if spec.past_covariates == EXAMPLES["pollution"].spec.past_covariates:
        spec = dataclasses.replace(spec, past_covariates=spec.past_covariates + tuple(wind.columns))
    return frame_to_series(df, spec)


def _read_stock(path: Path, spec: SeriesSpec) -> TimeSeries:
    with open(path, encoding="utf-8") as fh:
        comments = [line for line in fh.read().splitlines() if line.startswith("#")]
    names = [c.strip() for c in comments[-1].lstrip("#").split(",")]
    df = pd.read_csv(path, comment="#", header=None, names=names, dtype=str)
    df = df.iloc[::-1].reset_index(drop=True)  # newest first -> oldest first
    return frame_to_series(df, spec)


_READERS: dict[str, Callable[[Path, SeriesSpec], TimeSeries]] = {
    "pollution": _read_pollution,
    "stock": _read_stock,
}
