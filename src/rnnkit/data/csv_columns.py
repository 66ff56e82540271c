"""Which columns of a forecasting CSV are the time and the target, when the user did not say.

``rnnkit forecast train --csv F`` with neither ``--target`` nor ``--time_col`` reads a
plain "date, value" file the way a person would (as pandas' ``parse_dates`` and darts'
single-column ``TimeSeries.from_csv`` users expect), and says what it chose:

- the **time column** is the first column, if its values are dates (every non-empty value in
  the first rows parses as a time and they are not plain numbers);
- the **target** is the one remaining numeric column; with several, the user must choose,
  and the error lists them.

Given ``--target`` but no ``--time_col``, nothing is guessed (rows stay equally spaced
steps, as documented), but a first column of dates is pointed out, since without it there
are no calendar features and the seasonal period is 1::

    >>> guess_columns("daily-min-temperatures.csv")         # "Date","Temp"
    {'time_col': 'Date', 'target': ['Temp']}
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from rnnkit.data.tables import headless_hint, read_csv_strict

__all__ = ["date_column", "guess_columns"]

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 200
"""How many rows the guess looks at (the whole file is checked when it is read)."""


def _filled(col: pd.Series) -> pd.Series:
    """A column's non-empty values, stripped."""
    values = col.dropna().str.strip()
    return values[values != ""]


def _all_numbers(values: pd.Series) -> bool:
    return len(values) > 0 and bool(pd.to_numeric(values, errors="coerce").notna().all())


def _is_numeric(col: pd.Series) -> bool:
    return _all_numbers(_filled(col))


def _is_dates(col: pd.Series) -> bool:
    values = _filled(col)
    if len(values) == 0 or _all_numbers(values):
        return False
    return bool(pd.to_datetime(values, errors="coerce", format="mixed").notna().all())


def _head(path: str | os.PathLike[str], encoding: str) -> pd.DataFrame:
    """The first SAMPLE_ROWS rows as text (every row's width is still checked)."""
    return read_csv_strict(
        path, encoding=encoding, comment="#", dtype=str, skipinitialspace=True, nrows=SAMPLE_ROWS
    )


def _first_dates(head: pd.DataFrame) -> str | None:
    first = head.columns[0] if len(head.columns) else None
    return str(first) if first is not None and _is_dates(head[first]) else None


def date_column(path: str | os.PathLike[str], encoding: str = "utf-8") -> str | None:
    """The name of ``path``'s first column if it holds dates, else None."""
    return _first_dates(_head(path, encoding))


def guess_columns(
    path: str | os.PathLike[str], encoding: str = "utf-8", time_col: str | None = None
) -> dict:
    """``{"time_col": name or None, "target": [name]}`` of a CSV given without a target.

    ``time_col``, when given, is kept (and not taken as the target); else it is guessed.

    Raises:
        ValueError: no numeric column, or more than one (the error lists them and asks for
            ``--target``); a header of numbers (a missing header row); a file that cannot
            be read as a CSV (file, line).
    """
    head = _head(path, encoding)
    time_col = time_col or _first_dates(head)
    rest = [c for c in head.columns if c != time_col]
    numeric = [str(c) for c in rest if _is_numeric(head[c])]
    where = f"`csv` {str(Path(path))!r}"
    if hint := headless_hint(list(map(str, head.columns))):
        raise ValueError(f"{where}: column names {list(map(str, head.columns))}{hint}")
    if len(numeric) != 1:
        found = f"numeric columns {numeric}" if numeric else "no numeric column"
        raise ValueError(
            f"{where}: give the column(s) to forecast with `target` (--target NAME); "
            f"expected one numeric column to take by default, found {found} "
            f"among {list(map(str, head.columns))}"
        )
    logger.info(
        "%s: forecasting column %r, %s (choose with --target and --time_col)",
        where,
        numeric[0],
        f"times from column {time_col!r}" if time_col else "rows as equally spaced steps",
    )
    return {"time_col": time_col, "target": numeric}
