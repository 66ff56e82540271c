"""Classification data sources: a file or a built-in set by name, and its train/val/test split.

:func:`read_inputs` reads one source as :class:`~rnnkit.data.classification.Examples`
(format by name or guessed from the suffix). :func:`split_data` makes the train /
validation / test sets:

- test: ``test_source`` when given, else the official test file of a built-in set
  (``trec``'s ``TREC_10.label``, a UEA/UCR set's ``<name>_TEST.ts``), else a stratified
  ``test_fraction`` of the data;
- validation: ``val_source`` when given (an official dev split), else a stratified
  hold-out of the rest that is never empty when one is possible
  (:func:`~rnnkit.data.classification.validation_split`). When the data are too small for
  one (no class with 2 examples, or fewer than ``min_val`` examples held out) there is no
  validation set and :attr:`ClassifyData.note` says why; the task then keeps the last
  checkpoint instead of choosing one.

The UEA/UCR sets the reader knows by name are those of the data catalog with
``<name>_TRAIN.ts`` / ``<name>_TEST.ts`` files (JapaneseVowels, BasicMotions, ACSF1, PLAID).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from rnnkit.data.classification import (
    Examples,
    check_classes,
    load_digits_rows,
    read_long_csv,
    read_rt_polarity,
    read_text_table,
    read_trec,
    read_ts_examples,
    resolve_path,
    stratified_split,
    validation_split,
)
from rnnkit.data.digest import check_digests, stored_digests
from rnnkit.data.text import read_text

__all__ = [
    "FORMATS",
    "ClassifyData",
    "check_run_data",
    "format_of",
    "load_data",
    "official_test",
    "read_inputs",
    "run_files",
    "source_files",
    "split_data",
    "ts_sets",
]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "text", "lines", "ts", "long", "rt-polarity", "trec", "digits")
_BUILTIN = ("rt-polarity", "trec", "digits")


@cache
def ts_sets() -> tuple[str, ...]:
    """Registered datasets laid out as ``<name>_TRAIN.ts`` / ``<name>_TEST.ts`` (from the
    catalog, so a newly registered UEA/UCR set is known by name at once)."""
    from rnnkit.data.catalog import DATASETS

    out = []
    for name, spec in DATASETS.items():
        files = {f.name for f in spec.files}
        if {f"{name}_TRAIN.ts", f"{name}_TEST.ts"} <= files:
            out.append(name)
    return tuple(out)


def format_of(source: str, fmt: str) -> str:
    """The reader for ``source``: ``fmt`` itself, or for "auto" a built-in name or suffix."""
    if fmt not in FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != "auto":
        return fmt
    if source in _BUILTIN:
        return source
    if source in ts_sets():
        return "ts"
    suffix = Path(source).suffix.lower()
    if suffix == ".ts":
        return "ts"
    if suffix in (".csv", ".tsv"):
        return "text"
    if suffix == ".txt":
        return "lines"
    raise ValueError(
        f"cannot tell the format of {source!r}; give `--format` (one of {', '.join(FORMATS[1:])})"
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
    encoding: str | None = None,
    ignore_columns: Sequence[str] = (),
    n_features: int | None = None,
) -> Examples:
    """Read one file (or a built-in set's training file) as :class:`Examples`.

    ``ignore_columns``, ``n_features``: what a long CSV read for predict leaves out (its
    label column by name, or by position when it has one column more than the model's
    ``n_features``; see :func:`read_long_csv`).

    ``lines`` is a plain text file with one unlabelled input a line (for predict).
    ``encoding`` None uses each reader's own default (UTF-8; Latin-1 for TREC).
    """
    fmt = format_of(source, format)
    enc = {} if encoding is None else {"encoding": encoding}
    if fmt == "text":
        return read_text_table(
            source, text_column=text_column, label_column=label_column, delimiter=delimiter, **enc
        )
    if fmt == "lines":
        text = read_text(resolve_path(source), encoding=encoding or "utf-8")
        items = [s.strip() for s in text.split("\n") if s.strip()]
        if not items:
            raise ValueError(f"{source}: no non-empty lines")
        return Examples(items, None, "text", [str(i) for i in range(len(items))])
    if fmt == "ts":
        path = resolve_path(source, f"{source}_TRAIN.ts") if source in ts_sets() else source
        return read_ts_examples(path, **enc)
    if fmt == "long":
        label = None if label_column is None else str(label_column)
        return read_long_csv(
            source, id_column=id_column, time_column=time_column, label_column=label,
            ignore_columns=ignore_columns, n_features=n_features, **enc,
        )  # fmt: skip
    if fmt == "rt-polarity":
        return read_rt_polarity(source, **enc)
    if fmt == "trec":
        return read_trec(source, fine=fine_labels, **enc)
    return load_digits_rows()


def official_test(
    source: str, fmt: str, *, fine_labels: bool = False, encoding: str | None = None
) -> Examples | None:
    """The official test file of a built-in set (``trec``'s ``TREC_10.label``, a UEA/UCR
    set's ``_TEST.ts``) read as :class:`Examples`; None for a source that has none."""
    enc = {} if encoding is None else {"encoding": encoding}
    if fmt == "trec":
        return read_trec(source, "TREC_10.label", fine=fine_labels, **enc)
    if fmt == "ts" and source in ts_sets():
        return read_ts_examples(resolve_path(source, f"{source}_TEST.ts"), **enc)
    return None


class ClassifyData(NamedTuple):
    """The sets :func:`split_data` makes.

    Attributes:
        train: the training examples.
        val: the validation examples, or None (see ``note``).
        test: the test examples, or None.
        note: why there is no validation set (empty when there is one).
    """

    train: Examples
    val: Examples | None
    test: Examples | None
    note: str


def split_data(
    source: str,
    *,
    test_source: str | None = None,
    val_source: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    min_val: int = 1,
    seed: int = 0,
    **read_options: Any,
) -> ClassifyData:
    """Train / validation / test examples (see the module docstring for the rules).

    Args:
        source: the training data (a file or a built-in set's name).
        test_source, val_source: official test / validation files, read like ``source``.
        val_fraction: the stratified share of each class held out for validation.
        test_fraction: the stratified share held out for test when there is no test file.
        min_val: the smallest hold-out worth selecting a checkpoint on (else none).
        seed: seed of the splits.
        read_options: passed to :func:`read_inputs`.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
        raise ValueError(
            f"`val_fraction`/`test_fraction` must be in [0, 1), got {val_fraction}/{test_fraction}"
        )
    fmt = format_of(source, read_options.get("format", "auto"))
    data = read_inputs(source, **read_options)
    if data.labels is None and fmt == "lines":
        raise ValueError(
            f"{source}: a plain text file is read as unlabelled lines (for predict); training "
            "needs labels: a CSV/TSV with a text and a label column, a .ts file or a "
            "long-format CSV (see `--format`)"
        )
    if data.labels is None:
        raise ValueError(f"{source}: training data needs labels (`--label-column`)")
    check_classes(data.labels, source=str(source))
    if test_source is not None:
        test = read_inputs(test_source, **read_options)
    else:
        opts = {k: read_options[k] for k in ("fine_labels", "encoding") if k in read_options}
        test = official_test(source, fmt, **opts)
    if test is None and test_fraction > 0:
        rest, held = stratified_split(data.labels, (1 - test_fraction, test_fraction), seed=seed)
        test = data.subset(held) if held else None
        data = data.subset(rest)
    assert data.labels is not None
    if val_source is not None:
        train, val, note = data, read_inputs(val_source, **read_options), ""
    else:
        hold = validation_split(data.labels, val_fraction, seed=seed, min_size=min_val)
        train = data.subset(hold.train)
        val = data.subset(hold.val) if hold.val is not None else None
        note = hold.reason
    logger.info(
        "examples: %d train, %d val, %d test",
        len(train),
        len(val) if val is not None else 0,
        len(test) if test is not None else 0,
    )
    return ClassifyData(train, val, test, note)


def load_data(source: str, **options: Any) -> tuple[Examples, Examples | None, Examples | None]:
    """``(train, val, test)`` of :func:`split_data` (the reason for a missing validation
    set is logged as a warning)."""
    split = split_data(source, **options)
    if split.note:
        logger.warning("%s", split.note)
    return split.train, split.val, split.test


def source_files(source: str, fmt: str, *, test: bool = False) -> list[Path]:
    """The files :func:`read_inputs` reads for ``source`` in format ``fmt`` (with ``test``:
    those :func:`official_test` reads, ``[]`` when it has none); ``[]`` for data without
    a file (``digits``). For the checksums a run stores (:mod:`rnnkit.data.digest`)."""
    fmt = format_of(source, fmt)
    if test:
        if fmt == "trec":
            return [resolve_path(source, "TREC_10.label")]
        if fmt == "ts" and source in ts_sets():
            return [resolve_path(source, f"{source}_TEST.ts")]
        return []
    if fmt == "digits":
        return []
    if fmt == "rt-polarity":
        return [resolve_path(source, f"rt-polarity.{label}") for label in ("pos", "neg")]
    if fmt == "trec":
        return [resolve_path(source, "train_5500.label")]
    if fmt == "ts" and source in ts_sets():
        return [resolve_path(source, f"{source}_TRAIN.ts")]
    return [resolve_path(source)]


def run_files(info: Mapping[str, Any]) -> dict[str, Path]:
    """``{role: file}`` of a run's data (its ``data`` section): the training source's
    files, the validation file and the test file (a built-in set's official one when none
    was given); ``train:<name>`` for a source of several files. A source not found: none."""
    fmt, source, test = info.get("format", "auto"), info.get("source"), info.get("test_data")
    parts = {"train": (source, False), "val": (info.get("val_data"), False)}
    parts["test"] = (test or source, test is None)
    out = {}
    for role, (name, official) in parts.items():
        try:
            paths = source_files(name, fmt, test=official) if name else []
        except (OSError, ValueError):
            continue
        out.update({role if len(paths) == 1 else f"{role}:{p.name}": p for p in paths})
    return out


def check_run_data(info: Mapping[str, Any], data: str, fmt: str) -> None:
    """Warn when ``data`` is read from one of the run's own files and that file changed
    since training (its sha256 differs from the one in config.json)."""
    stored = stored_digests(info)
    try:
        reading = (source_files(data, fmt, test=True) or source_files(data, fmt)) if stored else []
    except (OSError, ValueError):
        return
    if reading:
        check_digests(run_files(info), stored, reading=reading)
