"""Sequence classification, end to end: data -> network -> Trainer -> metrics.

Python API: :class:`~rnnkit.tasks.classify_task.Classifier` (a
:class:`~rnnkit.tasks.run.TaskRun`: fit / evaluate / predict / load), kept apart from the
plain ``nn.Module`` (:class:`~rnnkit.models.classifier.SequenceClassifier`,
:class:`~rnnkit.models.lstm_fcn.LSTMFCN`). CLI verbs ``rnnkit classify train|eval|predict``
are the plain functions :func:`train`, :func:`evaluate` and :func:`predict` below; their
docstrings are the ``--help``.

Defaults come from the presets in ``tasks/presets/classify/`` (``rnnkit classify presets``):
``default`` (an LSTM classifier) for text, ``series`` (LSTM-FCN on z-normalised series) for
series data (``.ts``, long CSV, digits); every flag left unset takes the preset's value.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.data.classification import Examples, save_json
from rnnkit.data.classify_sources import (
    FORMATS,
    check_run_data,
    format_of,
    load_data,
    official_test,
    read_inputs,
    run_files,
    split_data,
)
from rnnkit.data.digest import DIGESTS, file_digests
from rnnkit.metrics.classification import format_confusion, format_report
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.tasks.classify_task import CLOSED_FORM, Classifier, model_keys
from rnnkit.tasks.flags import (
    given,
    layer_overrides,
    preset_help,
    preset_values,
    shared_docs,
    train_overrides,
)
from rnnkit.tasks.presets import load_preset
from rnnkit.tasks.pretrained import Pretrained
from rnnkit.train import TrainConfig

__all__ = ["FORMATS", "Classifier", "evaluate", "load_data", "predict", "read_inputs", "train"]

logger = logging.getLogger(__name__)

SERIES_FORMATS = ("ts", "long", "digits")


def default_preset(data: str, format: str = "auto", arch: str | None = None) -> str:
    """``series`` for series data (``.ts``, long CSV, digits), else ``default``; with an
    ``--arch`` that trains by gradient on series data, ``lstm-fcn`` (``series``' closed-form
    fit sets no training length)."""
    if format_of(data, format) not in SERIES_FORMATS:
        return "default"
    return "series" if arch in (None, *CLOSED_FORM) else "lstm-fcn"


def _run_of(run: str | None, run_dir: str | None) -> str:
    """``--run``, or the older ``--run-dir`` spelling of a verb that reads a run."""
    if run_dir is not None:
        logger.warning(
            "DeprecationWarning: `--run-dir` of this verb is now `--run`; the old spelling "
            "will be removed"
        )
        run = run if run is not None else run_dir
    if run is None:
        raise ValueError("`--run` is required: a run directory written by `rnnkit classify train`")
    return run


def _summary(title: str, report: dict[str, Any], labels: Sequence[str]) -> str:
    lines = [title, format_report(report), "", format_confusion(report["confusion"], labels)]
    if report.get("unseen_label_examples"):
        lines.append(
            f"left out: {report['unseen_label_examples']} examples whose label was "
            "never seen in training"
        )
    if report.get("tokens"):
        lines.append(f"unknown tokens: {report['unk_tokens']} of {report['tokens']} -> <unk>")
    return "\n".join(lines)


def _write_report(run_dir: Path, name: str, report: dict[str, Any], labels: Sequence[str]) -> None:
    from rnnkit.viz.confusion import plot_confusion

    save_json(report, run_dir / f"{name}.json")
    plot_confusion(
        report["confusion"], labels, run_dir / f"{name}-confusion.png", title=f"{name} confusion"
    )


def _features(data: Examples) -> int:
    return int(data.items[0].shape[1]) if data.items else 0


def _help_values(preset: str) -> dict[str, Any]:
    sections = load_preset("classify", preset)
    if sections["classify"]["arch"] in CLOSED_FORM:  # no training flags: shown as n/a
        sections.pop("train")
        return {**{k: "n/a" for k in _GRADIENT_FLAGS}, **preset_values(sections)}
    return preset_values(sections, TrainConfig, ClassifierConfig)


_GRADIENT_FLAGS = (
    *("lr", "weight_decay", "clip_norm", "max_steps", "select", "patience", "cell"),
    *("hidden_size", "num_layers", "bidirectional", "dropout", "embedding_dim", "pooling"),
    *("token_dropout", "subwords", "adversarial", "virtual_adversarial", "ema"),
)
"""Flags a closed-form fit (``series``' MiniRocket) does not use."""


@preset_help(_help_values("lstm-fcn"), "lstm-fcn")  # series, gradient-trained
@preset_help(_help_values("series"), "series")  # series data (.ts, long CSV, digits)
@preset_help(_help_values("default"), "default")  # text
@shared_docs
def train(
    data: str,
    run_dir: str = "runs/classify",
    *,
    preset: str | None = None,
    arch: str | None = None,
    format: str = "auto",
    val_data: str | None = None,
    test_data: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    delimiter: str | None = None,
    encoding: str | None = None,
    fine_labels: bool = False,
    cell: str | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    dropout: float | None = None,
    num_heads: int | None = None,
    chunk_size: int | None = None,
    forget_gate: str | None = None,
    embedding_dim: int | None = None,
    embeddings: str | None = None,
    freeze_embeddings: bool | None = None,
    pooling: str | None = None,
    token_dropout: float | None = None,
    num_features: int | None = None,
    znorm: bool | str | None = None,
    tokenizer: str | None = None,
    min_freq: int | None = None,
    max_vocab: int | None = None,
    subwords: int | None = None,
    class_weights: str | None = None,
    batch_size: int | None = None,
    bucket: bool | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    clip_norm: float | None = None,
    patience: int | None = None,
    select: str | None = None,
    adversarial: float | None = None,
    virtual_adversarial: float | None = None,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
    ema: float | None = None,
) -> str:
    """Train a sequence classifier and report validation and test metrics.

    Flags left unset take the preset's value (``rnnkit classify presets`` lists them).
    Series data get MiniRocket (``series``): no optimiser steps, its ridge head fitted in
    closed form on every training series in seconds to a minute on one CPU core, so the
    step, learning-rate and selection flags do not apply. Gradient-trained networks (text;
    ``--arch rnn`` or ``lstm-fcn`` for series) run up to the preset's step budget (3,000
    optimiser steps for text, 1,500 for lstm-fcn: a few minutes on one CPU core) and stop
    early when validation accuracy has not improved for ``patience`` evaluations (one per
    epoch); the checkpoint with the best validation accuracy is kept. With too little data
    for a validation set (fewer than 10 held-out examples) everything trains and the last
    checkpoint is kept; the output says so.

    Args:
        data: a file (CSV/TSV of label and text, a .ts file, a long-format CSV) or a
            built-in set: rt-polarity, trec, digits, or a UEA/UCR set such as
            JapaneseVowels, BasicMotions, ACSF1, PLAID.
        {run flags}
        preset: default (LSTM classifier), series (MiniRocket) or lstm-fcn (LSTM-FCN);
            default: series for series data (.ts, long CSV, digits; lstm-fcn with an
            `--arch` trained by gradient), default for text.
        arch: rnn (recurrent classifier, text or series), lstm-fcn or minirocket (random
            convolution features and a ridge head fitted in closed form; series only).
        format: auto, text, ts, long, rt-polarity, trec or digits.
        val_data: a separate validation file (an official dev split) instead of a hold-out.
        test_data: a separate test file (built-ins with an official test split use it).
        text_column: text column (name, or index with no header) of a text table.
        label_column: label column of a text table or a long CSV.
        delimiter: field separator of a text table (default from the extension).
        encoding: text encoding of the data files (default UTF-8; Latin-1 for trec).
        fine_labels: trec only: the 50 fine classes instead of the 6 coarse ones.
        {layer flags}
        embedding_dim: rnn arch: size of the token embedding or of the input projection.
        {embedding flags}
        pooling: last, mean, max or attention (all masked).
        token_dropout: text only: in training, replace each token by <unk> with this
            probability (word dropout), so words never seen in training meet a trained
            <unk> vector.
        num_features: minirocket: features (84 kernels, each at several dilations and
            biases), rounded down to a multiple of 84.
        znorm: z-normalise each series by its own mean and std: true, false, level (lstm-fcn:
            z-normalise inside the network, whose head also reads each series' level and
            scale, which z-normalising throws away, and 32 quantiles of its values) or auto
            (level for univariate series with lstm-fcn, false with minirocket, true for
            other univariate series, false for multivariate ones, whose channel levels
            often carry the class).
        tokenizer: text only: word-punct, word or char.
        min_freq: text only: keep tokens seen at least this often in training.
        max_vocab: text only: vocabulary size limit.
        subwords: text only: hash buckets of character 3- to 5-grams added to each word's
            vector (fastText's subwords), so words never seen in training keep their
            spelling's meaning; 0: none.
        class_weights: none, or balanced (weigh the loss against class imbalance).
        batch_size: sequences per batch.
        bucket: sort batches into length buckets (batches always run packed).
        epochs: passes over the training data (default: none, the step budget decides).
        lr: learning rate (Adam).
        weight_decay: L2 weight decay.
        clip_norm: gradient-norm clipping.
        patience: evaluations without improvement before stopping early.
        select: the validation figure that picks the kept checkpoint: accuracy, macro_f1
            (over the whole validation set; for imbalanced classes) or loss.
        adversarial: rnn arch: adversarial training; each step also trains on the batch
            with every sequence's embedded inputs moved by this fraction of their norm in
            the direction that most raises the loss (Miyato et al. 2017); 0: off.
        virtual_adversarial: rnn arch: virtual adversarial training; each step also adds how
            far the model's prediction moves when the embedded inputs move by this fraction
            of their norm in the direction that moves it most (no labels used; Miyato et
            al. 2016, 2017); 0: off.
        val_fraction: stratified share of each class held out for validation.
        test_fraction: stratified share held out for test (when there is no test file).
    """
    name = preset or default_preset(data, format, arch)
    p = load_preset("classify", name)
    d = {**p.get("data", {}), **given(val_fraction=val_fraction, test_fraction=test_fraction)}
    read = given(format=format, text_column=text_column, label_column=label_column)
    read.update(given(delimiter=delimiter, fine_labels=fine_labels, encoding=encoding))
    pre = Pretrained.from_flags(file=embeddings, freeze=freeze_embeddings)
    split = split_data(data, test_source=test_data, val_source=val_data, seed=seed, **d, **read)
    if pre is not None and split.train.kind != "text":
        raise ValueError(
            f"`--embeddings` needs text data, got series data ({data}): its inputs go through "
            "a linear projection, not an embedding table; leave `--embeddings` out"
        )
    chosen = arch or p.get("classify", {}).get("arch", "rnn")
    keys = model_keys(chosen)
    model = {
        **{k: v for k, v in p.get("model", {}).items() if k in keys},  # another --arch's
        **layer_overrides(
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            num_heads=num_heads,
            chunk_size=chunk_size,
            forget_gate=forget_gate,
        ),
        **given(embedding_dim=embedding_dim, pooling=pooling, num_features=num_features),
        **given(token_dropout=token_dropout),
        **(pre.model_dim(embedding_dim) if pre else {}),  # the file's E unless given
    }
    misplaced = sorted(set(model) - keys)
    if chosen in CLOSED_FORM and misplaced:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in misplaced)
        raise ValueError(
            f"{flags} set a recurrent network, but --arch {chosen} has none (it takes "
            f"{', '.join(sorted(keys))}); use --preset lstm-fcn for a recurrent series model"
        )
    opts = {
        **p.get("classify", {}),
        **p.get("encoder", {}),
        **given(arch=arch, znorm=znorm, tokenizer=tokenizer, min_freq=min_freq),
        **given(max_vocab=max_vocab, class_weights=class_weights, batch_size=batch_size),
        **given(subwords=subwords),
        **given(bucket=bucket, select=select, adversarial=adversarial),
        **given(virtual_adversarial=virtual_adversarial),
    }
    perturbations = {"adversarial": adversarial, "virtual_adversarial": virtual_adversarial}
    for key, flag in perturbations.items():
        if chosen != "rnn" and flag is None:  # the text preset's, under another --arch
            opts.pop(key, None)
    run_flags = train_overrides(
        device=device,
        max_steps=max_steps,
        max_time=max_time,
        progress=progress,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        ema=ema,
        epochs=epochs,
    )
    tc = {
        **p.get("train", {}),
        **given(lr=lr, weight_decay=weight_decay, clip_norm=clip_norm),
        **given(early_stopping_patience=patience),
        **run_flags,
    }
    opts["znorm"] = _resolve_znorm(opts.get("znorm", False), opts["arch"], split.train, model)
    clf = Classifier(model, tc, seed=seed, **opts)
    clf.data_info = {"source": data, **read, "preset": name, "val_data": val_data}
    clf.data_info.update(test_data=test_data, seed=seed, **d)
    clf.data_info[DIGESTS] = file_digests(run_files(clf.data_info))
    clf.pretrained = pre
    result = clf.fit(split.train, split.val, run_dir=run_dir, resume=resume)
    report = _train_report(clf, result, split, Path(run_dir))
    return f"{report}\n{pre.summary()}" if pre else report


LEVEL_QUANTILES = 32
"""Quantiles per channel the head reads with ``znorm`` level (docs/classification.md)."""


def _resolve_znorm(znorm: Any, arch: str, train: Examples, model: dict[str, Any]) -> bool:
    """The data-level ``znorm`` switch; ``level`` (and ``auto`` on univariate series with
    lstm-fcn) moves the z-normalisation into the network instead (``model["normalize"]``
    becomes ``series+level``), so its head can also read what each series' statistics say:
    its level and scale, and (``quantiles``, :data:`LEVEL_QUANTILES` unless set) its value
    distribution. On multivariate series the quantiles of raw channels lowered
    JapaneseVowels' accuracy (0.972 -> 0.945 over 3 seeds), so they come with ``level``
    only."""
    if znorm not in (True, False, "auto", "level"):
        raise ValueError(f"`znorm` must be true, false, level or auto, got {znorm!r}")
    univariate = train.kind == "numeric" and _features(train) == 1
    if znorm == "auto" and arch in CLOSED_FORM:  # minirocket: as read, the level kept
        znorm = False
    elif znorm == "auto":  # univariate: on (the UCR convention); multivariate: as read
        znorm = "level" if univariate and arch == "lstm-fcn" else univariate
    if znorm == "level":
        if arch != "lstm-fcn" or train.kind != "numeric":
            raise ValueError(
                f"`znorm` level needs series data and `--arch lstm-fcn`, got {train.kind} data "
                f"and arch {arch!r}"
            )
        model["normalize"] = "series+level"
        model.setdefault("quantiles", LEVEL_QUANTILES)
        return False
    return bool(znorm)


def _train_report(clf: Classifier, result: dict[str, Any], split: Any, out: Path) -> str:
    assert clf.labels is not None and clf.model is not None
    names = clf.labels.names
    n_params = sum(p.numel() for p in clf.model.parameters())
    closed = clf.options["arch"] in CLOSED_FORM
    done = "fitted" if closed else f"trained {result['step']} steps"
    parts = [
        f"run: {out}  ({len(split.train)} train examples, {len(names)} classes, "
        f"{n_params:,} parameters, {clf.options['arch']})",
        f"{done} in {result.get('elapsed', 0.0):.0f} s ({result['stopped']}); training "
        f"accuracy {result['train_accuracy']:.4f} (chance {result['chance']:.4f})",
    ]
    if not closed:
        parts.append(
            f"padded steps: {100 * result['padded_fraction_bucketed']:.1f}% of the grid "
            f"bucketed vs {100 * result['padded_fraction_random']:.1f}% random; packing "
            "computes none of them"
        )
    if "val" in result:
        _write_report(out, "val", result["val"], names)
        best = f"best {clf.options['select']} at step {result['best_step']}"
        which = "reported only" if closed else best
        parts.append(
            f"validation ({len(split.val)} examples; {which}): accuracy "
            f"{result['val']['accuracy']:.4f}  macro-F1 {result['val']['macro_f1']:.4f}"
        )
    elif not closed:
        parts.append(f"{split.note or 'no validation set'}; kept the last checkpoint")
    if split.test is not None and len(split.test):
        report = clf.evaluate(split.test)
        _write_report(out, "test", report, names)
        parts.append(_summary(f"test: {len(split.test)} examples", report, names))
    return "\n".join(parts)


def _eval_examples(
    clf: Classifier, data: str, format: str, fine_labels: bool, **read: Any
) -> Examples:
    fmt = format_of(data, format)
    check_run_data(clf.data_info, data, fmt)
    enc = {"encoding": read["encoding"]} if read.get("encoding") else {}
    ex = official_test(data, fmt, fine_labels=fine_labels, **enc)
    if ex is None:
        ex = read_inputs(data, format=format, fine_labels=fine_labels, **given(**read))
    return ex


def evaluate(
    run: str | None = None,
    data: str | None = None,
    *,
    format: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    delimiter: str | None = None,
    encoding: str | None = None,
    fine_labels: bool = False,
    which: str = "best",
    strict: bool = False,
    run_dir: str | None = None,
) -> str:
    """Evaluate a trained classifier on labelled data; writes eval.json and eval-confusion.png.

    Args:
        run: a run directory written by ``rnnkit classify train``.
        data: labelled data in any format ``train`` reads (the whole file is evaluated;
            for built-in sets with an official test file, that file).
        format: auto, text, ts, long, rt-polarity, trec or digits.
        text_column: text column of a text table.
        label_column: label column of a text table or a long CSV.
        delimiter: field separator of a text table.
        encoding: text encoding of the data file.
        fine_labels: trec only: the 50 fine classes.
        which: best or last checkpoint.
        strict: a label never seen in training is an error (default: left out and counted).
        run_dir: deprecated spelling of ``run``.
    """
    path = _run_of(run, run_dir)
    if data is None:
        raise ValueError("`--data` is required: labelled data to evaluate on")
    clf = Classifier.load(path, which)
    ex = _eval_examples(
        clf,
        data,
        format,
        fine_labels,
        text_column=text_column,
        label_column=label_column,
        delimiter=delimiter,
        encoding=encoding,
    )
    report = clf.evaluate(ex, strict=strict)
    assert clf.labels is not None
    _write_report(Path(path), "eval", report, clf.labels.names)
    return _summary(f"{data} ({len(ex)} examples):", report, clf.labels.names)


def predict(
    run: str | None = None,
    data: str | None = None,
    output: str = "predictions.csv",
    *,
    format: str = "auto",
    text_column: str = "text",
    delimiter: str | None = None,
    encoding: str | None = None,
    which: str = "best",
    run_dir: str | None = None,
    backend: str = "torch",
) -> str:
    """Predict labels and class probabilities for new inputs; writes a CSV.

    Args:
        run: a run directory written by ``rnnkit classify train``.
        data: new inputs: a text file with one input a line (.txt), a CSV/TSV with a text
            column, a .ts file or a long-format CSV (labels, if any, are ignored).
        output: the CSV written: id, label, then one probability column per class.
        format: auto, lines, text, ts or long.
        text_column: text column of a text table.
        delimiter: field separator of a text table.
        encoding: text encoding of the data file.
        which: best or last checkpoint.
        run_dir: deprecated spelling of ``run``.
        backend: torch, onnx (onnxruntime) or numpy (rnnkit's NumPy engine).
    """
    from rnnkit.tasks.backends import runtime

    path = _run_of(run, run_dir)
    if data is None:
        raise ValueError("`--data` is required: the inputs to classify")
    clf = runtime(Classifier.load(path, which), backend)
    assert clf.encoder is not None and clf.labels is not None
    fmt = format_of(data, format)
    if clf.encoder.kind == "numeric" and fmt == "text":
        fmt = "long"  # a CSV for a numeric model is long-format
    long = {}
    if fmt == "long":  # a labelled file's label column is not a feature
        label = clf.data_info.get("label_column") or "label"
        long = {"ignore_columns": [label], "n_features": clf.encoder.input_size}
    ex = read_inputs(
        data,
        format=fmt,
        text_column=text_column,
        label_column=None,
        delimiter=delimiter,
        encoding=encoding,
        **long,
    )
    labels, probs = clf.predict(ex)
    _write_predictions(Path(output), ex, labels, probs, clf.labels.names)
    note = clf.encoder.unknown_note()
    return f"wrote {len(labels)} predictions to {output}" + (f" ({note})" if note else "")


def _write_predictions(
    path: Path, ex: Examples, labels: list[str], probs: Any, names: Sequence[str]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", *[f"p_{n}" for n in names]])
        for i, (lab, p) in enumerate(zip(labels, probs, strict=True)):
            w.writerow([ex.ids[i], lab, *[f"{v:.6f}" for v in p]])
    os.replace(tmp, path)
