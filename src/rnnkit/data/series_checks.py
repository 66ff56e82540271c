"""The checks behind :mod:`rnnkit.data.series`: times parsed, ordered and regular, values
numeric, gaps filled by the chosen policy. Each error names the row and column.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

__all__ = ["check_order", "fill", "infer_freq", "parse_times", "regular_freq", "to_numeric"]

logger = logging.getLogger(__name__)


def parse_times(col: pd.Series, name: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(col):
        times = pd.DatetimeIndex(col)
    else:
        times = pd.DatetimeIndex(pd.to_datetime(col, errors="coerce", format="mixed"))
    bad = np.flatnonzero(times.isna())
    if len(bad):
        row = int(bad[0])
        raise ValueError(
            f"row {row}, column {name!r}: cannot parse {col.iloc[row]!r} as a time "
            f"({len(bad)} such row(s))"
        )
    if times.tz is not None:
        times = times.tz_convert(None)
    return times


def check_order(times: pd.DatetimeIndex, name: str) -> None:
    step = np.diff(times.asi8)
    if np.any(step < 0):
        row = int(np.flatnonzero(step < 0)[0]) + 1
        raise ValueError(
            f"row {row}, column {name!r}: rows out of order, {times[row]} comes after "
            f"{times[row - 1]} (sort the data by time first)"
        )
    if np.any(step == 0):
        row = int(np.flatnonzero(step == 0)[0]) + 1
        raise ValueError(
            f"row {row}, column {name!r}: duplicated timestamp {times[row]} (also at row {row - 1})"
        )


def infer_freq(times: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(times) < 3:
            return None
        whole = pd.infer_freq(times)
        if whole is not None:
            return to_offset(whole).freqstr
        # Gaps break pandas' inference: vote over short stretches instead.
        votes = Counter(pd.infer_freq(times[i : i + 3]) for i in range(min(len(times) - 2, 200)))
        votes.pop(None, None)
    if votes:
        return to_offset(votes.most_common(1)[0][0]).freqstr
    # Too short to vote: a fixed step that divides every gap.
    step = np.diff(times.asi8)
    smallest = int(step.min())
    if smallest > 0 and np.all(step % smallest == 0):
        return to_offset(pd.Timedelta(smallest, unit=times.unit)).freqstr
    return None


def regular_freq(times: pd.DatetimeIndex, freq: str | None, name: str, *, reindex: bool) -> str:
    if freq is None:
        freq = infer_freq(times)
        if freq is None:
            raise ValueError(
                f"column {name!r}: cannot infer the frequency of the timestamps; "
                "give it (`freq`, e.g. 'h', 'D', 'MS')"
            )
        logger.info("inferred frequency %r from column %r", freq, name)
    try:
        full = pd.date_range(times[0], times[-1], freq=freq)
    except ValueError as err:
        raise ValueError(f"`freq` {freq!r} is not a pandas frequency: {err}") from None
    off_grid = times.difference(full)
    if len(off_grid):
        row = int(times.get_loc(off_grid[0]))
        raise ValueError(
            f"row {row}, column {name!r}: timestamp {off_grid[0]} is off the regular "
            f"{freq!r} grid that starts at {times[0]}"
        )
    gaps = full.difference(times)
    if len(gaps) and not reindex:
        after = int(times.searchsorted(gaps[0])) - 1
        raise ValueError(
            f"row {after + 1}, column {name!r}: {len(gaps)} missing timestamp(s) at "
            f"frequency {freq!r}, first {gaps[0]} (between row {after}, {times[after]}, and "
            f"row {after + 1}, {times[after + 1]}); use fill='ffill' or 'interpolate'"
        )
    return freq


def to_numeric(col: pd.Series, name: str, times: pd.DatetimeIndex | None) -> pd.Series:
    out = pd.to_numeric(col, errors="coerce").astype(np.float64)
    bad = np.flatnonzero(out.isna().to_numpy() & col.notna().to_numpy())
    if len(bad):
        row = int(bad[0])
        when = f" ({times[row]})" if times is not None else ""
        raise ValueError(
            f"row {row}{when}, column {name!r}: {col.iloc[row]!r} is not a number "
            f"({len(bad)} non-numeric cell(s) in this column)"
        )
    return out.reset_index(drop=True)


def fill(values: pd.DataFrame, fill: str, index: pd.Index) -> pd.DataFrame:
    nan = values.isna().to_numpy()
    if not nan.any():
        return values
    if fill == "none":
        row, col = np.argwhere(nan)[0]
        raise ValueError(
            f"row {row} ({index[row]}), column {values.columns[col]!r}: missing value "
            f"({int(nan.sum())} missing in all); use fill='ffill' or 'interpolate'"
        )
    logger.info("filling %d missing value(s) with %s", int(nan.sum()), fill)
    if fill == "ffill":
        return values.ffill().bfill()
    return values.interpolate(method="linear", limit_direction="both")
