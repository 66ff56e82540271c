"""``Trainer``: the loop every task uses. The task gives a model, data and a step function.

A *step function* turns one batch into a loss::

    def step_fn(model, batch, state) -> StepOutput:
        x, y = batch                       # x: (T, B, I), y: (T, B)
        out, state = model(x, state)       # state: None at the start of an epoch
        loss = F.cross_entropy(out.flatten(0, 1), y.flatten())
        if model.training:                 # a penalty that only applies in training
            loss = loss + 2.0 * out.pow(2).mean()
        return StepOutput(loss, weight=y.numel(), state=state, metrics={"acc": ...})

The trainer moves the batch to the device, runs ``step_fn`` under autocast, backpropagates
``loss``, clips, steps, and carries ``state`` (detached: truncated BPTT) into the next
batch. ``evaluate`` runs the same function in eval mode without gradients. Streams that
restart mid-epoch are reset by the task with :func:`rnnkit.train.reset_state`. Under DDP,
``model`` is the DistributedDataParallel wrapper: call ``model(...)`` for the forward pass
and :func:`rnnkit.train.unwrap` for anything else.

A fit with a run directory holds its writer lock (:class:`~rnnkit.train.rundir.RunLock`),
turns SIGTERM / Ctrl-C into a checkpoint and :class:`TrainingInterrupted`, and runs in its
own RNG scope seeded from ``TrainConfig.seed`` (the caller's global RNGs are untouched).

Resume: ``last/`` holds the exact position (epoch, batch within the epoch), the carried
state, the optimizer, the schedule and every RNG, including the RNG at the start of the
epoch: on resume the epoch's iteration is re-created from that RNG (and ``set_epoch``) and
the batches already trained on are skipped, so a resumed run is bitwise identical on CPU.
The resumable progress is one object, ``trainer.progress`` (:class:`TrainerState`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed as ddp
from . import rundir
from .config import TrainConfig
from .device import check_precision, effective_precision, make_scaler, resolve_device
from .interrupt import StopSignals, TrainingInterrupted, rng_scope
from .loop import TrainLoop
from .metrics_log import MetricsLog, TensorBoardWriter, draw_loss
from .optim import LRSchedule, build_optimizer, evaluated_weights
from .progress import TrainerState
from .resume import load_best_weights, open_run, save_last
from .step import NonFiniteError, StepFn, StepOutput, seed_everything

__all__ = [
    "NonFiniteError",
    "StepFn",
    "StepOutput",
    "Trainer",
    "TrainingInterrupted",
    "seed_everything",
]

log = logging.getLogger(__name__)


EVALS_PER_BUDGET = 10
"""With ``eval_every`` None (once an epoch) and a ``max_steps`` budget, epochs longer than
``max_steps // EVALS_PER_BUDGET`` steps are evaluated every that many steps instead: one
evaluation at the very end would leave nothing to pick a best checkpoint from."""

BUDGET_FLAGS = {
    "max_steps": "`max_steps` (--max-steps)",
    "max_time": "`max_time` (--max-time)",
    "epochs": "`epochs` (--epochs)",
}
"""The ways a run can stop on a budget, and the setting that raises it."""


class Trainer(TrainLoop):
    """Trains ``model`` with ``step_fn`` under ``config``; see the module docstring.

    Args:
        model: any ``nn.Module``.
        config: a :class:`TrainConfig` (or a dict for ``TrainConfig.from_dict``).
        step_fn: ``step_fn(model, batch, state) -> StepOutput``.
        run_dir: where config, checkpoints and metrics go; None keeps nothing on disk.
        run_config: the task's config sections, written to ``run_dir/config.json`` with the
            TrainConfig under ``"train"`` (sections already in the file are kept), so the run
            can be rebuilt. With a ``"task"`` name the file is written as run format 2.
        val_metrics: figures over the whole validation set that per-batch averages cannot
            give (macro-F1, BLEU): ``val_metrics(model) -> {name: value}`` (or None: none),
            called at every validation evaluation with the model in eval mode, without
            gradients, holding the evaluated weights; each figure joins the row as
            ``val_<name>`` (replacing a step_fn metric of that name), so ``monitor`` can
            name it. The global RNGs are restored after the call: a resume stays bitwise.

    Attributes:
        progress: the resumable progress (:class:`TrainerState`): step, epoch, batch, best
            value, evaluation history ... ``step``, ``epoch``, ``batch`` and the other
            fields are also read-only properties of the trainer.
        history: the metric rows written to ``metrics.csv``.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | Mapping[str, Any] | None,
        step_fn: StepFn,
        run_dir: str | Path | None = None,
        run_config: Mapping[str, Any] | None = None,
        val_metrics: Callable[[nn.Module], Mapping[str, float] | None] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(step_fn):
            raise TypeError(f"`step_fn` must be callable, got {type(step_fn).__name__}")
        if val_metrics is not None and not callable(val_metrics):
            raise TypeError(
                f"`val_metrics` must be callable or None, got {type(val_metrics).__name__}"
            )
        if config is None:
            config = TrainConfig()
        elif isinstance(config, Mapping):
            config = TrainConfig.from_dict(config)
        elif not isinstance(config, TrainConfig):
            raise TypeError(
                f"`config` must be a TrainConfig or a dict, got {type(config).__name__}"
            )
        self.model = model
        self.config = config
        self.step_fn = step_fn
        self.val_metrics = val_metrics
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_config = dict(run_config or {})
        self.info = ddp.DistInfo()
        self.device: torch.device | None = None
        self.module: nn.Module = model
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.schedule: LRSchedule | None = None
        self.metrics_log = MetricsLog(None)
        self.progress = TrainerState()
        self._tb: TensorBoardWriter | None = None
        self._signals: StopSignals | None = None
        self._clock: tuple[float, float] | None = None  # (elapsed before, start of this fit)
        self._last_save = 0.0
        self._grad_norm = float("nan")
        self._weights_as_is = False
        self._best_in_memory = False
        self._best_state: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------ read-only views

    @property
    def step(self) -> int:
        """Training batches done."""
        return self.progress.step

    @property
    def epoch(self) -> int:
        return self.progress.epoch

    @property
    def batch(self) -> int:
        return self.progress.batch

    @property
    def best_value(self) -> float | None:
        return self.progress.best_value

    @property
    def best_step(self) -> int | None:
        return self.progress.best_step

    @property
    def nonfinite_skipped(self) -> int:
        return self.progress.nonfinite_skipped

    @property
    def ntasgd_switch_step(self) -> int | None:
        return self.progress.ntasgd_switch_step

    @property
    def last_eval(self) -> dict[str, float]:
        return self.progress.last_eval

    @property
    def elapsed(self) -> float:
        """Seconds of training over all invocations of this run, up to now."""
        if self._clock is None:
            return self.progress.elapsed
        before, start = self._clock
        return before + time.monotonic() - start

    @property
    def stop_requested(self) -> str | None:
        """The signal received during this fit (``"SIGTERM"``, ``"SIGINT"``), if any."""
        return self._signals.received if self._signals is not None else None

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.metrics_log.rows

    @property
    def is_main(self) -> bool:
        return self.info.is_main

    # ------------------------------------------------------------ set-up

    def _setup(self) -> None:
        if self.device is not None:
            return
        cfg = self.config
        first = resolve_device(cfg.device)  # a missing device fails before anything else
        self.info = ddp.setup(cfg.distributed, first.type)
        self.device = resolve_device(cfg.device, self.info.local_rank)
        check_precision(cfg.precision, self.device)
        if effective_precision(cfg.precision, self.device) != cfg.precision:  # no CPU bf16
            self.config = cfg = cfg.replace(precision="fp32")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.model.to(self.device)
        self.optimizer = build_optimizer(
            [p for p in self.model.parameters() if p.requires_grad], cfg
        )
        self.scaler = make_scaler(cfg.precision, self.device)
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.module = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _total_steps(self, data: Any) -> int | None:
        cfg = self.config
        per_epoch = len(data) if hasattr(data, "__len__") else None
        by_epochs = cfg.epochs * per_epoch if cfg.epochs and per_epoch else None
        if cfg.max_steps and by_epochs:
            return min(cfg.max_steps, by_epochs)
        return cfg.max_steps or by_epochs

    # ------------------------------------------------------------ fit

    def fit(
        self,
        train_data: Iterable[Any],
        val_data: Iterable[Any] | None = None,
        resume: bool = False,
        restore_best: bool = False,
    ) -> dict[str, Any]:
        """Train; returns the final and best figures.

        Args:
            train_data: an iterable of batches, iterated once per epoch (a list, a DataLoader,
                or an object with ``__iter__``; ``set_epoch(epoch)`` is called when present,
                ``shard(rank, world)`` under DDP).
            val_data: batches for :meth:`evaluate`, run every ``eval_every`` steps or each
                epoch; picks the best checkpoint and drives early stopping.
            resume: continue from ``run_dir/last`` (a fresh start when there is none yet).
            restore_best: at the end, load the best weights (the evaluated weights: NT-ASGD's
                averages once it switched) into the model: the ``best/`` checkpoint's, or
                without a ``run_dir`` a copy kept in memory; when nothing was evaluated the
                model keeps the final (evaluated) weights.

        Returns:
            ``{"step", "epoch", "stopped", "train_loss", "val_loss" ..., "best_value",
            "best_step", "best_eval", "monitor", "nonfinite_skipped", "elapsed"}``: ``val_*``
            are the last evaluation's figures, ``best_eval`` the ``val_*`` figures of the
            best one (the weights ``restore_best`` leaves in the model).

        Raises:
            TrainingInterrupted: SIGTERM or SIGINT arrived; ``last/`` was written first.
            RunLockedError: another live process is training into ``run_dir``.
            FileExistsError: ``run_dir`` already holds a run and ``resume`` is False.
            CheckpointWriteError: a checkpoint could not be written (the previous is kept).
        """
        if resume and self.run_dir is None:
            raise ValueError("`resume`=True needs a `run_dir` to resume from, got None")
        self._setup()
        rank = f", rank {self.info.rank} of {self.info.world}" if self.info.enabled else ""
        ema, averaged = self.config.ema, ""
        if ema is not None:  # val_* are then the average's figures, train_* the iterates'
            averaged = f"; evaluating a moving average of the weights (ema {ema})"
        log.info("training on %s (%s)%s%s", self.device, self.config.precision, rank, averaged)
        self._weights_as_is = False
        self._best_in_memory = restore_best and self.run_dir is None
        seed = self.config.seed + self.info.rank
        lock = (
            rundir.RunLock(self.run_dir)
            if self.run_dir is not None and self.is_main
            else contextlib.nullcontext()
        )
        with lock, StopSignals() as signals, rng_scope(seed, self._dev):
            self._signals = signals
            try:
                stopped = self._fit(train_data, val_data, resume)
                return self._finish(stopped, restore_best)
            finally:
                self._signals = None
                self.progress.elapsed = self.elapsed
                self._clock = None

    def _fit(self, train_data: Iterable[Any], val_data: Iterable[Any] | None, resume: bool) -> str:
        cfg = self.config
        train = ddp.shard(train_data, self.info)
        val = ddp.shard(val_data, self.info)
        self.schedule = LRSchedule(cfg, self._total_steps(train))
        if val is None and cfg.early_stopping_patience is not None:
            log.warning("`early_stopping_patience` is set but there is no validation data")
        opened = open_run(self, resume)  # restores last/ or refuses a used directory
        if opened is not None:
            self.metrics_log = opened
        self._evaluate_within_long_epochs(train, val)
        self._tb = (
            TensorBoardWriter(self.run_dir / "tensorboard")
            if cfg.tensorboard and self.run_dir is not None and self.is_main
            else None
        )
        self._clock = (self.progress.elapsed, time.monotonic())
        self._last_save = time.monotonic()
        try:
            stopped = None
            while stopped is None:
                if cfg.epochs is not None and self.progress.epoch >= cfg.epochs:
                    stopped = "epochs"
                    break
                stopped = self._run_epoch(train, val)
            if val is not None and self.progress.last_eval_step != self.progress.step:
                self._evaluate_val(val)
            self._save_last()
            if self._stop_flags()[1]:  # a signal during the final evaluation or save
                self._interrupt(saved=True)
        finally:
            if self._tb is not None:
                self._tb.close()
        return stopped

    def _finish(self, stopped: str, restore_best: bool) -> dict[str, Any]:
        """Leave the model holding the evaluated (or best) weights; the result figures."""
        with evaluated_weights(self.optimizer):
            kept = [p.detach().clone() for p in self.model.parameters()]
        with torch.no_grad():
            for p, w in zip(self.model.parameters(), kept, strict=True):
                p.copy_(w)
        if restore_best:
            self._restore_best()
        if self.run_dir is not None and self.is_main:
            draw_loss(self.history, self.run_dir / "loss.png")
        p = self.progress
        result = {
            "step": p.step,
            "epoch": p.epoch,
            "stopped": stopped,
            **self._last_train_loss(),
            **p.last_eval,
            "best_value": p.best_value,
            "best_step": p.best_step,
            "best_eval": self._eval_at(p.best_step),
            "monitor": self.config.monitor,
            "nonfinite_skipped": p.nonfinite_skipped,
            "ntasgd_switch_step": p.ntasgd_switch_step,
            "elapsed": self.elapsed,
        }
        log.info(
            "finished (%s) at step %d: %s",
            stopped,
            p.step,
            ", ".join(f"{k} {v:.4g}" for k, v in p.last_eval.items()),
        )
        if self._weights_as_is and result["best_eval"] and p.best_step != p.last_eval_step:
            figures = ", ".join(f"{k} {v:.4g}" for k, v in result["best_eval"].items())
            log.info("the model holds the best weights (step %d): %s", p.best_step, figures)
        self._note_still_improving(stopped)
        return result

    def _evaluate_within_long_epochs(self, train: Any, val: Any) -> None:
        """``eval_every`` None means once an epoch; with a ``max_steps`` budget and epochs
        longer than ``max_steps // EVALS_PER_BUDGET`` steps, evaluate every that many steps
        instead, so that the best checkpoint and early stopping have evaluations to choose
        from. Applied after config.json is written, so the run's recorded settings (and a
        resume's comparison with them) stay as given."""
        cfg = self.config
        per_epoch = len(train) if hasattr(train, "__len__") else None
        if val is None or cfg.eval_every or not cfg.max_steps or not per_epoch:
            return
        every = max(1, cfg.max_steps // EVALS_PER_BUDGET)
        if per_epoch <= every:
            return
        log.info(
            "an epoch is %d steps, more than max_steps/%d: evaluating every %d steps instead "
            "of once an epoch (set `eval_every` to choose)",
            per_epoch, EVALS_PER_BUDGET, every,
        )  # fmt: skip
        self.config = cfg.replace(eval_every=every)

    def _note_still_improving(self, stopped: str) -> None:
        """Say so when a budget, not convergence, ended training: the best of two or more
        evaluations is the last one."""
        p, budget = self.progress, BUDGET_FLAGS.get(stopped)
        evals = sum(row.get("split") == "val" for row in self.history)
        if budget is None or evals < 2 or p.best_step is None or p.best_step != p.last_eval_step:
            return
        log.warning(
            "the %s budget ended training while %s was still improving (its best is the last "
            "evaluation's, step %d): a larger %s may give a better model",
            stopped, self.config.monitor, p.best_step, budget,
        )  # fmt: skip

    def _eval_at(self, step: int | None) -> dict[str, float]:
        """The validation figures (``val_*``) of the evaluation at ``step``, from the metric
        rows (the main process's; ``{}`` when there was none)."""
        for row in reversed(self.history):
            if row.get("split") == "val" and row.get("step") == step:
                return {
                    k: float(v)
                    for k, v in row.items()
                    if k.startswith("val_") and isinstance(v, (int, float))
                }
        return {}

    def _restore_best(self) -> None:
        if self.run_dir is None:  # the copy _keep_best made (none: never evaluated)
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)
            where = "memory" if self._best_state is not None else None
        else:
            path = load_best_weights(self.model, self.run_dir)
            where = None if path is None else str(path)
        if where is None:
            log.info("restore_best: no best weights (no validation); final weights kept")
            return
        self._weights_as_is = True
        log.info("restored the best weights (step %s) from %s", self.progress.best_step, where)

    def _last_train_loss(self) -> dict[str, float]:
        for row in reversed(self.history):
            if "train_loss" in row:
                return {"train_loss": row["train_loss"]}
        return {}

    # ------------------------------------------------------------ checkpoints and stops

    def _save_last(self) -> Path | None:
        self.progress.elapsed = self.elapsed
        with self._signals.saving() if self._signals is not None else contextlib.nullcontext():
            path = save_last(self)
        self._last_save = time.monotonic()
        return path

    def _stop_flags(self) -> tuple[bool, bool, bool]:
        """(time budget spent, a signal received, a timed checkpoint due), over all ranks."""
        cfg = self.config
        spent = False
        if cfg.max_time is not None and self._clock is not None:
            spent = time.monotonic() - self._clock[1] >= cfg.max_time
        signalled = self.stop_requested is not None
        minutes = cfg.checkpoint_minutes
        due = minutes is not None and time.monotonic() - self._last_save >= 60.0 * minutes
        flags = [float(spent), float(signalled), float(due)]
        if self.info.enabled:
            flags = ddp.all_reduce_sum(flags, self.info, self._dev)
        return flags[0] > 0, flags[1] > 0, flags[2] > 0

    def _interrupt(self, saved: bool) -> None:
        """Write last/ (unless just done) and raise TrainingInterrupted."""
        if not saved:
            self._save_last()
        name = self.stop_requested or "a signal on another rank"
        path = self.run_dir / "last" if self.run_dir is not None else None
        log.warning("interrupted by %s at step %d", name, self.progress.step)
        raise TrainingInterrupted(name, self.progress.step, path)
