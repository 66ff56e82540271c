"""The inner loop of :class:`~rnnkit.train.Trainer`: epochs, steps, evaluation, metric rows.

:class:`TrainLoop` is the half of the trainer that runs once per batch; ``trainer.py`` holds
the other half (set-up, the run directory, checkpoints, signals and the result). Everything
resumable lives in ``self.progress`` (a :class:`~rnnkit.train.progress.TrainerState`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoint as ck
from . import distributed as ddp
from .config import TrainConfig
from .metrics_log import MetricsLog, ProgressBar, TensorBoardWriter
from .optim import LRSchedule, evaluated_weights
from .progress import TrainerState
from .resume import save_best
from .state import detach_state
from .step import NonFiniteError, StepFn, Tally, call_step, scalars

__all__ = ["TrainLoop"]

log = logging.getLogger(__name__)


class TrainLoop:
    """Epochs, steps and evaluations; mixed into :class:`~rnnkit.train.Trainer`."""

    model: nn.Module
    module: nn.Module
    config: TrainConfig
    step_fn: StepFn
    val_metrics: Callable[[nn.Module], Mapping[str, float] | None] | None  # whole-set figures
    run_dir: Path | None
    info: ddp.DistInfo
    device: torch.device | None
    optimizer: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler | None
    schedule: LRSchedule | None
    metrics_log: MetricsLog
    progress: TrainerState
    elapsed: float
    is_main: bool
    _tb: TensorBoardWriter | None
    _grad_norm: float
    _weights_as_is: bool  # after restore_best: evaluate the model's weights, no swapping
    _best_in_memory: bool  # no run_dir and restore_best: keep the best weights in memory
    _best_state: dict[str, torch.Tensor] | None  # those weights (a copy)

    def _setup(self) -> None:  # pragma: no cover - the trainer's
        raise NotImplementedError

    def _save_last(self) -> Path | None:  # pragma: no cover - the trainer's
        raise NotImplementedError

    def _stop_flags(self) -> tuple[bool, bool, bool]:  # pragma: no cover - the trainer's
        raise NotImplementedError

    def _interrupt(self, saved: bool) -> None:  # pragma: no cover - the trainer's
        raise NotImplementedError

    @property
    def _dev(self) -> torch.device:
        assert self.device is not None
        return self.device

    # ------------------------------------------------------------ epochs

    def _epoch_batches(self, train: Any) -> Iterator[Any]:
        """The epoch's iterator, positioned at ``progress.batch`` (replayed on resume)."""
        p = self.progress
        if p.batch == 0:  # a fresh epoch: remember the RNG its iteration starts from
            p.epoch_rng = ck.get_rng_state()
            p.carry = None
            ddp.set_epoch(train, p.epoch)
            return iter(train)
        # resuming mid-epoch: replay the epoch's start, skip what was trained on
        now = ck.get_rng_state()
        assert p.epoch_rng is not None
        ck.set_rng_state(*p.epoch_rng)
        ddp.set_epoch(train, p.epoch)
        it = iter(train)
        for i in range(p.batch):
            if next(it, None) is None:
                raise RuntimeError(
                    f"resume: epoch {p.epoch} of the training data has only {i} batches, the "
                    f"checkpoint is at batch {p.batch}; is it the same data?"
                )
        ck.set_rng_state(*now)
        return it

    def _run_epoch(self, train: Any, val: Any) -> str | None:
        cfg, p = self.config, self.progress
        it = self._epoch_batches(train)
        total = len(train) if hasattr(train, "__len__") else None
        bar = ProgressBar(
            cfg.progress if self.is_main else False, total, p.batch, f"epoch {p.epoch}"
        )
        window_t = self.elapsed
        seen = p.batch
        try:
            for batch in it:
                loss, weight, metrics = self._train_step(batch)
                seen += 1
                p.batch += 1
                p.step += 1
                if weight:
                    p.log_tally.add(loss, weight, metrics)
                    p.eval_tally.add(loss, weight, metrics)
                bar.update({"loss": loss, **metrics}, weight)
                if p.step % cfg.log_every == 0:
                    window_t = self._log_train(window_t)
                stop = self._after_step(val)
                if stop:
                    return stop
        finally:
            bar.close()
        if seen and p.step % cfg.log_every:  # the epoch's tail since the last row
            self._log_train(window_t)
        if seen == 0:
            raise ValueError(
                f"the training data yielded no batches in epoch {p.epoch}; it must be "
                "non-empty and re-iterable (a list, a DataLoader, an object with __iter__), "
                "not a one-shot generator"
            )
        stop = self._evaluate_val(val) if val is not None and not cfg.eval_every else None
        p.end_epoch()
        self._save_last()
        return stop

    def _after_step(self, val: Any) -> str | None:
        """Evaluate / checkpoint as scheduled; the stop reason, if any. Raises on a signal."""
        cfg, p = self.config, self.progress
        stop, saved = None, False
        if cfg.eval_every and p.step % cfg.eval_every == 0 and val is not None:
            stop = self._evaluate_val(val)
            self._save_last()
            saved = True
        elif cfg.checkpoint_every and p.step % cfg.checkpoint_every == 0:
            self._save_last()
            saved = True
        spent, signalled, due = self._stop_flags()
        if signalled:
            self._interrupt(saved)
        if due and not saved:
            self._save_last()
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return stop or "max_steps"
        return stop or ("max_time" if spent else None)

    # ------------------------------------------------------------ one step

    def _nonfinite(self, what: str, value: float) -> None:
        p = self.progress
        where = (
            f"non-finite {what} ({value}) at step {p.step + 1} (epoch {p.epoch}, batch {p.batch})"
        )
        if self.config.on_nonfinite == "stop":
            kept = (
                f"; the last good checkpoint in {self.run_dir / 'last'} is intact"
                if self.run_dir is not None
                else ""
            )
            raise NonFiniteError(
                f"{where}{kept}. Try a lower `lr`, `clip_norm`, or on_nonfinite='skip'"
            )
        p.nonfinite_skipped += 1
        log.warning("%s: step skipped (%d skipped so far)", where, p.nonfinite_skipped)

    def _train_step(self, batch: Any) -> tuple[float, int, dict[str, float]]:
        cfg, opt, p = self.config, self.optimizer, self.progress
        assert opt is not None and self.schedule is not None
        self.module.train()
        out = call_step(self.step_fn, self.module, batch, p.carry, cfg.precision, self._dev)
        loss_value = float(out.loss.detach().float())
        finite = math.isfinite(loss_value)
        if self.info.enabled:  # every rank must take the same branch
            finite = ddp.all_reduce_sum([float(not finite)], self.info, self._dev)[0] == 0
        opt.zero_grad(set_to_none=True)
        if not finite:
            self._nonfinite("loss", loss_value)
            p.carry = None
            return loss_value, 0, {}
        if self.scaler is not None:
            self.scaler.scale(out.loss).backward()
            self.scaler.unscale_(opt)
        else:
            out.loss.backward()
        params = [q for g in opt.param_groups for q in g["params"] if q.grad is not None]
        if cfg.clip_norm is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm))
        else:
            norm = float(torch.nn.utils.get_total_norm([q.grad for q in params]))
        if cfg.clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
        self._grad_norm = norm
        self.schedule.apply(opt, p.step)
        if self.scaler is not None:  # the scaler skips steps with inf gradients by design
            self.scaler.step(opt)
            self.scaler.update()
        elif not math.isfinite(norm):
            self._nonfinite("gradient norm", norm)
            opt.zero_grad(set_to_none=True)
            p.carry = None
            return loss_value, 0, {}
        else:
            opt.step()
        p.carry = detach_state(out.state)
        return loss_value, int(out.weight), scalars(out.metrics)

    # ------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, data: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``data`` in eval mode, without gradients.

        The state is carried across batches as in training (starting from None). The
        evaluated weights are used (NT-ASGD's averages after its switch), except after
        ``fit(restore_best=True)``, which leaves the best weights in the model. Returns
        ``{"loss": ..., **metrics}`` (weighted by ``StepOutput.weight``, over all ranks).
        """
        if self.device is None:
            self._setup()
        model, precision = self.model, self.config.precision
        was_training = model.training
        model.eval()
        tally, state, n = Tally(), None, 0
        try:
            swap = not self._weights_as_is
            with evaluated_weights(self.optimizer if swap else None):
                for batch in data:
                    out = call_step(self.step_fn, model, batch, state, precision, self._dev)
                    tally.add(float(out.loss.float()), out.weight, scalars(out.metrics))
                    state = detach_state(out.state)
                    n += 1
        finally:
            model.train(was_training)
        if n == 0:
            raise ValueError("evaluate: `data` yielded no batches")
        result = tally.means(self.info, self._dev)
        if not result:
            raise ValueError("evaluate: every batch had StepOutput.weight 0")
        return result

    @torch.no_grad()
    def _whole_set_metrics(self) -> dict[str, float]:
        """The ``val_metrics`` hook's figures: called with the model in eval mode, without
        gradients, holding the evaluated weights (as :meth:`evaluate`); the global RNGs are
        restored afterwards, so the hook cannot shift a resumed run. Under DDP every rank
        calls it and the figures are averaged over the ranks (the same on each)."""
        hook = self.val_metrics
        if hook is None:
            return {}
        model = self.model
        was_training = model.training
        model.eval()
        rng = ck.get_rng_state()
        try:
            with evaluated_weights(None if self._weights_as_is else self.optimizer):
                got = hook(model)
        finally:
            ck.set_rng_state(*rng)
            model.train(was_training)
        if got is None:  # nothing to add this time
            return {}
        if not isinstance(got, Mapping):
            raise TypeError(
                f"`val_metrics` must return a dict of name -> number, got {type(got).__name__}"
            )
        try:
            figures = {str(k): float(v) for k, v in got.items()}
        except (TypeError, ValueError) as err:
            raise TypeError(f"`val_metrics` must return numbers, got {dict(got)!r}") from err
        if self.info.enabled and figures:
            names = sorted(figures)
            sums = ddp.all_reduce_sum([figures[k] for k in names], self.info, self._dev)
            figures = {k: v / self.info.world for k, v in zip(names, sums, strict=True)}
        return figures

    def _evaluate_val(self, val: Any) -> str | None:
        cfg, p = self.config, self.progress
        figures = {**self.evaluate(val), **self._whole_set_metrics()}
        metrics = {f"val_{k}": v for k, v in figures.items()}
        train = p.eval_tally.means(self.info, self._dev, "train_")
        p.eval_tally = Tally()
        assert self.schedule is not None
        row = {
            "step": p.step,
            "epoch": p.epoch,
            "split": "val",
            "time": round(self.elapsed, 3),
            **train,
            **metrics,
            "lr": self.schedule.lr(max(0, p.step - 1)),
        }
        p.last_eval, p.last_eval_step = metrics, p.step
        if cfg.monitor not in row:
            raise KeyError(
                f"`monitor` {cfg.monitor!r} is not among the evaluated metrics "
                f"({', '.join(k for k in row if k not in ('step', 'epoch'))})"
            )
        value = float(row[cfg.monitor])
        improved = p.record_eval(value, cfg.monitor_mode)
        self.schedule.on_eval(value)
        self._maybe_start_averaging(value)
        p.monitor_history.append(value)
        row["best"] = p.best_value
        self._write_row(row)
        log.info(
            "epoch %d step %d: %s (best %s %.4g at step %s)",
            p.epoch,
            p.step,
            ", ".join(f"{k} {v:.4g}" for k, v in {**train, **metrics}.items()),
            cfg.monitor,
            p.best_value,
            p.best_step,
        )
        if improved:
            self._keep_best(metrics)
        if cfg.early_stopping_patience is not None and p.bad_evals >= cfg.early_stopping_patience:
            log.info("early stop: no improvement of %s in %d evaluations", cfg.monitor, p.bad_evals)
            return "early_stopping"
        return None

    def _keep_best(self, metrics: dict[str, float]) -> None:
        """The best weights so far (the evaluated ones: NT-ASGD's averages once it switched):
        ``best/`` in the run directory, or a copy in memory for ``restore_best`` without one."""
        if self.run_dir is not None:
            save_best(self, metrics)  # type: ignore[arg-type]
        elif self._best_in_memory:
            with evaluated_weights(self.optimizer):
                state = self.model.state_dict()
                self._best_state = {k: v.detach().clone() for k, v in state.items()}

    def _maybe_start_averaging(self, value: float) -> None:
        """Optimizers that switch on a stalled metric (NT-ASGD) decide here."""
        opt, p = self.optimizer, self.progress
        trigger = getattr(opt, "should_trigger", None)
        if trigger is None or not trigger(p.monitor_history, value, self.config.monitor_mode):
            return
        opt.start_averaging()  # type: ignore[union-attr]
        p.ntasgd_switch_step = p.step
        log.info("NT-ASGD: %s stalled at step %d; averaging from here", self.config.monitor, p.step)

    # ------------------------------------------------------------ metric rows

    def _write_row(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        self.metrics_log.append(row)
        if self._tb is not None:
            self._tb.add(row)

    def _log_train(self, window_t: float) -> float:
        """Write a training row; ``window_t`` is the elapsed time at the window's start."""
        p = self.progress
        now = self.elapsed
        means = p.log_tally.means(self.info, self._dev, "train_")
        items = ddp.all_reduce_sum([p.log_tally.weight], self.info, self._dev)[0]
        p.log_tally = Tally()
        assert self.schedule is not None
        row = {
            "step": p.step,
            "epoch": p.epoch,
            "split": "train",
            "time": round(now, 3),
            **means,
            "lr": self.schedule.lr(p.step - 1),
            "grad_norm": self._grad_norm,
            "items_per_s": round(items / max(now - window_t, 1e-9), 1),
            "nonfinite_skipped": p.nonfinite_skipped,
        }
        self._write_row(row)
        log.debug("step %d: %s", p.step, row)
        return now
