"""Reading a run's ``metrics.csv`` back (the trainer writes it; figures and reports read it).

It sits low in the house (standard library only), so :mod:`rnnkit.viz` can draw a run's
curves without importing the training engine.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

__all__ = ["read_metrics_csv"]


def _parse(value: str) -> Any:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value else number


def read_metrics_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a ``metrics.csv`` as dicts (numbers parsed, empty cells dropped).

    A torn last line (a crash mid-append) is skipped.
    """
    text = Path(path).read_text(encoding="utf-8")
    rows = []
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    for cells in reader:
        if len(cells) != len(header):
            continue
        row = {k: _parse(v) for k, v in zip(header, cells, strict=True) if v != ""}
        if isinstance(row.get("step"), int):
            rows.append(row)
    return rows
