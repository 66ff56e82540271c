"""Reading classification data for :mod:`rnnkit.tasks.classify`: a file or a built-in set by name.

:func:`read_inputs` reads one source as :class:`~rnnkit.data.classification.Examples`
(format by name or guessed from the suffix); :func:`load_data` makes the train /
validation / test split, using a built-in set's official test file where it has one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rnnkit.data.classification import (
    Examples,
    load_digits_rows,
    read_long_csv,
    read_rt_polarity,
    read_text_table,
    read_trec,
    read_ts_examples,
    resolve_path,
    stratified_split,
)

__all__ = ["FORMATS", "TS_SETS", "format_of", "load_data", "official_test", "read_inputs"]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "text", "lines", "ts", "long", "rt-polarity", "trec", "digits")
# registered names whose official train/test files the reader knows
TS_SETS = ("JapaneseVowels", "BasicMotions")


def format_of(source: str, fmt: str) -> str:
    """The reader for ``source``: ``fmt`` itself, or for "auto" a built-in name or suffix."""
    if fmt not in FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != "auto":
        return fmt
    if source in ("rt-polarity", "trec", "digits"):
        return source
    if source in TS_SETS:
        return "ts"
    suffix = Path(source).suffix.lower()
    if suffix == ".ts":
        return "ts"
    if suffix in (".csv", ".tsv"):
        return "text"
    if suffix == ".txt":
        return "lines"
    raise ValueError(
        f"cannot tell the format of {source!r}; give `format` (one of {', '.join(FORMATS[1:])})"
    )


def read_inputs(
    source: str,
    *,
    format: str = "auto",
    text_column: str | int = "text",
    label_column: str | int | None = "label",
    delimiter: str | None = None,
    id_column: str = "id",
    time_column: str = "time",
    fine_labels: bool = False,
) -> Examples:
    """Read one file (or built-in set's training file) as :class:`Examples`.

    ``lines`` is a plain text file with one unlabelled input a line (for predict).
    """
    fmt = format_of(source, format)
    if fmt == "text":
        return read_text_table(
            source, text_column=text_column, label_column=label_column, delimiter=delimiter
        )
    if fmt == "lines":
        lines = [s.strip() for s in resolve_path(source).read_text(encoding="utf-8").split("\n")]
        items = [s for s in lines if s]
        if not items:
            raise ValueError(f"{source}: no non-empty lines")
        return Examples(items, None, "text", [str(i) for i in range(len(items))])
    if fmt == "ts":
        if source in TS_SETS:
            return read_ts_examples(resolve_path(source, f"{source}_TRAIN.ts"))
        return read_ts_examples(source)
    if fmt == "long":
        label = None if label_column is None else str(label_column)
        return read_long_csv(
            source, id_column=id_column, time_column=time_column, label_column=label
        )
    if fmt == "rt-polarity":
        return read_rt_polarity(source)
    if fmt == "trec":
        return read_trec(source, fine=fine_labels)
    return load_digits_rows()


def official_test(source: str, fmt: str, *, fine_labels: bool = False) -> Examples | None:
    """The official test file of a built-in set (``trec``'s ``TREC_10.label``, a UEA set's
    ``_TEST.ts``) read as :class:`Examples`; None for a source that has none."""
    if fmt == "trec":
        return read_trec(source, "TREC_10.label", fine=fine_labels)
    if fmt == "ts" and source in TS_SETS:
        return read_ts_examples(resolve_path(source, f"{source}_TEST.ts"))
    return None


def load_data(
    source: str,
    *,
    test_source: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    **read_options: Any,
) -> tuple[Examples, Examples | None, Examples | None]:
    """Train / validation / test examples.

    The test set is ``test_source`` when given, the official test file of a built-in set
    (``trec``'s ``TREC_10.label``, a UEA set's ``_TEST.ts``), or else a stratified
    ``test_fraction`` of the data; validation is a stratified ``val_fraction`` of the rest.
    """
    fmt = format_of(source, read_options.get("format", "auto"))
    data = read_inputs(source, **read_options)
    if data.labels is None:
        raise ValueError(f"{source}: training data needs labels (`label_column`)")
    test = None
    if test_source is not None:
        test = read_inputs(test_source, **read_options)
    else:
        test = official_test(source, fmt, fine_labels=read_options.get("fine_labels", False))
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
        raise ValueError(
            f"`val_fraction`/`test_fraction` must be in [0, 1), got {val_fraction}/{test_fraction}"
        )
    tf = 0.0 if test is not None else test_fraction
    if val_fraction + tf >= 1:
        raise ValueError(f"`val_fraction` + `test_fraction` must be < 1, got {val_fraction + tf}")
    tr, va, te = stratified_split(data.labels, (1 - val_fraction - tf, val_fraction, tf), seed=seed)
    train_ex = data.subset(tr)
    val_ex = data.subset(va) if va else None
    if test is None and te:
        test = data.subset(te)
    logger.info(
        "examples: %d train, %d val, %d test",
        len(train_ex),
        len(val_ex) if val_ex else 0,
        len(test) if test else 0,
    )
    return train_ex, val_ex, test
