"""Time series for forecasting: read a CSV, DataFrame or array into a checked container.

A :class:`TimeSeries` holds, on one time index of length T,

- ``target``: ``(T, C)`` the columns to forecast,
- ``past``: ``(T, P)`` past covariates (known up to the forecast origin only),
- ``future``: ``(T, F)`` known-future covariates (given, or generated calendar features),

and states its invariants: the index is strictly increasing and regular at ``freq`` (a
pandas offset alias such as ``"h"``, ``"D"``, ``"MS"``; ``None`` for a plain step index),
and no value is NaN. :func:`read_series` enforces them on user data. Every bad-input case
gets an error naming the row and the column: rows are counted from 0 over the data rows
(the header and ``#`` comment lines are not counted), and the timestamp is quoted too.
Missing values are an error unless the user picks a fill policy:

- ``"none"``: a missing value or a missing timestamp is an error;
- ``"ffill"``: missing timestamps are inserted, each gap takes the last value seen (a gap
  at the very start takes the first value seen);
- ``"interpolate"``: missing timestamps are inserted, gaps are filled linearly in time
  (a gap at either end takes the nearest value).

The built-in example series (sine wave, airline passengers, sunspots, ...) are in
:mod:`rnnkit.data.series_examples`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.config import check_types, config_from_dict
from rnnkit.data import series_checks
from rnnkit.data.tables import headless_hint, read_csv_strict

__all__ = [
    "CALENDAR_FEATURES",
    "FILL_POLICIES",
    "SeriesSpec",
    "TimeSeries",
    "calendar_features",
    "from_array",
    "read_series",
]

logger = logging.getLogger(__name__)

FILL_POLICIES = ("none", "ffill", "interpolate")
# name -> (pandas attribute, cycle length); encoded as a sin/cos pair each.
CALENDAR_FEATURES: dict[str, tuple[str, float]] = {
    "hour": ("hour", 24.0),
    "dayofweek": ("day_of_week", 7.0),
    "day": ("day", 31.0),
    "dayofyear": ("day_of_year", 366.0),
    "month": ("month", 12.0),
}


@dataclass(frozen=True)
class SeriesSpec:
    """Which columns of a table are what, and how to clean them (the data config)."""

    target: tuple[str, ...]
    """Column(s) to forecast (one or more: univariate or multivariate)."""
    time_col: str | None = None
    """Column holding the timestamps; ``None``: rows are equally spaced steps 0, 1, ..."""
    past_covariates: tuple[str, ...] = ()
    """Columns known only up to the forecast origin (inputs, never forecast)."""
    future_covariates: tuple[str, ...] = ()
    """Columns known in advance for the horizon too (e.g. a holiday flag)."""
    calendar: tuple[str, ...] = ()
    """Generated known-future features from the timestamps: hour, dayofweek, day, dayofyear,
    month (each as a sin/cos pair)."""
    freq: str | None = None
    """Pandas offset alias (``"h"``, ``"D"``, ``"MS"``); ``None``: inferred from the times."""
    fill: str = "none"
    """Missing values and timestamps: ``none`` (error), ``ffill`` or ``interpolate``."""

    def __post_init__(self) -> None:
        for name in ("target", "past_covariates", "future_covariates", "calendar"):
            if isinstance(getattr(self, name), str):  # one column: "y" is ("y",)
                object.__setattr__(self, name, (getattr(self, name),))
        check_types(self)  # a list of names becomes a tuple
        if not self.target:
            raise ValueError("`target` must name at least one column, got none")
        if self.fill not in FILL_POLICIES:
            raise ValueError(f"`fill` must be one of {FILL_POLICIES}, got {self.fill!r}")
        for cal in self.calendar:
            if cal not in CALENDAR_FEATURES:
                raise ValueError(
                    f"`calendar` feature must be one of {sorted(CALENDAR_FEATURES)}, got {cal!r}"
                )
        seen = Counter(self.target + self.past_covariates + self.future_covariates)
        twice = [c for c, n in seen.items() if n > 1]
        if twice:
            raise ValueError(f"column(s) {twice} are given in more than one role")

    @classmethod
    def from_dict(cls, d: dict) -> SeriesSpec:
        """Build from a dict (e.g. a run's config.json); unknown keys and wrong types are errors."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        """JSON-ready (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """Target, past and known-future columns on one regular time index (see module doc)."""

    index: pd.Index
    """``(T,)`` a DatetimeIndex (regular at ``freq``) or a RangeIndex of steps."""
    target: np.ndarray
    """``(T, C)`` float64."""
    past: np.ndarray
    """``(T, P)`` float64, P may be 0."""
    future: np.ndarray
    """``(T, F)`` float64: given known-future columns, then calendar features."""
    target_names: tuple[str, ...]
    past_names: tuple[str, ...] = ()
    future_names: tuple[str, ...] = ()
    freq: str | None = None
    calendar: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        t = len(self.index)
        for name, arr, names in (
            ("target", self.target, self.target_names),
            ("past", self.past, self.past_names),
            ("future", self.future, self.future_names),
        ):
            if arr.ndim != 2 or arr.shape != (t, len(names)):
                raise ValueError(
                    f"`{name}` must have shape (T, {len(names)}) = ({t}, {len(names)}), "
                    f"got {arr.shape}"
                )
            if not np.all(np.isfinite(arr)):
                row, col = np.argwhere(~np.isfinite(arr))[0]
                raise ValueError(f"`{name}` has NaN/inf at row {row}, column {names[col]!r}")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_given_future(self) -> int:
        """Known-future columns the user gave (the rest are generated calendar features)."""
        return len(self.future_names) - 2 * len(self.calendar)

    def slice(self, start: int | None = None, stop: int | None = None) -> TimeSeries:
        """Rows ``start:stop`` as a new series (a chronological cut, nothing reordered)."""
        s = slice(start, stop)
        return dataclasses.replace(
            self,
            index=self.index[s],
            target=self.target[s],
            past=self.past[s],
            future=self.future[s],
        )

    def future_index(self, k: int) -> pd.Index:
        """The ``k`` timestamps (or steps) after the last row."""
        if isinstance(self.index, pd.DatetimeIndex):
            return pd.date_range(self.index[-1], periods=k + 1, freq=self.freq)[1:]
        last = int(self.index[-1]) if len(self.index) else -1
        return pd.RangeIndex(last + 1, last + 1 + k)

    def to_frame(self) -> pd.DataFrame:
        """All columns as a DataFrame on the time index."""
        data = np.concatenate([self.target, self.past, self.future], axis=1)  # (T, C+P+F)
        names = self.target_names + self.past_names + self.future_names
        return pd.DataFrame(data, index=self.index, columns=list(names))


# -- readers ---------------------------------------------------------------------------------


def read_series(
    source: str | os.PathLike | pd.DataFrame,
    spec: SeriesSpec | None = None,
    *,
    encoding: str = "utf-8",
    **spec_fields,
) -> TimeSeries:
    """Read and check a series from a CSV path or a DataFrame.

    Args:
        source: a CSV file path, or a DataFrame (its DatetimeIndex is used when
            ``time_col`` is None).
        spec: which columns are what; or give the :class:`SeriesSpec` fields as keywords.
        encoding: text encoding of the CSV file.

    Raises:
        ValueError: naming the row and column of an unparseable time, rows out of order,
            a duplicated or missing timestamp, a non-numeric cell or a missing value; naming
            the file and line of a row with more fields than the header or of bytes that do
            not decode in ``encoding``.
    """
    spec = spec if spec is not None else SeriesSpec(**spec_fields)
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        if spec.time_col is None and isinstance(df.index, pd.DatetimeIndex):
            df = df.rename_axis("__time__").reset_index()
            spec = dataclasses.replace(spec, time_col="__time__")
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"`csv` file not found: {str(path)!r}")
        # Strings first, so a bad cell can be reported as the user wrote it.
        df = read_csv_strict(path, encoding=encoding, comment="#", dtype=str, skipinitialspace=True)
        if df.empty:
            raise ValueError(f"`csv` {str(path)!r} has no data rows")
    return frame_to_series(df, spec)


def frame_to_series(df: pd.DataFrame, spec: SeriesSpec) -> TimeSeries:
    """Check and convert a table whose columns are named by ``spec`` (see :func:`read_series`)."""
    wanted = ((spec.time_col,) if spec.time_col else ()) + spec.target
    wanted += spec.past_covariates + spec.future_covariates
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        have = list(map(str, df.columns))
        raise ValueError(f"column(s) {missing} not in the data; it has {have}{headless_hint(have)}")
    df = df.reset_index(drop=True)
    if spec.time_col:
        times = series_checks.parse_times(df[spec.time_col], spec.time_col)
        series_checks.check_order(times, spec.time_col)
        freq = series_checks.regular_freq(
            times, spec.freq, spec.time_col, reindex=spec.fill != "none"
        )
        full = pd.date_range(times[0], times[-1], freq=freq)
        index: pd.Index = full
    else:
        if spec.calendar:
            raise ValueError("`calendar` features need timestamps; give `time_col`")
        freq, times, index = None, None, pd.RangeIndex(len(df))
    numeric = {
        c: series_checks.to_numeric(df[c], c, times) for c in wanted[1 if spec.time_col else 0 :]
    }
    values = pd.DataFrame(numeric)
    if times is not None:
        values.index = times
        values = values.reindex(index)  # missing timestamps become NaN rows (fill != none)
        if len(index) > len(times):
            n_new = len(index) - len(times)
            logger.info("inserted %d missing timestamps (fill=%s)", n_new, spec.fill)
    values = series_checks.fill(values.reset_index(drop=True), spec.fill, index)
    future = values[list(spec.future_covariates)].to_numpy(np.float64)
    names = spec.future_covariates
    if spec.calendar:
        cal, cal_names = calendar_features(index, spec.calendar)
        future = np.concatenate([future, cal], axis=1)  # (T, F_given + 2 * n_calendar)
        names = names + cal_names
    return TimeSeries(
        index=index,
        target=values[list(spec.target)].to_numpy(np.float64),
        past=values[list(spec.past_covariates)].to_numpy(np.float64),
        future=future,
        target_names=spec.target,
        past_names=spec.past_covariates,
        future_names=names,
        freq=freq,
        calendar=spec.calendar,
    )


def from_array(
    values: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    start: str | pd.Timestamp | None = None,
    freq: str | None = None,
    past: np.ndarray | None = None,
    past_names: Sequence[str] | None = None,
) -> TimeSeries:
    """A series from NumPy: ``values: (T,)`` or ``(T, C)`` targets, optional ``past: (T, P)``.

    With ``start`` and ``freq`` the index is ``pd.date_range(start, periods=T, freq=freq)``;
    otherwise steps 0..T-1. NaN is an error here (fill it before, or go through a DataFrame).
    """
    target = np.asarray(values, dtype=np.float64)
    target = target[:, None] if target.ndim == 1 else target  # (T,) -> (T, 1)
    if target.ndim != 2:
        raise ValueError(f"`values` must be (T,) or (T, C), got shape {np.shape(values)}")
    t, c = target.shape
    names = tuple(names) if names is not None else tuple(f"y{i}" for i in range(c))
    if len(names) != c:
        raise ValueError(f"`names` has {len(names)} entries, `values` has {c} columns")
    past_arr = np.zeros((t, 0)) if past is None else np.asarray(past, dtype=np.float64)
    past_arr = past_arr[:, None] if past_arr.ndim == 1 else past_arr  # (T,) -> (T, 1)
    if past_arr.shape[0] != t:
        raise ValueError(f"`past` has {past_arr.shape[0]} rows, `values` has {t}")
    pnames = tuple(past_names) if past_names else tuple(f"x{i}" for i in range(past_arr.shape[1]))
    if start is not None:
        if freq is None:
            raise ValueError("`freq` is needed with `start` (e.g. 'h', 'D', 'MS')")
        index: pd.Index = pd.date_range(start, periods=t, freq=freq)
    else:
        index, freq = pd.RangeIndex(t), None
    return TimeSeries(
        index=index,
        target=target,
        past=past_arr,
        future=np.zeros((t, 0)),
        target_names=names,
        past_names=pnames,
        freq=freq,
    )


def calendar_features(
    index: pd.DatetimeIndex, features: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Cyclic calendar encodings: ``(T, 2 * len(features))`` sin/cos pairs and their names."""
    cols, names = [], []
    for feat in features:
        attr, cycle = CALENDAR_FEATURES[feat]
        angle = 2 * np.pi * np.asarray(getattr(index, attr), dtype=np.float64) / cycle
        cols += [np.sin(angle), np.cos(angle)]
        names += [f"{feat}_sin", f"{feat}_cos"]
    if not cols:
        return np.zeros((len(index), 0)), ()
    return np.stack(cols, axis=1), tuple(names)  # (T, 2 * n_features)
