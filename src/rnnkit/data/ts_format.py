"""Reader for the UEA/UCR time-series archive's ``.ts`` format (sktime / aeon files).

A file is ``#`` comments, ``@key value`` header lines, then ``@data`` and one series a
line: its dimensions separated by ``:``, each a comma-separated list of values (``?`` is a
missing value), and, when ``@classLabel true``, the class label as the last field::

    @problemName JapaneseVowels
    @dimensions 12
    @equalLength false
    @classLabel true 1 2 3 4 5 6 7 8 9
    @data
    1.86,1.89,1.93:-0.20,-0.19,-0.23: ... :1

Each series becomes an array ``(T_i, I)`` (time by channel). Time-stamped series
(``@timeStamps true``) are not supported and are rejected with a clear error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from rnnkit.data.text import read_text

__all__ = ["TsData", "read_ts"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TsData:
    """The contents of a ``.ts`` file.

    Attributes:
        series: N arrays ``(T_i, I)`` float64; NaN where the file had ``?``.
        labels: N class labels as strings, or None when the file has no labels.
        class_labels: the labels the header declares (``@classLabel true ...``), or ().
        header: every ``@key value`` header line, lower-case keys, values as strings.
    """

    series: list[np.ndarray]
    labels: list[str] | None
    class_labels: tuple[str, ...] = ()
    header: dict[str, str] = field(default_factory=dict)


def _flag(header: dict[str, str], key: str, default: bool, path: str) -> bool:
    value = header.get(key, str(default)).split()[0].lower()
    if value not in ("true", "false"):
        raise ValueError(f"{path}: @{key} must be true or false, got {value!r}")
    return value == "true"


def _parse_dim(text: str, where: str) -> np.ndarray:
    values = []
    for v in text.split(","):
        v = v.strip()
        if v == "?":
            values.append(np.nan)
            continue
        try:
            values.append(float(v))
        except ValueError:
            raise ValueError(f"{where}: expected a number or '?', got {v!r}") from None
    return np.asarray(values, dtype=np.float64)


def _is_label(text: str, declared: tuple[str, ...]) -> bool:
    """Whether a ``:`` field reads as a class label rather than a dimension's values."""
    text = text.strip()
    return "," not in text and (text in declared if declared else True)


def _split_label(fields: list[str], dims: int | None, declared: tuple[str, ...], where: str) -> str:
    """Pop and check the class label (the last field) of one data line."""
    if dims is not None and len(fields) == dims:
        # As many fields as dimensions: either the label or one dimension is missing.
        if _is_label(fields[-1], declared) and (declared or dims > 1):
            got = dims - 1
            raise ValueError(
                f"{where}: expected {dims} dimensions (@dimensions), got {got}: "
                f"a dimension is missing before the class label {fields[-1].strip()!r}"
            )
        raise ValueError(f"{where}: missing class label (found {dims} dimensions only)")
    label = fields.pop().strip()
    if not label:
        raise ValueError(f"{where}: missing class label")
    if declared and label not in declared:
        raise ValueError(
            f"{where}: label {label!r} is not declared in @classLabel {list(declared)}"
        )
    return label


def _parse_series(fields: list[str], where: str) -> np.ndarray:
    """The ``(T, I)`` array of one line's dimension fields."""
    arrays = [_parse_dim(d, where) for d in fields]
    sizes = [a.size for a in arrays]
    if len(set(sizes)) != 1:
        raise ValueError(
            f"{where}: ragged series: its dimensions have lengths {sizes}; "
            "every dimension of one series must have the same length"
        )
    return np.stack(arrays, axis=1)  # (T_i, I)


def _check_lengths(header: dict[str, str], series: list[np.ndarray], path: str) -> None:
    if _flag(header, "equallength", False, path):
        lengths = {s.shape[0] for s in series}
        expected = int(header.get("serieslength", series[0].shape[0]))
        if lengths != {expected}:
            raise ValueError(
                f"{path}: @equalLength true with @seriesLength {expected}, got lengths "
                f"{sorted(lengths)}"
            )


def read_ts(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> TsData:
    """Read a ``.ts`` file into per-series ``(T_i, I)`` arrays and string labels.

    Without a ``@dimensions`` line, every series must have as many dimensions as the first.

    Args:
        path: the ``.ts`` file.
        encoding: its text encoding (a decode error names the file, line and column).

    Raises:
        ValueError: a malformed file, naming the file and line: a missing ``@data``, a series
            whose dimensions have different lengths (ragged), the wrong number of dimensions
            (expected vs got; also when one is missing just before the label), a missing
            label or one the header does not declare, a length that contradicts
            ``@equalLength``/``@seriesLength``.
    """
    path = os.fspath(path)
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for lineno, raw in enumerate(read_text(path, encoding=encoding).split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{path}:{lineno}: expected a @header line, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                if _flag(header, "timestamps", False, path):
                    raise ValueError(f"{path}: @timeStamps true series are not supported")
                has_labels = _flag(header, "classlabel", False, path)
                declared = tuple(header.get("classlabel", "").split()[1:])
                dims = int(header["dimensions"]) if "dimensions" in header else None
                first_dims: tuple[int, int] | None = None  # (dimensions, line) of series 0
            else:
                header[key] = value.strip()
            continue
        where = f"{path}:{lineno}"
        fields = line.split(":")
        if has_labels:
            labels.append(_split_label(fields, dims, declared, where))
        if dims is not None and len(fields) != dims:
            raise ValueError(
                f"{where}: expected {dims} dimensions (@dimensions), got {len(fields)}"
            )
        if first_dims is None:
            first_dims = (len(fields), lineno)
        elif len(fields) != first_dims[0]:
            raise ValueError(
                f"{where}: expected {first_dims[0]} dimensions (as the series on line "
                f"{first_dims[1]}), got {len(fields)}"
            )
        series.append(_parse_series(fields, where))
    if not in_data:
        raise ValueError(f"{path}: no @data line; is this a .ts file?")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    _check_lengths(header, series, path)
    logger.debug("read %d series from %s", len(series), path)
    return TsData(series, labels if has_labels else None, declared, header)
