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

Resume: ``last/`` holds the exact position (epoch, batch within the epoch), the carried
state, the optimizer, the schedule and every RNG, including the RNG at the start of the
epoch: on resume the epoch's iteration is re-created from that RNG (and ``set_epoch``) and
the batches already trained on are skipped, so a resumed run is bitwise identical on CPU.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import checkpoint as ck
from . import distributed as ddp
from .config import TrainConfig
from .device import autocast, check_precision, make_scaler, resolve_device
from .metrics_log import MetricsLog, ProgressBar, TensorBoardWriter
from .optim import NTASGD, LRSchedule, build_optimizer
from .resume import maybe_restore, save_best, save_last
from .state import detach_state, to_device
from .step import NonFiniteError, StepFn, StepOutput, Tally, scalars, seed_everything

__all__ = ["NonFiniteError", "StepFn", "StepOutput", "Trainer", "seed_everything"]

log = logging.getLogger(__name__)


class Trainer:
    """Trains ``model`` with ``step_fn`` under ``config``; see the module docstring.

    Args:
        model: any ``nn.Module``.
        config: a :class:`TrainConfig` (or a dict for ``TrainConfig.from_dict``).
        step_fn: ``step_fn(model, batch, state) -> StepOutput``.
        run_dir: where config, checkpoints and metrics go; None keeps nothing on disk.
        run_config: the task's full config, written to ``run_dir/config.json`` with the
            TrainConfig under ``"train"``, so the run can be rebuilt.

    Attributes:
        step: training batches done (steps are counted from 1 in logs and messages).
        epoch, batch: the position of the next batch.
        history: the metric rows written to ``metrics.csv``.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | Mapping[str, Any] | None,
        step_fn: StepFn,
        run_dir: str | Path | None = None,
        run_config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(step_fn):
            raise TypeError(f"`step_fn` must be callable, got {type(step_fn).__name__}")
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
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_config = dict(run_config or {})
        self.info = ddp.DistInfo()
        self.device: torch.device | None = None
        self.module: nn.Module = model
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.schedule: LRSchedule | None = None
        self.metrics_log = MetricsLog(None)
        self._tb: TensorBoardWriter | None = None
        self._t0 = time.monotonic()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.step = self.epoch = self.batch = 0
        self.elapsed = 0.0
        self.state: Any = None
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.monitor_history: list[float] = []
        self.nonfinite_skipped = 0
        self.ntasgd_switch_step: int | None = None
        self.last_eval: dict[str, float] = {}
        self.last_eval_step: int | None = None
        self._epoch_rng: tuple[dict[str, Any], dict[str, Tensor]] | None = None
        self._log_tally, self._eval_tally = Tally(), Tally()
        self._grad_norm = float("nan")

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
        guess = (
            "cuda"
            if cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
            else "cpu"
        )
        self.info = ddp.setup(cfg.distributed, guess)
        self.device = resolve_device(cfg.device, self.info.local_rank)
        check_precision(cfg.precision, self.device)
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
        log.info(
            "training on %s (%s)%s",
            self.device,
            cfg.precision,
            f", rank {self.info.rank} of {self.info.world}" if self.info.enabled else "",
        )

    def _total_steps(self, data: Any) -> int | None:
        cfg = self.config
        per_epoch = len(data) if hasattr(data, "__len__") else None
        by_epochs = cfg.epochs * per_epoch if cfg.epochs and per_epoch else None
        if cfg.max_steps and by_epochs:
            return min(cfg.max_steps, by_epochs)
        return cfg.max_steps or by_epochs

    def _check_fresh_run_dir(self) -> None:
        assert self.run_dir is not None
        for name in ("last", "last.old", "best"):
            if (self.run_dir / name).exists():
                raise FileExistsError(
                    f"{self.run_dir} already holds a run ({name}/); pass resume=True to "
                    "continue it, or choose another `run_dir`"
                )

    # ------------------------------------------------------------ fit

    def fit(
        self, train_data: Iterable[Any], val_data: Iterable[Any] | None = None, resume: bool = False
    ) -> dict[str, Any]:
        """Train; returns the final and best figures.

        Args:
            train_data: an iterable of batches, iterated once per epoch (a list, a DataLoader,
                or an object with ``__iter__``; ``set_epoch(epoch)`` is called when present,
                ``shard(rank, world)`` under DDP).
            val_data: batches for :meth:`evaluate`, run every ``eval_every`` steps or each
                epoch; picks the best checkpoint and drives early stopping.
            resume: continue from ``run_dir/last`` (a fresh start when there is none yet).

        Returns:
            ``{"step", "epoch", "stopped", "train_loss", "val_loss" ..., "best_value",
            "best_step", "monitor", "nonfinite_skipped", "elapsed"}``.
        """
        self._setup()
        assert self.device is not None and self.optimizer is not None
        cfg = self.config
        train = ddp.shard(train_data, self.info)
        val = ddp.shard(val_data, self.info)
        self.schedule = LRSchedule(cfg, self._total_steps(train))
        if val is None and cfg.early_stopping_patience is not None:
            log.warning("`early_stopping_patience` is set but there is no validation data")
        restored = False
        if self.run_dir is not None:
            if resume:
                restored = maybe_restore(self)
            else:
                self._check_fresh_run_dir()
            if self.is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.metrics_log = MetricsLog(self.run_dir / "metrics.csv")
        elif resume:
            raise ValueError("`resume`=True needs a `run_dir` to resume from, got None")
        if restored:
            self.metrics_log.restore(self.step)
            self._note_config_change()
        else:
            seed_everything(cfg.seed + self.info.rank)
            if self.run_dir is not None and self.is_main:
                (self.run_dir / "metrics.csv").unlink(missing_ok=True)
                ck.atomic_write_json(
                    self.run_dir / "config.json", {**self.run_config, "train": cfg.to_dict()}
                )
        tb = (
            TensorBoardWriter(self.run_dir / "tensorboard")
            if cfg.tensorboard and self.run_dir is not None and self.is_main
            else None
        )
        self._tb = tb
        self._t0 = time.monotonic() - self.elapsed
        stopped = None
        try:
            while stopped is None:
                if cfg.epochs is not None and self.epoch >= cfg.epochs:
                    stopped = "epochs"
                    break
                stopped = self._run_epoch(train, val)
            if val is not None and self.last_eval_step != self.step:
                self._evaluate_val(val)
            save_last(self)
        finally:
            if tb is not None:
                tb.close()
        if isinstance(self.optimizer, NTASGD) and self.optimizer.averaging:
            with torch.no_grad():  # leave the model holding the weights that were evaluated
                for p in self.model.parameters():
                    ax = self.optimizer.state[p].get("ax")
                    if ax is not None:
                        p.copy_(ax)
        self._plot()
        result = {
            "step": self.step,
            "epoch": self.epoch,
            "stopped": stopped,
            **self._eval_tally_means_or_last(),
            **self.last_eval,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "monitor": cfg.monitor,
            "nonfinite_skipped": self.nonfinite_skipped,
            "ntasgd_switch_step": self.ntasgd_switch_step,
            "elapsed": time.monotonic() - self._t0,
        }
        log.info(
            "finished (%s) at step %d: %s",
            stopped,
            self.step,
            ", ".join(f"{k} {v:.4g}" for k, v in self.last_eval.items()),
        )
        return result

    def _note_config_change(self) -> None:
        """On resume: warn about TrainConfig fields that differ, record the new config."""
        assert self.run_dir is not None
        if not self.is_main:
            return
        path = self.run_dir / "config.json"
        try:
            saved = ck.read_run_config(self.run_dir)
        except ck.CheckpointError:
            saved = {}
        new = self.config.to_dict()
        changed = sorted(k for k in new if saved.get("train", {}).get(k) != new[k])
        if changed:
            log.warning(
                "resume: TrainConfig differs from the run's config.json in %s; "
                "config.json now records the new values",
                ", ".join(changed),
            )
            ck.atomic_write_json(path, {**saved, **self.run_config, "train": new})

    def _eval_tally_means_or_last(self) -> dict[str, float]:
        for row in reversed(self.history):
            if "train_loss" in row:
                return {"train_loss": row["train_loss"]}
        return {}

    def _run_epoch(self, train: Any, val: Any) -> str | None:
        cfg = self.config
        if self.batch == 0:  # a fresh epoch: remember the RNG its iteration starts from
            self._epoch_rng = ck.get_rng_state()
            self.state = None
            ddp.set_epoch(train, self.epoch)
            it = iter(train)
        else:  # resuming mid-epoch: replay the epoch's start, skip what was trained on
            now = ck.get_rng_state()
            assert self._epoch_rng is not None
            ck.set_rng_state(*self._epoch_rng)
            ddp.set_epoch(train, self.epoch)
            it = iter(train)
            for i in range(self.batch):
                if next(it, None) is None:
                    raise RuntimeError(
                        f"resume: epoch {self.epoch} of the training data has "
                        f"only {i} batches, the checkpoint is at batch "
                        f"{self.batch}; is it the same data?"
                    )
            ck.set_rng_state(*now)
        total = len(train) if hasattr(train, "__len__") else None
        bar = ProgressBar(
            cfg.progress if self.is_main else False, total, self.batch, f"epoch {self.epoch}"
        )
        window_t = time.monotonic()
        seen = self.batch
        try:
            for batch in it:
                loss, weight, metrics = self._train_step(batch)
                seen += 1
                self.batch += 1
                self.step += 1
                if weight:
                    self._log_tally.add(loss, weight, metrics)
                    self._eval_tally.add(loss, weight, metrics)
                bar.update({"loss": loss, **metrics}, weight)
                if self.step % cfg.log_every == 0:
                    window_t = self._log_train(window_t)
                stop = None
                if cfg.eval_every and self.step % cfg.eval_every == 0 and val is not None:
                    stop = self._evaluate_val(val)
                    save_last(self)
                elif cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    save_last(self)
                stop = stop or self._budget_spent()
                if stop:
                    return stop
        finally:
            bar.close()
        if seen and self.step % cfg.log_every:  # the epoch's tail since the last row
            self._log_train(window_t)
        if seen == 0:
            raise ValueError(
                f"the training data yielded no batches in epoch {self.epoch}; it "
                "must be non-empty and re-iterable (a list, a DataLoader, an "
                "object with __iter__), not a one-shot generator"
            )
        stop = self._evaluate_val(val) if val is not None and not cfg.eval_every else None
        self.epoch += 1
        self.batch = 0
        self.state = None
        self._epoch_rng = None
        save_last(self)
        return stop

    def _budget_spent(self) -> str | None:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_time is not None:
            spent = float(time.monotonic() - self._t0 >= cfg.max_time)
            if ddp.all_reduce_sum([spent], self.info, self._dev)[0] > 0:
                return "max_time"
        return None

    @property
    def _dev(self) -> torch.device:
        assert self.device is not None
        return self.device

    # ------------------------------------------------------------ one step

    def _call(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        batch = to_device(batch, self._dev)
        with autocast(self.config.precision, self._dev):
            out = self.step_fn(model, batch, state)
        if not (isinstance(out, tuple) and len(out) >= 2 and isinstance(out[0], Tensor)):
            raise TypeError(
                f"`step_fn` must return StepOutput(loss, weight, state, metrics), "
                f"got {type(out).__name__}"
            )
        if not isinstance(out, StepOutput):
            out = StepOutput(*out)
        if out.loss.numel() != 1:
            raise ValueError(f"StepOutput.loss must be a scalar, got shape {tuple(out.loss.shape)}")
        if out.weight < 0:
            raise ValueError(f"StepOutput.weight must be >= 0, got {out.weight}")
        return out

    def _nonfinite(self, what: str, value: float) -> None:
        where = (
            f"non-finite {what} ({value}) at step {self.step + 1} (epoch {self.epoch}, "
            f"batch {self.batch})"
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
        self.nonfinite_skipped += 1
        log.warning("%s: step skipped (%d skipped so far)", where, self.nonfinite_skipped)

    def _train_step(self, batch: Any) -> tuple[float, int, dict[str, float]]:
        cfg, opt = self.config, self.optimizer
        assert opt is not None and self.schedule is not None
        self.module.train()
        out = self._call(self.module, batch, self.state)
        loss_value = float(out.loss.detach().float())
        finite = math.isfinite(loss_value)
        if self.info.enabled:  # every rank must take the same branch
            finite = ddp.all_reduce_sum([float(not finite)], self.info, self._dev)[0] == 0
        opt.zero_grad(set_to_none=True)
        if not finite:
            self._nonfinite("loss", loss_value)
            self.state = None
            return loss_value, 0, {}
        if self.scaler is not None:
            self.scaler.scale(out.loss).backward()
            self.scaler.unscale_(opt)
        else:
            out.loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if cfg.clip_norm is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
        if cfg.clip_value is not None:
            torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
        self._grad_norm = norm
        self.schedule.apply(opt, self.step)
        if self.scaler is not None:  # the scaler skips steps with inf gradients by design
            self.scaler.step(opt)
            self.scaler.update()
        elif not math.isfinite(norm):
            self._nonfinite("gradient norm", norm)
            opt.zero_grad(set_to_none=True)
            self.state = None
            return loss_value, 0, {}
        else:
            opt.step()
        self.state = detach_state(out.state)
        metrics = scalars(out.metrics)
        return loss_value, int(out.weight), metrics

    # ------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, data: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``data`` in eval mode, without gradients.

        The state is carried across batches as in training (starting from None). Under
        NT-ASGD after the switch, the averaged weights are evaluated. Returns
        ``{"loss": ..., **metrics}`` (weighted by ``StepOutput.weight``, over all ranks).
        """
        if self.device is None:
            self._setup()
        model = self.model
        was_training = model.training
        model.eval()
        tally, state, n = Tally(), None, 0
        ctx = (
            self.optimizer.averaged()
            if isinstance(self.optimizer, NTASGD)
            else contextlib.nullcontext()
        )
        try:
            with ctx:
                for batch in data:
                    out = self._call(model, batch, state)
                    tally.add(
                        float(out.loss.float()),
                        out.weight,
                        scalars(out.metrics),
                    )
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

    def _better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if self.config.monitor_mode == "min" else value > best

    def _evaluate_val(self, val: Any) -> str | None:
        cfg = self.config
        metrics = {f"val_{k}": v for k, v in self.evaluate(val).items()}
        train = self._eval_tally.means(self.info, self._dev, "train_")
        self._eval_tally = Tally()
        row = {
            "step": self.step,
            "epoch": self.epoch,
            "split": "val",
            "time": round(time.monotonic() - self._t0, 3),
            **train,
            **metrics,
            "lr": self.schedule.lr(max(0, self.step - 1)) if self.schedule else None,
        }
        self.last_eval, self.last_eval_step = metrics, self.step
        if cfg.monitor not in row:
            raise KeyError(
                f"`monitor` {cfg.monitor!r} is not among the evaluated metrics "
                f"({', '.join(k for k in row if k not in ('step', 'epoch'))})"
            )
        value = float(row[cfg.monitor])
        improved = self._better(value, self.best_value)
        if improved:
            self.best_value, self.best_step, self.bad_evals = value, self.step, 0
        else:
            self.bad_evals += 1
        assert self.schedule is not None
        self.schedule.on_eval(value)
        if isinstance(self.optimizer, NTASGD) and self.optimizer.should_trigger(
            self.monitor_history, value, cfg.monitor_mode
        ):
            self.optimizer.start_averaging()
            self.ntasgd_switch_step = self.step
            log.info("NT-ASGD: %s stalled at step %d; averaging from here", cfg.monitor, self.step)
        self.monitor_history.append(value)
        row["best"] = self.best_value
        self._write_row(row)
        log.info(
            "epoch %d step %d: %s (best %s %.4g at step %s)",
            self.epoch,
            self.step,
            ", ".join(f"{k} {v:.4g}" for k, v in {**train, **metrics}.items()),
            cfg.monitor,
            self.best_value,
            self.best_step,
        )
        if improved:
            save_best(self, metrics)
        if (
            cfg.early_stopping_patience is not None
            and self.bad_evals >= cfg.early_stopping_patience
        ):
            log.info(
                "early stop: no improvement of %s in %d evaluations", cfg.monitor, self.bad_evals
            )
            return "early_stopping"
        return None

    # ------------------------------------------------------------ logging

    def _write_row(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        self.metrics_log.append(row)
        if self._tb is not None:
            self._tb.add(row)

    def _log_train(self, window_t: float) -> float:
        now = time.monotonic()
        means = self._log_tally.means(self.info, self._dev, "train_")
        items = ddp.all_reduce_sum([self._log_tally.weight], self.info, self._dev)[0]
        self._log_tally = Tally()
        assert self.schedule is not None
        row = {
            "step": self.step,
            "epoch": self.epoch,
            "split": "train",
            "time": round(now - self._t0, 3),
            **means,
            "lr": self.schedule.lr(self.step - 1),
            "grad_norm": self._grad_norm,
            "items_per_s": round(items / max(now - window_t, 1e-9), 1),
            "nonfinite_skipped": self.nonfinite_skipped,
        }
        self._write_row(row)
        log.debug("step %d: %s", self.step, row)
        return now

    def _plot(self) -> None:
        if self.run_dir is None or not self.is_main or not self.history:
            return
        try:
            from rnnkit.viz.curves import plot_loss

            plot_loss(self.history, self.run_dir / "loss.png")
        except Exception as e:  # a figure must never lose a finished run
            log.warning("could not draw loss.png: %s", e)
