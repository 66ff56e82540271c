"""Saving and restoring a Trainer's full state (the ``last`` and ``best`` checkpoints).

What is saved is the trainer's public parts: the model, optimizer, grad scaler, schedule
and ``trainer.progress`` (a :class:`~rnnkit.train.progress.TrainerState`), plus the global
RNG states. ``save_last`` gathers each rank's part (RNGs now and at the start of the epoch,
the carried TBPTT state, the running tallies) and rank 0 writes one checkpoint directory
atomically (see :mod:`rnnkit.train.checkpoint`). ``restore`` puts each rank's part back.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from . import checkpoint as ck
from . import distributed as ddp
from . import rundir
from .ema import load_optimizer_state
from .metrics_log import MetricsLog
from .optim import evaluated_weights
from .progress import TrainerState

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "load_best_weights",
    "maybe_restore",
    "meta_of",
    "model_bytes",
    "open_run",
    "restore",
    "save_best",
    "save_last",
    "save_weights",
]

log = logging.getLogger(__name__)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1) + "\n").encode()


def model_bytes(t: Trainer) -> bytes:
    """safetensors bytes of the unwrapped model's state dict."""
    return ck.tensor_bytes(t.model.state_dict(), {"rnnkit.step": str(t.progress.step)})


def meta_of(t: Trainer, kind: str) -> dict[str, Any]:
    """The position and best-metric fields every ``trainer.json`` holds."""
    p = t.progress
    return {
        "format": ck.FORMAT,
        "kind": kind,
        "step": p.step,
        "epoch": p.epoch,
        "batch": p.batch,
        "metrics": p.last_eval,
        "monitor": t.config.monitor,
        "best_value": p.best_value,
        "best_step": p.best_step,
    }


def save_best(t: Trainer, metrics: dict[str, float]) -> None:
    """Write ``best/`` (the evaluated weights: NT-ASGD's averages once it switched)."""
    if t.run_dir is None or not t.is_main:
        return
    with evaluated_weights(t.optimizer):
        save_weights(t.run_dir, t.model, meta={**meta_of(t, "best"), "metrics": metrics})


def save_weights(
    run_dir: str | Path, model: nn.Module, which: str = "best", meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights as the run's ``best/`` checkpoint, atomically (the previous
    one stays intact until the new one is complete); returns the directory.

    The layout is the trainer's (``model.safetensors`` and ``trainer.json``), so
    :func:`~rnnkit.train.load_checkpoint` and ``TaskRun.load`` read it. ``meta`` goes into
    ``trainer.json`` (default: ``{"step": None}``, weights saved outside training). Only
    ``best`` can be written this way: ``last/`` also holds what a resume needs.
    """
    if which != "best":
        raise ValueError(
            f"`which` must be 'best' (last/ also holds the optimizer and RNG state that only "
            f"training writes), got {which!r}"
        )
    step = None if meta is None else meta.get("step")
    info = {"format": ck.FORMAT, "kind": which, "step": step, **(meta or {})}
    tensors = ck.tensor_bytes(
        model.state_dict(), None if step is None else {"rnnkit.step": str(step)}
    )
    return ck.write_checkpoint_dir(
        Path(run_dir) / which,
        {"model.safetensors": tensors, "trainer.json": _json_bytes(info)},
    )


def save_last(t: Trainer) -> Path | None:
    """Write ``last/``: everything a bitwise-exact resume needs (all ranks must call).

    ``t.progress.elapsed`` must be up to date. Returns the directory (None off rank 0).
    """
    if t.run_dir is None:
        return None
    assert t.optimizer is not None and t.schedule is not None
    rng_js, rng_t = ck.get_rng_state()
    js, tensors = t.progress.to_dict()
    ranks = ddp.gather_objects((rng_js, rng_t, js["rank"], tensors), t.info)
    if not t.is_main:
        return None
    extra: dict[str, Tensor] = {}
    per_rank = []
    for r, (r_rng_js, r_rng_t, r_js, r_tensors) in enumerate(ranks):
        extra.update({f"rank{r}.rng.{k}": v for k, v in r_rng_t.items()})
        extra.update({f"rank{r}.{k}": v for k, v in r_tensors.items()})
        per_rank.append({"rng": r_rng_js, **r_js})
    shared = {k: v for k, v in js.items() if k != "rank"}
    meta = {
        **meta_of(t, "last"),
        **shared,
        "world": t.info.world,
        "schedule": t.schedule.state_dict(),
        "ranks": per_rank,
    }
    optim = {
        "optimizer": t.optimizer.state_dict(),
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
    }
    return ck.write_checkpoint_dir(
        t.run_dir / "last",
        {
            "model.safetensors": model_bytes(t),
            "optimizer.pt": lambda: ck.torch_bytes(optim),
            "state.safetensors": lambda: ck.tensor_bytes(extra),
            "trainer.json": _json_bytes(meta),
        },
    )


def load_best_weights(model: nn.Module, run_dir: Path | None) -> Path | None:
    """Load ``run_dir/best`` (or ``best.old``) weights into ``model``; the checkpoint's path,
    or None when there is none (no validation data, or no run directory)."""
    if run_dir is None:
        return None
    for name in ("best", "best.old"):
        path = run_dir / name
        if (path / "trainer.json").is_file():
            state, _ = ck.load_tensors(path / "model.safetensors")
            try:
                model.load_state_dict(state)
            except RuntimeError as e:
                raise ck.CheckpointError(
                    f"{path / 'model.safetensors'}: does not fit the model: {e}"
                ) from None
            return path
    return None


def open_run(t: Trainer, resume: bool) -> MetricsLog | None:
    """Start a fit in ``t.run_dir``: remove orphaned temporary checkpoints, restore ``last/``
    (``resume``) or refuse a directory that holds a run, and write config.json (on resume:
    record a changed TrainConfig, with a warning). Returns the run's metrics log (None
    without a run directory, and off rank 0)."""
    if t.run_dir is None:
        return None
    if t.is_main:
        rundir.clean_orphans(t.run_dir)
    restored = maybe_restore(t) if resume else False
    if not resume:
        rundir.check_fresh(t.run_dir)
    if not t.is_main:
        return None
    t.run_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(t.run_dir / "metrics.csv")
    train = t.config.to_dict()
    if restored:
        metrics.restore(t.progress.step)
        try:
            saved = rundir.read_run_config(t.run_dir).get("train", {})
        except ck.CheckpointError:
            saved = {}
        changed = rundir.config_diff(saved, train, ignore=())
        if not changed:
            return metrics
        log.warning(
            "resume: TrainConfig differs from the run's config.json in %s; "
            "config.json now records the new values",
            ", ".join(changed),
        )
    else:
        (t.run_dir / "metrics.csv").unlink(missing_ok=True)
    rundir.update_run_config(t.run_dir, {**t.run_config, "train": train})
    return metrics


def maybe_restore(t: Trainer) -> bool:
    """Restore ``last/`` when there is one; False for a fresh start."""
    assert t.run_dir is not None
    try:
        path = ck.resolve_checkpoint(t.run_dir, "last")
    except ck.CheckpointError:
        log.info("resume: no checkpoint in %s yet; starting a fresh run", t.run_dir)
        return False
    restore(t, path)
    return True


def restore(t: Trainer, path: Path) -> None:
    """Load checkpoint ``path`` into ``t`` (model, optimizer, schedule, progress, RNGs)."""
    assert t.optimizer is not None and t.schedule is not None and t.device is not None
    full = ck.load_full_checkpoint(path)
    meta, extra = full["meta"], full["extra"]
    try:
        t.model.load_state_dict(full["model"])
    except RuntimeError as e:
        raise ck.CheckpointError(
            f"{path / 'model.safetensors'}: does not fit the model: {e}"
        ) from None
    load_optimizer_state(t.optimizer, full["optim"]["optimizer"])
    if t.scaler is not None and full["optim"].get("scaler"):
        t.scaler.load_state_dict(full["optim"]["scaler"])
    t.schedule.load_state_dict(meta["schedule"])
    r = t.info.rank
    if meta["world"] != t.info.world:
        raise ck.CheckpointError(
            f"{path}: written by {meta['world']} process(es), resuming with "
            f"{t.info.world}; resume with the same world size"
        )
    mine = meta["ranks"][r]
    prefix = f"rank{r}."
    tensors = {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)}
    ck.set_rng_state(mine["rng"], {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")})
    t.progress = TrainerState.from_dict({**meta, "rank": mine}, tensors, t.device)
    p = t.progress
    log.info("resumed from %s at step %d (epoch %d, batch %d)", path, p.step, p.epoch, p.batch)
