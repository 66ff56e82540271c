"""The classification task's :class:`Classifier`: a :class:`~rnnkit.tasks.run.TaskRun`.

It supplies what is its own -- the label map and input encoder fitted on the training
split, the network (:class:`~rnnkit.models.classifier.SequenceClassifier`, or
:class:`~rnnkit.models.lstm_fcn.LSTMFCN` with ``arch="lstm-fcn"``), the step (cross-entropy,
accuracy) and the metrics -- and leaves the run life cycle to the base class.

A run directory holds ``config.json`` (``"task": "classify"`` and the ``model``,
``classify``, ``encoder`` and ``data`` sections), ``labels.json`` (class names),
``inputs.json`` (vocabulary or feature scaling), ``best/`` / ``last/`` checkpoints and
``metrics.csv``. Runs of the previous layout (a format-1 ``config.json`` with an
``options`` section and a ``classifier.json`` beside it) load too.

Selection rule: with a validation set, the checkpoint kept is the one with the best
validation accuracy (``select="accuracy"``; ``"macro_f1"`` the best macro-F1 over the whole
validation set, computed by :meth:`Classifier.val_metrics`; ``"loss"`` the lowest validation
loss) and training stops early when it has not improved for ``early_stopping_patience``
evaluations. Without one (the data too small for a hold-out) the last checkpoint is kept.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import check_keys
from rnnkit.data.bucketing import Batch, BucketLoader
from rnnkit.data.classification import Examples, InputEncoder, LabelMap, balanced_class_weights
from rnnkit.data.series_norm import znormalize
from rnnkit.metrics.classification import classification_report
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.run import TaskRun, read_artifact
from rnnkit.train import (
    StepOutput,
    TrainConfig,
    adversarial_perturbation,
    check_device,
    check_fresh,
    prediction_divergence,
    unwrap,
    virtual_adversarial_perturbation,
)

__all__ = ["ARCHS", "SELECT", "Classifier", "model_keys"]

logger = logging.getLogger(__name__)

ARCHS = ("rnn", "lstm-fcn", "minirocket")
CLOSED_FORM = ("minirocket",)
"""Architectures fitted in closed form (no optimiser steps; see :meth:`Classifier.fit`)."""
SELECT = {
    "accuracy": ("val_acc", "max"),
    "macro_f1": ("val_macro_f1", "max"),
    "loss": ("val_loss", "min"),
}
_DATA_KEYS = {
    *("vocab_size", "input_size", "num_classes", "padding_idx", "unk_idx", "input_length"),
    "subword_buckets",
}


def _model_class(arch: str) -> tuple[type, type]:
    """(config class, module class) of an architecture."""
    if arch == "lstm-fcn":
        from rnnkit.models.lstm_fcn import LSTMFCN, LSTMFCNConfig

        return LSTMFCNConfig, LSTMFCN
    if arch == "minirocket":
        from rnnkit.models.minirocket import MiniRocket, MiniRocketConfig

        return MiniRocketConfig, MiniRocket
    return ClassifierConfig, SequenceClassifier


def model_keys(arch: str) -> set[str]:
    """The ``model`` options an architecture takes (data-derived keys excluded)."""
    config_cls = _model_class(arch)[0]
    known = {f.name for f in fields(config_cls)} | set(getattr(config_cls, "FLAT_KEYS", ()))
    return known - _DATA_KEYS


def _check_perturbation(name: str, eps: Any, arch: str) -> None:
    """``adversarial`` and ``virtual_adversarial``: a number >= 0, and 0 off ``arch: rnn``."""
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 <= eps < float("inf"):
        raise ValueError(f"`{name}` must be a number >= 0, got {eps!r}")
    if eps and arch != "rnn":
        raise ValueError(
            f"`{name}` perturbs the embedded inputs of `arch: rnn`; `arch: {arch}` "
            "has none (set it to 0)"
        )


class Classifier(TaskRun):
    """The user-facing classifier: fit on examples, evaluate, predict, save and load.

    Args:
        model: the network's options except those set from the data (``num_classes``,
            ``vocab_size``, ``input_size``, ``padding_idx``); flat recurrent keys
            (``cell``, ``hidden_size`` ...) are accepted.
        train: a ``TrainConfig`` or a dict of its options (epochs, lr, device, ...).
        arch: ``"rnn"`` (SequenceClassifier, text or series) or ``"lstm-fcn"`` (series).
        batch_size: sequences per batch.
        bucket: sort batches into length buckets (the recurrent model always runs packed).
        class_weights: ``"balanced"`` weighs the loss by ``N / (C * count_c)``.
        tokenizer, lowercase, min_freq, max_vocab, subwords: text inputs (see
            :class:`InputEncoder`; ``subwords``: hash buckets of character n-grams, 0: none).
        standardize: scale numeric features with training statistics.
        znorm: z-normalise each series by its own mean and std first (series inputs).
        select: the validation figure that picks the checkpoint: accuracy, macro_f1 or loss.
        adversarial: adversarial training (``arch="rnn"``): each step also trains on the
            batch with every sequence's embedded inputs moved by this fraction of their norm
            in the direction that most raises the loss
            (:func:`~rnnkit.train.adversarial_perturbation`); 0 turns it off.
        virtual_adversarial: virtual adversarial training (``arch="rnn"``): each step also
            adds the divergence of the model's prediction from itself with the embedded
            inputs moved by this fraction of their norm in the direction that most changes
            it (:func:`~rnnkit.train.virtual_adversarial_perturbation`; no labels used);
            0 turns it off.
        seed: seeds initialisation and batch shuffling.

    >>> clf = Classifier(model={"hidden_size": 16}, train={"epochs": 1})  # doctest: +SKIP
    >>> clf.fit(train_examples, val_examples, run_dir="runs/demo")        # doctest: +SKIP
    >>> labels, probs = clf.predict(new_examples)                         # doctest: +SKIP
    """

    task = "classify"

    def __init__(
        self,
        model: dict[str, Any] | None = None,
        train: TrainConfig | dict[str, Any] | None = None,
        *,
        arch: str = "rnn",
        batch_size: int = 32,
        bucket: bool = True,
        class_weights: Literal["none", "balanced"] = "none",
        tokenizer: str = "word-punct",
        lowercase: bool = True,
        min_freq: int = 1,
        max_vocab: int | None = None,
        standardize: bool = True,
        subwords: int = 0,
        znorm: bool = False,
        select: str = "accuracy",
        adversarial: float = 0.0,
        virtual_adversarial: float = 0.0,
        seed: int = 0,
    ) -> None:
        if arch not in ARCHS:
            raise ValueError(f"`arch` must be one of {', '.join(ARCHS)}, got {arch!r}")
        model = dict(model or {})
        check_keys(model, model_keys(arch), what="or data-derived `model`")
        if class_weights not in ("none", "balanced"):
            raise ValueError(f"`class_weights` must be 'none' or 'balanced', got {class_weights!r}")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if not isinstance(znorm, bool):
            raise ValueError(f"`znorm` must be true or false, got {znorm!r}")
        if select not in SELECT:
            raise ValueError(f"`select` must be one of {', '.join(SELECT)}, got {select!r}")
        _check_perturbation("adversarial", adversarial, arch)
        _check_perturbation("virtual_adversarial", virtual_adversarial, arch)
        self.model_options = model
        self.train_config = train
        self.options: dict[str, Any] = {
            "arch": arch,
            "batch_size": batch_size,
            "bucket": bucket,
            "class_weights": class_weights,
            "znorm": znorm,
            "select": select,
            "adversarial": float(adversarial),
            "virtual_adversarial": float(virtual_adversarial),
            "seed": seed,
        }
        self.encoder_options = {
            "tokenizer": tokenizer,
            "lowercase": lowercase,
            "min_freq": min_freq,
            "max_size": max_vocab,
            "standardize": standardize,
            "subwords": subwords,
        }
        self.data_info: dict[str, Any] = {}
        self.labels: LabelMap | None = None
        self.encoder: InputEncoder | None = None
        self.model: nn.Module | None = None
        self.weights: Tensor | None = None
        self.padding: dict[str, float] = {}
        self._val_loader: BucketLoader | None = None  # for val_metrics during fit

    @property
    def module(self) -> nn.Module | None:
        """The network (the older name of :attr:`model`)."""
        return self.model

    # ------------------------------------------------------------ TaskRun hooks
    def sections(self) -> dict[str, Any]:
        assert self.model is not None
        out = {
            "model": self.model.config.to_dict(),  # type: ignore[union-attr, operator]
            "classify": self.options,
            "encoder": self.encoder_options,
        }
        if self.data_info:
            out["data"] = self.data_info
        return out

    def artifacts(self) -> dict[str, Any]:
        return {"labels": self.labels, "inputs": self.encoder}

    def step(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        eps, veps = self.options["adversarial"], self.options["virtual_adversarial"]
        clean = None
        if (eps or veps) and model.training:  # train_loss is clean + perturbed; clean_loss apart
            logits, loss, clean = self._adversarial_step(model, batch, eps, veps)
        else:
            logits = model(batch.x, batch.lengths)  # (B, C)
            loss = F.cross_entropy(logits, batch.y, weight=self._weight(logits))
        metrics = {"acc": float((logits.argmax(-1) == batch.y).float().mean())}
        if clean is not None:
            metrics["clean_loss"] = float(clean)
        return StepOutput(loss, int(batch.y.numel()), None, metrics)

    def _weight(self, logits: Tensor) -> Tensor | None:
        return None if self.weights is None else self.weights.to(logits.device)

    def _adversarial_step(
        self, model: nn.Module, batch: Batch, eps: float, veps: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits ``(B, C)`` of the clean batch, the loss of the clean batch plus, with
        ``eps``, the adversarially perturbed batch's and, with ``veps``, the virtual
        adversarial divergence (the same token-dropout draw; fresh dropout masks), and the
        clean loss."""
        net = unwrap(model)
        if net is not model:
            raise RuntimeError(
                "adversarial training runs in one process (its passes go around DDP's "
                "gradient sync); under torchrun set `--adversarial 0 --virtual-adversarial 0`"
            )
        embedded = net.embed(batch.x)  # (T, B, E)
        if not embedded.requires_grad:  # raw features (no input layer): perturb the inputs
            embedded = embedded.detach().requires_grad_()
        logits = net.forward_embedded(embedded, batch.lengths)  # (B, C)
        loss = F.cross_entropy(logits, batch.y, weight=self._weight(logits))
        total = loss
        if eps:
            r = adversarial_perturbation(loss, embedded, batch.lengths, eps)  # (T, B, E)
            perturbed = net.forward_embedded(embedded + r, batch.lengths)
            total = total + F.cross_entropy(perturbed, batch.y, weight=self._weight(perturbed))
        if veps:

            def forward(e: Tensor) -> Tensor:
                return net.forward_embedded(e, batch.lengths)

            r_v = virtual_adversarial_perturbation(forward, embedded, logits, batch.lengths, veps)
            total = total + prediction_divergence(logits, forward(embedded + r_v))
        return logits, total, loss.detach()

    @torch.no_grad()
    def val_metrics(self, model: nn.Module) -> dict[str, float] | None:
        """With ``select="macro_f1"``: accuracy and macro-F1 over the whole validation set
        (macro-F1 is no average of per-batch figures); otherwise None (nothing to add)."""
        if self.options["select"] != "macro_f1" or self._val_loader is None:
            return None
        assert self.labels is not None
        device = next(model.parameters()).device
        truth, preds = [], []
        for batch in self._val_loader:
            logits = model(batch.x.to(device), batch.lengths)  # (B, C)
            preds.append(logits.argmax(-1).cpu())
            truth.append(batch.y)
        y, p = torch.cat(truth).numpy(), torch.cat(preds).numpy()
        report = classification_report(y, p, self.labels.names)
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> Classifier:
        """Rebuild from ``config.json``; the previous layout kept the options in ``options``."""
        o = dict(config.get("classify") or config.get("options") or {})
        e = config["encoder"]
        arch = o.get("arch", "rnn")
        clf = cls(
            arch=arch,
            batch_size=o.get("batch_size", 32),
            bucket=o.get("bucket", True),
            class_weights=o.get("class_weights", "none"),
            znorm=o.get("znorm", False),
            select=o.get("select", "accuracy"),
            adversarial=o.get("adversarial", 0.0),
            virtual_adversarial=o.get("virtual_adversarial", 0.0),
            seed=o.get("seed", 0),
            tokenizer=e["tokenizer"],
            lowercase=e["lowercase"],
            min_freq=e["min_freq"],
            max_vocab=e["max_size"],
            standardize=e["standardize"],
            subwords=e.get("subwords", 0),
        )
        clf.data_info = dict(config.get("data") or {})
        clf.labels = LabelMap.from_dict(read_artifact(run_dir, "labels"))
        clf.encoder = InputEncoder.from_dict(read_artifact(run_dir, "inputs"))
        config_cls, module_cls = _model_class(arch)
        clf.model = module_cls(config_cls.from_dict(config["model"]))
        return clf

    # ------------------------------------------------------------ training
    def _items(self, data: Examples) -> Examples:
        """``data`` with each series z-normalised when ``znorm`` is on (text unchanged)."""
        if not self.options["znorm"] or data.kind != "numeric":
            return data
        return Examples(znormalize(data.items), data.labels, data.kind, data.ids)

    def _loader(self, inputs: list[Tensor], targets: Tensor | None, train: bool) -> BucketLoader:
        o = self.options
        bucket = o["bucket"] or not train
        return BucketLoader(
            inputs, targets, o["batch_size"], shuffle=train, bucket=bucket, seed=o["seed"]
        )

    def _build(self, train: Examples) -> list[Tensor]:
        """Fit the label map and encoder, build the network (seeded); encoded inputs."""
        assert train.labels is not None
        self.labels = LabelMap.fit(train.labels)
        self.encoder = InputEncoder(train.kind, **self.encoder_options).fit(train)
        data: dict[str, Any] = {"num_classes": len(self.labels)}
        if self.encoder.kind == "text":
            if self.options["arch"] != "rnn":
                raise ValueError(
                    f"`--arch {self.options['arch']}` takes series inputs, got text; "
                    "use `--arch rnn` for text"
                )
            vocab = self.encoder.vocab
            data.update(vocab_size=len(vocab), padding_idx=vocab.pad_id, unk_idx=vocab.unk_id)
            data["subword_buckets"] = self.encoder.subwords
        else:
            data["input_size"] = self.encoder.input_size
        encoded = self.encoder.encode(train)
        if self.options["arch"] == "lstm-fcn":  # the longest series: dimension shuffle, pooling
            data["input_length"] = max(len(x) for x in encoded)
        if self.options["arch"] == "minirocket":  # the shortest series: the dilations
            data["input_length"] = min(len(x) for x in encoded)
        config_cls, module_cls = _model_class(self.options["arch"])
        config = config_cls.from_dict({**self.model_options, **data})
        with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
            torch.manual_seed(self.options["seed"])
            self.model = module_cls(config)
        return encoded

    def _train_config(self, has_val: bool) -> TrainConfig:
        tc = self.train_config
        tc = TrainConfig.from_dict(tc) if isinstance(tc, dict) else (tc or TrainConfig())
        changes: dict[str, Any] = {"seed": self.options["seed"]}
        if has_val and tc.monitor in ("val_loss", "val_acc"):
            changes["monitor"], changes["monitor_mode"] = SELECT[self.options["select"]]
        if not has_val:  # nothing to stop on: the step budget decides, the last is kept
            changes["early_stopping_patience"] = None
        return tc.replace(**changes)

    def fit(
        self,
        train: Examples,
        val: Examples | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Fit the label map, the input encoder and the network on ``train``.

        Returns the trainer's summary plus ``padded_fraction_bucketed`` /
        ``padded_fraction_random`` (padded steps a padded run would compute; packing skips
        them all), ``train_accuracy`` and ``chance`` (the most common class's share) and,
        with ``val``, the validation report of the kept checkpoint.
        """
        if train.labels is None:
            raise ValueError("`train` examples need labels")
        train = self._items(train)
        x_train = self._build(train)
        assert self.labels is not None and self.encoder is not None
        y_train, _ = self.labels.encode(train.labels)
        if self.options["class_weights"] == "balanced":
            self.weights = balanced_class_weights(y_train, len(self.labels))
        train_loader = self._loader(x_train, y_train, train=True)
        self._padding(x_train, y_train, train_loader)
        val_loader = None
        if val is not None and len(val):
            val = self._items(val)
            y_val, kept = self.labels.encode(val.labels or [], on_unknown="skip")
            if len(kept):
                val_loader = self._loader(self.encoder.encode(val.subset(kept)), y_val, False)
                if note := self.encoder.unknown_note():
                    logger.info("validation: %s", note)
        tc = self._train_config(val_loader is not None)
        if self.options["arch"] in CLOSED_FORM:
            result = self._fit_closed_form(x_train, y_train, tc, run_dir, resume)
        else:
            self._val_loader = val_loader
            try:
                result = self.fit_run(run_dir, tc, train_loader, val_loader, resume=resume)
            finally:
                self._val_loader = None
        # a closed-form fit knows its training accuracy: no second pass over the data
        out = {**result, **self.padding, **self._fit_check(train, result.get("train_accuracy"))}
        if val is not None and val_loader is not None:
            out["val"] = self.evaluate(val, _prepared=True)
        return out

    def _fit_closed_form(
        self,
        x: list[Tensor],
        y: Tensor,
        tc: TrainConfig,
        run_dir: str | os.PathLike[str] | None,
        resume: bool,
    ) -> dict[str, Any]:
        """Fit a closed-form network (``minirocket``) on every training series and save it
        as the run's ``best/`` checkpoint: no optimiser steps, so the step budget,
        ``patience``, ``lr`` and ``select`` play no part, and the validation set (if any)
        is only reported. Its ridge penalty and softmax temperature are chosen by
        leave-one-out error on the training series; ``class_weights: balanced`` weighs
        each series in the ridge fit as it would weigh its loss."""
        assert self.model is not None
        if check_device(tc.device).type != "cpu" and tc.device != "auto":
            logger.warning(
                "%s fits and predicts on the CPU; `--device %s` is not used",
                self.options["arch"],
                tc.device,
            )
        if run_dir is not None and not resume:
            check_fresh(run_dir)  # before the fit, not after it
        start = time.perf_counter()
        weights = None if self.weights is None else self.weights[y]  # (N,): balanced
        fit = self.model.fit(x, y, seed=self.options["seed"], sample_weight=weights)  # type: ignore[operator]
        elapsed = time.perf_counter() - start
        meta = {
            "fit": "ridge",
            "alpha": fit.alpha,
            "temperature": fit.temperature,
            "loo_accuracy": fit.loo_accuracy,
            "train_accuracy": fit.train_accuracy,
        }
        self.save_fitted(run_dir, tc, resume=resume, meta=meta)
        stopped = (
            f"closed form; ridge penalty {fit.alpha:g} chosen by leave-one-out "
            f"error on the {len(x)} training series, leave-one-out accuracy "
            f"{fit.loo_accuracy:.4f}"
        )
        return {"step": 0, "best_step": 0, "elapsed": elapsed, "stopped": stopped, **meta}

    def _padding(self, x: list[Tensor], y: Tensor, loader: BucketLoader) -> None:
        o = self.options
        random = BucketLoader(x, y, o["batch_size"], bucket=False, seed=o["seed"])
        self.padding = {
            "padded_fraction_bucketed": loader.padding_stats()["padded_fraction"],
            "padded_fraction_random": random.padding_stats()["padded_fraction"],
        }

    def _fit_check(self, train: Examples, accuracy: float | None = None) -> dict[str, float]:
        """Training accuracy of the kept weights (``accuracy``, where the fit already
        measured it); a warning when it is near chance."""
        assert train.labels is not None
        counts = Counter(train.labels)
        chance = max(counts.values()) / len(train)
        acc = self.evaluate(train, _prepared=True)["accuracy"] if accuracy is None else accuracy
        if acc <= chance + 0.1 * (1.0 - chance):
            logger.warning(
                "training accuracy %.3f is near chance (%.3f, the most common class's share): "
                "the model did not fit its training data; train longer (`--max-steps`, "
                "`--max-time`), change `--lr`, or try another preset (`rnnkit classify presets`)",
                acc,
                chance,
            )
        return {"train_accuracy": acc, "chance": chance}

    # ------------------------------------------------------------ inference
    def predict_proba(self, data: Examples, *, _prepared: bool = False) -> np.ndarray:
        """Class probabilities ``(N, C)`` in input order."""
        if self.model is None or self.encoder is None or self.labels is None:
            raise ValueError("the classifier is not fitted; call fit() or Classifier.load()")
        inputs = self.encoder.encode(data if _prepared else self._items(data))
        model = self.model
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

    def evaluate(
        self, data: Examples, *, strict: bool = False, _prepared: bool = False
    ) -> dict[str, Any]:
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
            raise ValueError("evaluate needs labelled examples (`--label-column`)")
        y, kept = self.labels.encode(data.labels, on_unknown="error" if strict else "skip")
        unseen = len(data) - len(kept)
        if unseen:
            missing = sorted({lab for lab in data.labels if lab not in self.labels.names})
            logger.warning(
                "%d examples have labels never seen in training %s; left out", unseen, missing[:10]
            )
        if not kept:
            raise ValueError("no example has a label seen in training; nothing to evaluate")
        probs = self.predict_proba(data.subset(kept), _prepared=_prepared)
        report = classification_report(y.numpy(), probs.argmax(1), self.labels.names)
        report["unseen_label_examples"] = unseen
        if self.encoder is not None and self.encoder.kind == "text":
            report["unk_tokens"] = self.encoder.last_unknown
            report["tokens"] = self.encoder.last_tokens
        return report
