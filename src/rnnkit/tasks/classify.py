"""Sequence classification, end to end: data -> SequenceClassifier -> Trainer -> metrics.

Python API: :class:`Classifier` (fit / evaluate / predict / load), kept apart from the plain
``nn.Module`` (:class:`~rnnkit.models.classifier.SequenceClassifier`). CLI verbs
``rnnkit classify train|eval|predict`` are the plain functions :func:`train`,
:func:`evaluate` and :func:`predict` below; their docstrings are the ``--help``.

A run directory holds everything needed to rebuild the model and its data transforms:
the trainer's ``config.json``, ``best/`` and ``last/`` checkpoints and ``metrics.csv``,
plus ``classifier.json`` (model shape and data options), ``labels.json`` (class names)
and ``inputs.json`` (vocabulary or feature scaling).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import check_keys
from rnnkit.data.bucketing import Batch, BucketLoader
from rnnkit.data.classification import (
    Examples,
    InputEncoder,
    LabelMap,
    balanced_class_weights,
    save_json,
)
from rnnkit.metrics.classification import classification_report, format_confusion, format_report
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.classify_data import (
    FORMATS,
    format_of,
    load_data,
    official_test,
    read_inputs,
)

__all__ = ["FORMATS", "Classifier", "evaluate", "load_data", "predict", "read_inputs", "train"]

logger = logging.getLogger(__name__)

_DATA_KEYS = {"vocab_size", "input_size", "num_classes", "padding_idx"}


class Classifier:
    """The user-facing classifier: fit on examples, evaluate, predict, save and load.

    Args:
        model: :class:`ClassifierConfig` options except those set from the data
            (``num_classes``, ``vocab_size``, ``input_size``, ``padding_idx``).
        train: a ``TrainConfig`` or a dict of its options (epochs, lr, device, ...).
        batch_size: sequences per batch.
        bucket: sort batches into length buckets (the model always runs packed).
        class_weights: ``"balanced"`` weighs the loss by ``N / (C * count_c)``.
        tokenizer, lowercase, min_freq, max_vocab: text inputs (see :class:`InputEncoder`).
        standardize: scale numeric features with training statistics.
        seed: seed of batch shuffling.

    >>> clf = Classifier(model={"hidden_size": 16}, train={"epochs": 1})  # doctest: +SKIP
    >>> clf.fit(train_examples, val_examples, run_dir="runs/demo")        # doctest: +SKIP
    >>> labels, probs = clf.predict(new_examples)                         # doctest: +SKIP
    """

    def __init__(
        self,
        model: dict[str, Any] | None = None,
        train: Any = None,
        *,
        batch_size: int = 32,
        bucket: bool = True,
        class_weights: Literal["none", "balanced"] = "none",
        tokenizer: str = "word-punct",
        lowercase: bool = True,
        min_freq: int = 1,
        max_vocab: int | None = None,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        model = dict(model or {})
        known = {f.name for f in fields(ClassifierConfig)} - _DATA_KEYS
        check_keys(model, known, what="or data-derived `model`")
        if class_weights not in ("none", "balanced"):
            raise ValueError(f"`class_weights` must be 'none' or 'balanced', got {class_weights!r}")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        self.model_options = model
        self.train_config = train
        self.options = {
            "batch_size": batch_size,
            "bucket": bucket,
            "class_weights": class_weights,
            "seed": seed,
        }
        self.encoder_options = {
            "tokenizer": tokenizer,
            "lowercase": lowercase,
            "min_freq": min_freq,
            "max_size": max_vocab,
            "standardize": standardize,
        }
        self.labels: LabelMap | None = None
        self.encoder: InputEncoder | None = None
        self.module: SequenceClassifier | None = None
        self.weights: Tensor | None = None
        self.padding: dict[str, float] = {}

    # ------------------------------------------------------------------ training
    def _loader(self, inputs: list[Tensor], targets: Tensor | None, train: bool) -> BucketLoader:
        o = self.options
        return BucketLoader(
            inputs,
            targets,
            o["batch_size"],
            shuffle=train,
            bucket=o["bucket"] or not train,
            seed=o["seed"],
        )

    def _step(self, model: SequenceClassifier, batch: Batch, state: Any) -> Any:
        from rnnkit.train import StepOutput

        logits = model(batch.x, batch.lengths)  # (B, C)
        weight = None if self.weights is None else self.weights.to(logits.device)
        loss = F.cross_entropy(logits, batch.y, weight=weight)
        acc = (logits.argmax(-1) == batch.y).float().mean()
        return StepOutput(loss, int(batch.y.numel()), None, {"acc": float(acc)})

    def fit(
        self,
        train: Examples,
        val: Examples | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        """Fit the label map, the input encoder and the network on ``train``.

        Returns the trainer's summary plus ``padded_fraction_bucketed`` /
        ``padded_fraction_random`` (padded steps a padded run would compute; packing skips
        them all) and, with ``val``, the validation report of the best checkpoint.
        """
        from rnnkit.train import TrainConfig, Trainer, load_checkpoint

        if train.labels is None:
            raise ValueError("`train` examples need labels")
        if run_dir is not None:
            for name in ("last", "best"):
                if (Path(run_dir) / name).exists():
                    raise FileExistsError(
                        f"{run_dir} already holds a run ({name}/); choose another `run_dir`"
                    )
        self.labels = LabelMap.fit(train.labels)
        self.encoder = InputEncoder(train.kind, **self.encoder_options).fit(train)
        x_train = self.encoder.encode(train)
        y_train, _ = self.labels.encode(train.labels)
        cfg = self._model_config()
        self.module = SequenceClassifier(cfg)
        if self.options["class_weights"] == "balanced":
            self.weights = balanced_class_weights(y_train, len(self.labels))
        train_loader = self._loader(x_train, y_train, train=True)
        random = BucketLoader(
            x_train, y_train, self.options["batch_size"], bucket=False, seed=self.options["seed"]
        )
        self.padding = {
            "padded_fraction_bucketed": train_loader.padding_stats()["padded_fraction"],
            "padded_fraction_random": random.padding_stats()["padded_fraction"],
        }
        logger.info(
            "padded steps: %.1f%% of the grid with bucketing, %.1f%% with random "
            "batches; packing computes none of them",
            100 * self.padding["padded_fraction_bucketed"],
            100 * self.padding["padded_fraction_random"],
        )
        val_loader = None
        if val is not None and len(val):
            y_val, kept = self.labels.encode(val.labels or [], on_unknown="skip")
            if len(kept):
                val_loader = self._loader(self.encoder.encode(val.subset(kept)), y_val, False)
        tc = self.train_config
        tc = TrainConfig.from_dict(tc) if isinstance(tc, dict) else (tc or TrainConfig())
        if run_dir is not None:
            self.save(run_dir)
        trainer = Trainer(
            self.module,
            tc,
            self._step,
            run_dir=run_dir,
            run_config={"task": "classify", **self._run_config()},
        )
        result = trainer.fit(train_loader, val_loader)
        if run_dir is not None and val_loader is not None:
            state, _ = load_checkpoint(run_dir, "best")
            self.module.load_state_dict(state)
        out = {**result, **self.padding}
        if val is not None and val_loader is not None:
            out["val"] = self.evaluate(val)
        return out

    def _model_config(self) -> ClassifierConfig:
        assert self.labels is not None and self.encoder is not None
        data = {"num_classes": len(self.labels)}
        if self.encoder.kind == "text":
            data.update(vocab_size=self.encoder.vocab_size, padding_idx=self.encoder.vocab.pad_id)
        else:
            data["input_size"] = self.encoder.input_size
        return ClassifierConfig.from_dict({**self.model_options, **data})

    def _run_config(self) -> dict[str, Any]:
        assert self.module is not None
        return {
            "model": self.module.config.to_dict(),
            "options": self.options,
            "encoder": self.encoder_options,
        }

    # ------------------------------------------------------------------ saving
    def save(self, run_dir: str | os.PathLike[str]) -> None:
        """Write ``classifier.json``, ``labels.json`` and ``inputs.json`` (the weights are the
        trainer's checkpoints)."""
        if self.module is None or self.labels is None or self.encoder is None:
            raise ValueError("the classifier is not fitted")
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_json(
            {"format": "rnnkit.classifier", **self._run_config()}, run_dir / "classifier.json"
        )
        save_json(self.labels.to_dict(), run_dir / "labels.json")
        save_json(self.encoder.to_dict(), run_dir / "inputs.json")

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], which: str = "best") -> Classifier:
        """Rebuild a fitted classifier from a run directory (``best`` or ``last`` weights)."""
        from rnnkit.train import load_checkpoint

        run_dir = Path(run_dir)
        path = run_dir / "classifier.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; is {run_dir} a classify run directory?")
        saved = json.loads(path.read_text())
        if saved.get("format") != "rnnkit.classifier":
            raise ValueError(f"{path}: not a classifier config (format {saved.get('format')!r})")
        o, e = saved["options"], saved["encoder"]
        clf = cls(
            batch_size=o["batch_size"],
            bucket=o["bucket"],
            class_weights=o["class_weights"],
            seed=o["seed"],
            tokenizer=e["tokenizer"],
            lowercase=e["lowercase"],
            min_freq=e["min_freq"],
            max_vocab=e["max_size"],
            standardize=e["standardize"],
        )
        clf.labels = LabelMap.from_dict(json.loads((run_dir / "labels.json").read_text()))
        clf.encoder = InputEncoder.from_dict(json.loads((run_dir / "inputs.json").read_text()))
        clf.module = SequenceClassifier(ClassifierConfig.from_dict(saved["model"]))
        state, _ = load_checkpoint(run_dir, which)
        clf.module.load_state_dict(state)
        clf.module.eval()
        return clf

    # ------------------------------------------------------------------ inference
    def predict_proba(self, data: Examples) -> np.ndarray:
        """Class probabilities ``(N, C)`` in input order."""
        if self.module is None or self.encoder is None or self.labels is None:
            raise ValueError("the classifier is not fitted; call fit() or Classifier.load()")
        inputs = self.encoder.encode(data)
        model = self.module
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        probs = torch.empty(len(data), len(self.labels))
        try:
            with torch.no_grad():
                for batch in self._loader(inputs, None, train=False):
                    logits = model(batch.x.to(device), batch.lengths)  # (B, C)
                    probs[batch.index] = torch.softmax(logits.float(), -1).cpu()
        finally:
            model.train(was_training)
        return probs.numpy()

    def predict(self, data: Examples) -> tuple[list[str], np.ndarray]:
        """Predicted class names (N,) and probabilities ``(N, C)``."""
        probs = self.predict_proba(data)
        assert self.labels is not None
        return [self.labels.names[i] for i in probs.argmax(1)], probs

    def evaluate(self, data: Examples, *, strict: bool = False) -> dict[str, Any]:
        """Accuracy, macro-F1, per-class precision/recall and the confusion matrix.

        Args:
            data: labelled examples.
            strict: a label never seen in training is an error; otherwise such examples
                are left out and counted in ``unseen_label_examples``.

        Returns:
            :func:`~rnnkit.metrics.classification.classification_report` plus
            ``unseen_label_examples``, ``unk_tokens`` and ``tokens`` (text only).
        """
        if self.labels is None:
            raise ValueError("the classifier is not fitted; call fit() or Classifier.load()")
        if data.labels is None:
            raise ValueError("evaluate needs labelled examples (`label_column`)")
        y, kept = self.labels.encode(data.labels, on_unknown="error" if strict else "skip")
        unseen = len(data) - len(kept)
        if unseen:
            missing = sorted({lab for lab in data.labels if lab not in self.labels.names})
            logger.warning(
                "%d examples have labels never seen in training %s; left out", unseen, missing[:10]
            )
        if not kept:
            raise ValueError("no example has a label seen in training; nothing to evaluate")
        probs = self.predict_proba(data.subset(kept))
        report = classification_report(y.numpy(), probs.argmax(1), self.labels.names)
        report["unseen_label_examples"] = unseen
        if self.encoder is not None and self.encoder.kind == "text":
            report["unk_tokens"] = self.encoder.last_unknown
            report["tokens"] = self.encoder.last_tokens
        return report


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
        report["confusion"],
        labels,
        run_dir / f"{name}-confusion.png",
        title=f"{name} confusion matrix",
    )


def train(
    data: str,
    run_dir: str = "runs/classify",
    *,
    format: str = "auto",
    test_data: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    delimiter: str | None = None,
    fine_labels: bool = False,
    cell: str = "lstm",
    embedding_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    pooling: str = "last",
    tokenizer: str = "word-punct",
    min_freq: int = 1,
    max_vocab: int | None = None,
    class_weights: str = "none",
    batch_size: int = 32,
    bucket: bool = True,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    clip_norm: float = 1.0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    device: str = "auto",
    seed: int = 0,
) -> str:
    """Train a sequence classifier and report validation and test metrics.

    Args:
        data: a file (CSV/TSV of label and text, a .ts file, a long-format CSV) or a
            built-in set: rt-polarity, trec, JapaneseVowels, BasicMotions, digits.
        run_dir: where the run is written (must not hold a run already).
        format: auto, text, ts, long, rt-polarity, trec or digits.
        test_data: a separate test file (built-ins with an official test split use it).
        text_column: text column (name, or index with no header) of a text table.
        label_column: label column of a text table or a long CSV.
        delimiter: field separator of a text table (default from the extension).
        fine_labels: trec only: the 50 fine classes instead of the 6 coarse ones.
        cell: rnn, rnn_relu, lstm, gru, lstm_ln, gru_ln (layer norm), mingru or minlstm.
        embedding_dim: size of the token embedding or of the input projection.
        hidden_size: size of the recurrent state.
        num_layers: stacked recurrent layers.
        bidirectional: add a reversed direction.
        dropout: dropout on inputs, between layers and before the head.
        pooling: last, mean, max or attention (all masked).
        tokenizer: text only: word-punct, word or char.
        min_freq: text only: keep tokens seen at least this often in training.
        max_vocab: text only: vocabulary size limit.
        class_weights: none, or balanced (weigh the loss against class imbalance).
        batch_size: sequences per batch.
        bucket: sort batches into length buckets (batches always run packed).
        epochs: passes over the training data.
        lr: learning rate (Adam).
        weight_decay: L2 weight decay.
        clip_norm: gradient-norm clipping.
        val_fraction: stratified share of the data held out for validation.
        test_fraction: stratified share held out for test (when there is no test file).
        device: auto, cpu or cuda.
        seed: seed of splits, initialisation and shuffling.
    """
    read = {
        "format": format,
        "text_column": text_column,
        "label_column": label_column,
        "delimiter": delimiter,
        "fine_labels": fine_labels,
    }
    tr, va, te = load_data(
        data,
        test_source=test_data,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        **read,
    )
    model = {
        "cell": cell,
        "embedding_dim": embedding_dim,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "dropout": dropout,
        "pooling": pooling,
    }
    train_cfg = {
        "epochs": epochs,
        "lr": lr,
        "weight_decay": weight_decay,
        "clip_norm": clip_norm,
        "device": device,
        "seed": seed,
        "progress": False,
    }
    if va is None:
        train_cfg["monitor"] = "train_loss"
    clf = Classifier(
        model,
        train_cfg,
        batch_size=batch_size,
        bucket=bucket,
        class_weights=class_weights,  # type: ignore[arg-type]
        tokenizer=tokenizer,
        min_freq=min_freq,
        max_vocab=max_vocab,
        seed=seed,
    )
    torch.manual_seed(seed)  # the trainer seeds too; this fixes the initialisation
    result = clf.fit(tr, va, run_dir=run_dir)
    out = Path(run_dir)
    save_json(
        {
            "data": data,
            **read,
            "test_data": test_data,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
        },
        out / "data.json",
    )
    assert clf.labels is not None
    names = clf.labels.names
    parts = [
        f"run: {run_dir}  ({len(tr)} train examples, {len(names)} classes, "
        f"{sum(p.numel() for p in clf.module.parameters()):,} parameters)",
        f"padded steps: {100 * result['padded_fraction_bucketed']:.1f}% of the grid "
        f"bucketed vs {100 * result['padded_fraction_random']:.1f}% random; packing "
        "computes none of them",
    ]
    if "val" in result:
        _write_report(out, "val", result["val"], names)
        parts.append(
            f"validation: accuracy {result['val']['accuracy']:.4f}  "
            f"macro-F1 {result['val']['macro_f1']:.4f}"
        )
    if te is not None and len(te):
        report = clf.evaluate(te)
        _write_report(out, "test", report, names)
        parts.append(_summary("test:", report, names))
    return "\n".join(parts)


def evaluate(
    run_dir: str,
    data: str,
    *,
    format: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    delimiter: str | None = None,
    fine_labels: bool = False,
    which: str = "best",
    strict: bool = False,
) -> str:
    """Evaluate a trained classifier on labelled data; writes eval.json and eval-confusion.png.

    Args:
        run_dir: a run directory written by ``rnnkit classify train``.
        data: labelled data in any format ``train`` reads (the whole file is evaluated;
            for built-in sets with an official test file, that file).
        format: auto, text, ts, long, rt-polarity, trec or digits.
        text_column: text column of a text table.
        label_column: label column of a text table or a long CSV.
        delimiter: field separator of a text table.
        fine_labels: trec only: the 50 fine classes.
        which: best or last checkpoint.
        strict: a label never seen in training is an error (default: left out and counted).
    """
    clf = Classifier.load(run_dir, which)
    ex = official_test(data, format_of(data, format), fine_labels=fine_labels)
    if ex is None:
        ex = read_inputs(
            data,
            format=format,
            text_column=text_column,
            label_column=label_column,
            delimiter=delimiter,
            fine_labels=fine_labels,
        )
    report = clf.evaluate(ex, strict=strict)
    assert clf.labels is not None
    _write_report(Path(run_dir), "eval", report, clf.labels.names)
    return _summary(f"{data} ({len(ex)} examples):", report, clf.labels.names)


def predict(
    run_dir: str,
    data: str,
    output: str = "predictions.csv",
    *,
    format: str = "auto",
    text_column: str = "text",
    delimiter: str | None = None,
    which: str = "best",
) -> str:
    """Predict labels and class probabilities for new inputs; writes a CSV.

    Args:
        run_dir: a run directory written by ``rnnkit classify train``.
        data: new inputs: a text file with one input a line (.txt), a CSV/TSV with a text
            column, a .ts file or a long-format CSV (labels, if any, are ignored).
        output: the CSV written: id, label, then one probability column per class.
        format: auto, lines, text, ts or long.
        text_column: text column of a text table.
        delimiter: field separator of a text table.
        which: best or last checkpoint.
    """
    clf = Classifier.load(run_dir, which)
    assert clf.encoder is not None and clf.labels is not None
    fmt = format_of(data, format)
    if clf.encoder.kind == "numeric" and fmt == "text":
        fmt = "long"  # a CSV for a numeric model is long-format
    ex = read_inputs(
        data, format=fmt, text_column=text_column, label_column=None, delimiter=delimiter
    )
    labels, probs = clf.predict(ex)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", *[f"p_{n}" for n in clf.labels.names]])
        for i, (lab, p) in enumerate(zip(labels, probs, strict=True)):
            w.writerow([ex.ids[i], lab, *[f"{v:.6f}" for v in p]])
    os.replace(tmp, path)
    msg = f"wrote {len(labels)} predictions to {path}"
    if clf.encoder.kind == "text" and clf.encoder.last_unknown:
        msg += (
            f" ({clf.encoder.last_unknown} of {clf.encoder.last_tokens} tokens never seen "
            "in training -> <unk>)"
        )
    return msg
