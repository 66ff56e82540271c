"""Sequence-classification data: readers, stratified splits, label map, input encoding.

Readers return :class:`Examples` -- raw texts or ``(T_i, I)`` arrays with string labels:

- :func:`read_text_table`: a CSV/TSV of label and text (columns by name or index);
- :func:`read_rt_polarity` / :func:`read_trec`: the two built-in text sets (registry names
  ``rt-polarity`` and ``trec``), each with its own small reader;
- :func:`read_ts_examples`: UEA/UCR ``.ts`` files (``JapaneseVowels``, ``BasicMotions``);
- :func:`read_long_csv`: long-format numeric CSV (sequence id, time, features..., label);
- :func:`load_digits_rows`: scikit-learn's 8x8 digits, one image row per time step.

The encoders fitted on the training split (:class:`LabelMap`, :class:`InputEncoder`) live in
:mod:`rnnkit.data.class_encoding`, the splits and class checks (:func:`stratified_split`,
:func:`validation_split`, :func:`check_classes`) in :mod:`rnnkit.data.class_splits`; both
are re-exported here. Every reader takes an ``encoding``; a CSV/TSV row with more fields
than its header is refused (:mod:`rnnkit.data.tables`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rnnkit.data.class_encoding import InputEncoder, LabelMap, balanced_class_weights
from rnnkit.data.class_splits import HoldOut, check_classes, stratified_split, validation_split
from rnnkit.data.tables import check_row_width, headless_hint, read_csv_strict
from rnnkit.data.text import read_text
from rnnkit.data.ts_format import read_ts

__all__ = [
    "Examples",
    "HoldOut",
    "InputEncoder",
    "LabelMap",
    "balanced_class_weights",
    "check_classes",
    "class_counts",
    "load_digits_rows",
    "read_long_csv",
    "read_rt_polarity",
    "read_text_table",
    "read_trec",
    "read_ts_examples",
    "resolve_path",
    "save_json",
    "stratified_split",
    "validation_split",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Examples:
    """Raw classification examples.

    Attributes:
        items: N texts (``kind="text"``) or N arrays ``(T_i, I)`` (``kind="numeric"``).
        labels: N class names, or None for unlabelled inputs.
        kind: ``"text"`` or ``"numeric"``.
        ids: N identifiers to report predictions by (row numbers or sequence ids).
    """

    items: list[Any]
    labels: list[str] | None
    kind: Literal["text", "numeric"]
    ids: list[str]

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.items):
            raise ValueError(f"`labels` has {len(self.labels)} items, `items` {len(self.items)}")
        if len(self.ids) != len(self.items):
            raise ValueError(f"`ids` has {len(self.ids)} items, `items` {len(self.items)}")

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index: Sequence[int]) -> Examples:
        """The examples at positions ``index``, in that order."""
        labels = None if self.labels is None else [self.labels[i] for i in index]
        items = [self.items[i] for i in index]
        return Examples(items, labels, self.kind, [self.ids[i] for i in index])


def resolve_path(source: str | os.PathLike[str], file: str | None = None) -> Path:
    """A plain path as it is, a folder's ``file``, or a registered dataset's ``file``
    (:func:`rnnkit.data.registry.resolve_text_source`, which names the known datasets when
    ``source`` is neither)."""
    from rnnkit.data.registry import resolve_text_source

    path = Path(source)
    if path.is_dir() and file is not None and (path / file).is_file():
        return path / file
    return resolve_text_source(source if file is None or path.is_file() else f"{source}/{file}")


def _column(spec: str | int, header: list[str] | None, name: str, path: Path) -> int:
    if isinstance(spec, int):
        width = len(header) if header else None
        if spec < 0 or (width is not None and spec >= width):
            raise ValueError(f"`{name}` index {spec} is out of range for {path} ({width} columns)")
        return spec
    if header is None:
        raise ValueError(
            f"`{name}` is a column name ({spec!r}) but `header` is False; give an index"
        )
    if spec not in header:
        hint = (
            "; a numeric series in long format (id, time, features..., label)? pass `--format long`"
            if name == "text_column" and len(header) >= 3
            else ""
        )
        hint = hint or headless_hint(header)
        raise ValueError(f"`{name}` {spec!r} is not a column of {path}; columns are {header}{hint}")
    return header.index(spec)


def _two_columns(
    names: list[str], body: list[tuple[int, list[str]]], path: Path
) -> tuple[str, str] | None:
    """``(text, label)`` of a two-column table whose columns are not named text/label: the
    label is the column with fewer distinct values (at most half the rows, or 2), the text
    the other; None when neither column repeats enough to be a label."""
    rows = [row for _, row in body if len(row) == 2 and any(cell.strip() for cell in row)]
    distinct = [len({row[i].strip() for row in rows}) for i in (0, 1)]
    label = int(distinct[1] <= distinct[0])
    if (
        not rows
        or distinct[label] >= distinct[1 - label]
        or distinct[label] > max(2, len(rows) / 2)
    ):
        return None
    logger.info(
        "%s: texts from column %r, labels from column %r (%d distinct); "
        "choose with --text_column and --label_column",
        path, names[1 - label], names[label], distinct[label],
    )  # fmt: skip
    return names[1 - label], names[label]


def read_text_table(
    path: str | os.PathLike[str],
    *,
    text_column: str | int = "text",
    label_column: str | int | None = "label",
    delimiter: str | None = None,
    header: bool = True,
    encoding: str = "utf-8",
) -> Examples:
    """Read a CSV/TSV of texts and labels.

    Every row must have at most as many fields as the header (without a header: as the
    first row): an extra field almost always is an unquoted comma or a tab inside a text,
    which would otherwise be cut silently.

    Args:
        path: the file (``.tsv`` defaults to tab-separated, anything else to commas).
        text_column: column of the text, by header name or 0-based index. With the
            defaults (``text``, ``label``) and a header naming neither, a two-column table
            has its label column found (the one with fewer distinct values, at most half
            the rows or 2) and the other is the text, said in one line; a one-column table read
            without labels is the text.
        label_column: column of the label, or None for unlabelled inputs (predict).
        delimiter: field separator (default from the extension).
        header: the first row names the columns.
        encoding: text encoding of the file (a decode error names the file and line).

    Raises:
        ValueError: a missing column, a row with more fields than the header or with a
            missing label or an empty text (naming the file and line), or no rows.
    """
    path = resolve_path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(read_text(path, encoding=encoding)), delimiter=delimiter)
    rows = [(reader.line_num, row) for row in reader]  # line_num: the row's last line
    names = [c.strip() for c in rows[0][1]] if header and rows else None
    body = rows[1:] if header else rows
    filled = [row for _, row in body if any(cell.strip() for cell in row)]
    width = len(names) if names is not None else (len(filled[0]) if filled else 0)
    unnamed = names is not None and text_column == "text" and "text" not in names
    if unnamed and label_column in ("label", None) and "label" not in names:  # the defaults
        if len(names) == 1 and label_column is None:
            text_column = names[0]
        elif len(names) == 2 and (pair := _two_columns(names, body, path)) is not None:
            text_column, label_column = pair[0], pair[1] if label_column else None
    t_col = _column(text_column, names, "text_column", path)
    l_col = None if label_column is None else _column(label_column, names, "label_column", path)
    texts, labels, ids = [], [], []
    for line, row in body:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        check_row_width(row, width, path, line, delimiter)
        need = max(t_col, l_col if l_col is not None else 0)
        if len(row) <= need:
            raise ValueError(f"{path}:{line}: expected at least {need + 1} fields, got {len(row)}")
        text = row[t_col].strip()
        if not text:
            raise ValueError(f"{path}:{line}: empty text (column {text_column!r})")
        if l_col is not None:
            label = row[l_col].strip()
            if not label:
                raise ValueError(f"{path}:{line}: missing label (column {label_column!r})")
            labels.append(label)
        texts.append(text)
        ids.append(str(line))
    if not texts:
        raise ValueError(f"{path}: no rows of data")
    return Examples(texts, labels if l_col is not None else None, "text", ids)


def read_rt_polarity(
    source: str | os.PathLike[str] = "rt-polarity", *, encoding: str = "utf-8"
) -> Examples:
    """Pang & Lee's sentence polarity: ``rt-polarity.pos`` / ``.neg``, one sentence a line.

    Args:
        source: the registered name ``rt-polarity`` or a folder holding the two files.
        encoding: text encoding of the files (the mirror's copies are UTF-8).
    """
    items, labels = [], []
    for label in ("pos", "neg"):
        path = resolve_path(source, f"rt-polarity.{label}")
        lines = [s.strip() for s in read_text(path, encoding=encoding).split("\n")]
        items += [s for s in lines if s]
        labels += [label] * sum(1 for s in lines if s)
    return Examples(items, labels, "text", [str(i) for i in range(len(items))])


def read_trec(
    source: str | os.PathLike[str] = "trec",
    file: str = "train_5500.label",
    *,
    fine: bool = False,
    encoding: str = "latin-1",
) -> Examples:
    """TREC question type (Li & Roth 2002): ``COARSE:fine question ...`` a line (Latin-1).

    Args:
        source: the registered name ``trec``, a folder holding ``file``, or the file itself.
        file: ``train_5500.label`` or ``TREC_10.label`` (the official test set).
        fine: use the 50 fine labels (``LOC:city``) instead of the 6 coarse ones (``LOC``).
        encoding: text encoding of the file (the official files are Latin-1).
    """
    path = resolve_path(source, file)
    items, labels = [], []
    for lineno, line in enumerate(read_text(path, encoding=encoding).split("\n"), 1):
        if not line.strip():
            continue
        label, _, question = line.strip().partition(" ")
        coarse, colon, fine_label = label.partition(":")
        if not colon or not coarse or not fine_label:
            raise ValueError(f"{path}:{lineno}: expected 'COARSE:fine question', got {line[:40]!r}")
        if not question.strip():
            raise ValueError(f"{path}:{lineno}: empty question")
        items.append(question.strip())
        labels.append(label if fine else coarse)
    return Examples(items, labels, "text", [str(i) for i in range(len(items))])


def read_ts_examples(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> Examples:
    """A UEA/UCR ``.ts`` file as numeric examples (see :mod:`rnnkit.data.ts_format`)."""
    ts = read_ts(resolve_path(path), encoding=encoding)
    for i, s in enumerate(ts.series):
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{path}: series {i} has missing or non-finite values")
    return Examples(ts.series, ts.labels, "numeric", [str(i) for i in range(len(ts.series))])


def read_long_csv(
    path: str | os.PathLike[str],
    *,
    id_column: str = "id",
    time_column: str = "time",
    label_column: str | None = "label",
    feature_columns: Sequence[str] | None = None,
    ignore_columns: Sequence[str] = (),
    n_features: int | None = None,
    encoding: str = "utf-8",
) -> Examples:
    """Numeric sequences in long format: one row per (sequence id, time step).

    A file with none of the default names (``id``, ``time``, and ``label`` when labels are
    read) is read by position, as the layout ``id, time, features..., label`` says: the
    first column is the id, the second the time, the last the label; the choice is said.

    Args:
        path: a CSV with a header row.
        id_column: the sequence id; rows of one id form one sequence (order of first
            appearance is kept).
        time_column: sorts the rows within a sequence.
        label_column: the class, constant within a sequence; None for unlabelled inputs.
        feature_columns: the features (default: every other column).
        ignore_columns: columns left out of the default features when present (predict
            reads a labelled file without its label column).
        n_features: the features a model expects; read by position without labels, a file
            with one column more than ``id, time`` and these has that last column left out
            (a label that predict ignores).
        encoding: text encoding of the file.

    Raises:
        ValueError: a missing column, a row with more fields than the header, a missing
            label, a label that changes within a sequence, or a missing / non-numeric
            feature value; a file that does not decode (naming the file).
    """
    import pandas as pd

    path = resolve_path(path)
    df = read_csv_strict(path, encoding=encoding)
    cols = [str(c) for c in df.columns]
    defaults = (id_column, time_column, label_column or "label") == ("id", "time", "label")
    if defaults and not {"id", "time", "label"} & set(cols) and len(cols) >= 3 + bool(label_column):
        id_column, time_column = cols[0], cols[1]
        label_column = cols[-1] if label_column else None
        if label_column is None and n_features is not None and len(cols) == n_features + 3:
            ignore_columns = [*ignore_columns, cols[-1]]
        logger.info(
            "%s: no id/time/label columns by name: read by position as (id, time, "
            "features..., label): ids %r, times %r%s",
            path, id_column, time_column, f", labels {label_column!r}" if label_column else "",
        )  # fmt: skip
    needed = [id_column, time_column] + ([label_column] if label_column else [])
    for col in needed + list(feature_columns or []):
        if col not in df.columns:
            raise ValueError(f"column {col!r} is not in {path}; columns are {list(df.columns)}")
    skip = set(needed) | set(ignore_columns)
    features = list(feature_columns or [c for c in df.columns if c not in skip])
    if not features:
        raise ValueError(f"{path}: no feature columns besides {needed}")
    values = df[features].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}:{row + 2}: missing or non-numeric feature value")
    if label_column and df[label_column].isna().any():
        row = int(np.flatnonzero(df[label_column].isna().to_numpy())[0])
        raise ValueError(f"{path}:{row + 2}: missing label (column {label_column!r})")
    df = df.assign(_row=np.arange(len(df)))
    items, labels, ids = [], [], []
    for seq_id, group in df.groupby(id_column, sort=False):
        group = group.sort_values([time_column, "_row"], kind="stable")
        items.append(values.loc[group.index].to_numpy(np.float64))  # (T_i, I)
        ids.append(str(seq_id))
        if label_column:
            found = group[label_column].astype(str).str.strip().unique()
            if len(found) != 1:
                raise ValueError(f"{path}: sequence {seq_id!r} has several labels {list(found)}")
            labels.append(str(found[0]))
    return Examples(items, labels if label_column else None, "numeric", ids)


def load_digits_rows() -> Examples:
    """scikit-learn's bundled 8x8 digits (1,797 images): each image row is a time step.

    Items are ``(8, 8)`` arrays scaled to [0, 1] (T = 8 rows, I = 8 pixels); labels "0".."9".
    Needs scikit-learn (imported only here).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "the digits example needs scikit-learn, which bundles the images: "
            "pip install scikit-learn"
        ) from None
    digits = load_digits()
    items = [img.astype(np.float64) / 16.0 for img in digits.images]  # each (8, 8)
    labels = [str(int(t)) for t in digits.target]
    return Examples(items, labels, "numeric", [str(i) for i in range(len(items))])


def save_json(obj: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as JSON to a temporary name, then rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def class_counts(labels: Sequence[str]) -> dict[str, int]:
    """How many examples each class has, most common first."""
    return dict(Counter(labels).most_common())
