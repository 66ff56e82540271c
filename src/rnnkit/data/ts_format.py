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


def read_ts(path: str | os.PathLike[str]) -> TsData:
    """Read a ``.ts`` file into per-series ``(T_i, I)`` arrays and string labels.

    Args:
        path: the ``.ts`` file.

    Raises:
        ValueError: a malformed file, naming the line: a missing ``@data``, a series whose
            dimensions have different lengths (ragged), the wrong number of dimensions, a
            missing label or one the header does not declare, a length that contradicts
            ``@equalLength``/``@seriesLength``.
    """
    path = os.fspath(path)
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
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
                else:
                    header[key] = value.strip()
                continue
            where = f"{path}:{lineno}"
            fields = line.split(":")
            if has_labels:
                if dims is not None and len(fields) == dims:
                    raise ValueError(f"{where}: missing class label (found {dims} dimensions only)")
                label = fields.pop().strip()
                if not label:
                    raise ValueError(f"{where}: missing class label")
                if declared and label not in declared:
                    raise ValueError(
                        f"{where}: label {label!r} is not declared in @classLabel {list(declared)}"
                    )
                labels.append(label)
            if dims is not None and len(fields) != dims:
                raise ValueError(
                    f"{where}: expected {dims} dimensions (@dimensions), got {len(fields)}"
                )
            arrays = [_parse_dim(d, where) for d in fields]
            sizes = [a.size for a in arrays]
            if len(set(sizes)) != 1:
                raise ValueError(
                    f"{where}: ragged series: its dimensions have lengths {sizes}; "
                    "every dimension of one series must have the same length"
                )
            series.append(np.stack(arrays, axis=1))  # (T_i, I)
    if not in_data:
        raise ValueError(f"{path}: no @data line; is this a .ts file?")
    if not series:
        raise ValueError(f"{path}: no series after @data")
    if _flag(header, "equallength", False, path):
        lengths = {s.shape[0] for s in series}
        expected = int(header.get("serieslength", series[0].shape[0]))
        if lengths != {expected}:
            raise ValueError(
                f"{path}: @equalLength true with @seriesLength {expected}, got lengths "
                f"{sorted(lengths)}"
            )
    logger.debug("read %d series from %s", len(series), path)
    return TsData(series, labels if has_labels else None, declared, header)
