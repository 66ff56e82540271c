"""Reading delimited tables (CSV/TSV) so that a misaligned row is refused, not misread.

An unquoted comma (or a tab inside a sentence) gives a row more fields than its header;
csv readers then drop the extra text silently and pandas either raises a tokenizer error
without the file's name or, when every row has one extra field, quietly turns the first
column into the index. Here such a row is a ``ValueError`` naming the file, the line and
the expected vs found number of fields:

- :func:`check_row_width`: the check for one parsed row;
- :func:`read_csv_strict`: a file read with its encoding (decode errors name the file,
  line and column), every row checked, then handed to :func:`pandas.read_csv`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.data.text import is_number, read_text

if TYPE_CHECKING:  # pandas is imported where a table is read, not at import time
    import pandas as pd

__all__ = ["check_row_width", "headless_hint", "read_csv_strict"]

logger = logging.getLogger(__name__)


def headless_hint(names: list[str]) -> str:
    """A hint when a table's column names are all numbers (its first data row was taken as
    the header: the header is missing, or sits in a ``#`` comment line, which is skipped);
    else ``""``."""
    if not names or not all(is_number(str(n)) for n in names):
        return ""
    return (
        "; its first row looks like data, not column names: give the file a header row "
        "naming the columns (lines starting with '#' are skipped as comments)"
    )


def check_row_width(
    row: list[str], width: int, path: str | os.PathLike[str], line: int, delimiter: str = ","
) -> None:
    """Refuse a row with more than ``width`` fields (the header's), naming file and line.

    Raises:
        ValueError: ``"{path}:{line}: expected {width} fields (as the header), got {n}"``.
    """
    if len(row) > width:
        sep = "tab" if delimiter == "\t" else repr(delimiter)
        raise ValueError(
            f"{path}:{line}: expected {width} fields (as the header), got {len(row)}; "
            f"is there an unquoted {sep} inside a value? Quote that field or fix the line"
        )


def read_csv_strict(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    comment: str | None = None,
    **read_csv_options: Any,
) -> pd.DataFrame:
    """A CSV with a header row as a DataFrame, after checking that no row is too wide.

    Args:
        path: the file.
        encoding: its text encoding.
        delimiter: the field separator.
        comment: lines starting with this character are skipped (as pandas' ``comment``).
        read_csv_options: passed on to :func:`pandas.read_csv` (e.g. ``dtype=str``).

    Raises:
        ValueError: a row with more fields than the header (file, line, expected vs got),
            a file that does not decode or is empty (file, line, column).
    """
    import pandas as pd

    path = Path(path)
    text = read_text(path, encoding=encoding)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    width = None
    for row in reader:
        if not row or (comment and row[0].lstrip().startswith(comment)):
            continue
        if width is None:
            width = len(row)  # the header
            continue
        check_row_width(row, width, path, reader.line_num, delimiter)
    try:
        return pd.read_csv(
            io.StringIO(text), sep=delimiter, comment=comment, index_col=False, **read_csv_options
        )
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: cannot parse as a table: {err}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no header row and no data") from None
