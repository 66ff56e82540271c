"""Saving and restoring a Trainer's full state (the ``last`` and ``best`` checkpoints).

``save_last`` gathers from every rank what makes the run exact — RNG states (now and at the
start of the epoch), the carried TBPTT state, the running tallies — and rank 0 writes one
checkpoint directory atomically (see :mod:`rnnkit.train.checkpoint`). ``restore`` puts each
rank's part back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from . import checkpoint as ck
from . import distributed as ddp
from .optim import NTASGD
from .state import flatten_state, unflatten_state
from .step import Tally

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["maybe_restore", "meta_of", "model_bytes", "restore", "save_best", "save_last"]

log = logging.getLogger(__name__)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1) + "\n").encode()


def model_bytes(t: Trainer) -> bytes:
    """safetensors bytes of the unwrapped model's state dict."""
    return ck.tensor_bytes(t.model.state_dict(), {"rnnkit.step": str(t.step)})


def meta_of(t: Trainer, kind: str) -> dict[str, Any]:
    """The position and best-metric fields every ``trainer.json`` holds."""
    return {
        "format": ck.FORMAT,
        "kind": kind,
        "step": t.step,
        "epoch": t.epoch,
        "batch": t.batch,
        "metrics": t.last_eval,
        "monitor": t.config.monitor,
        "best_value": t.best_value,
        "best_step": t.best_step,
    }


def save_best(t: Trainer, metrics: dict[str, float]) -> None:
    """Write ``best/`` (the evaluated weights: NT-ASGD's averages once it switched)."""
    if t.run_dir is None or not t.is_main:
        return
    ctx = t.optimizer.averaged() if isinstance(t.optimizer, NTASGD) else contextlib.nullcontext()
    with ctx:
        model = model_bytes(t)
    meta = {**meta_of(t, "best"), "metrics": metrics}
    ck.write_checkpoint_dir(
        t.run_dir / "best", {"model.safetensors": model, "trainer.json": _json_bytes(meta)}
    )


def save_last(t: Trainer) -> None:
    """Write ``last/``: everything a bitwise-exact resume needs (all ranks must call)."""
    if t.run_dir is None:
        return
    assert t.optimizer is not None and t.schedule is not None
    rng_js, rng_t = ck.get_rng_state()
    state_t, spec = flatten_state(t.state)
    mine = {
        "rng": rng_js,
        "rng_t": rng_t,
        "state": state_t,
        "spec": spec,
        "epoch_rng": t._epoch_rng,
        "log_tally": t._log_tally.to_dict(),
        "eval_tally": t._eval_tally.to_dict(),
    }
    ranks = ddp.gather_objects(mine, t.info)
    if not t.is_main:
        return
    extra: dict[str, Tensor] = {}
    per_rank = []
    for r, g in enumerate(ranks):
        extra.update({f"rank{r}.rng.{k}": t for k, t in g["rng_t"].items()})
        extra.update({f"rank{r}.state.{k}": t for k, t in g["state"].items()})
        epoch_js = None
        if g["epoch_rng"] is not None:
            epoch_js = g["epoch_rng"][0]
            extra.update({f"rank{r}.epoch_rng.{k}": t for k, t in g["epoch_rng"][1].items()})
        per_rank.append(
            {
                "rng": g["rng"],
                "epoch_rng": epoch_js,
                "state_spec": g["spec"],
                "log_tally": g["log_tally"],
                "eval_tally": g["eval_tally"],
            }
        )
    meta = {
        **meta_of(t, "last"),
        "world": t.info.world,
        "elapsed": time.monotonic() - t._t0,
        "bad_evals": t.bad_evals,
        "monitor_history": t.monitor_history,
        "nonfinite_skipped": t.nonfinite_skipped,
        "ntasgd_switch_step": t.ntasgd_switch_step,
        "last_eval_step": t.last_eval_step,
        "schedule": t.schedule.state_dict(),
        "ranks": per_rank,
    }
    optim = {
        "optimizer": t.optimizer.state_dict(),
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
    }
    ck.write_checkpoint_dir(
        t.run_dir / "last",
        {
            "model.safetensors": model_bytes(t),
            "optimizer.pt": lambda: ck.torch_bytes(optim),
            "state.safetensors": lambda: ck.tensor_bytes(extra),
            "trainer.json": _json_bytes(meta),
        },
    )


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
    """Load checkpoint ``path`` into ``t`` (model, optimizer, counters, RNGs, state)."""
    assert t.optimizer is not None and t.schedule is not None
    full = ck.load_full_checkpoint(path)
    meta, extra = full["meta"], full["extra"]
    try:
        t.model.load_state_dict(full["model"])
    except RuntimeError as e:
        raise ck.CheckpointError(
            f"{path / 'model.safetensors'}: does not fit the model: {e}"
        ) from None
    t.optimizer.load_state_dict(full["optim"]["optimizer"])
    if t.scaler is not None and full["optim"].get("scaler"):
        t.scaler.load_state_dict(full["optim"]["scaler"])
    t.step, t.epoch, t.batch = meta["step"], meta["epoch"], meta["batch"]
    t.elapsed = float(meta["elapsed"])
    t.best_value, t.best_step = meta["best_value"], meta["best_step"]
    t.bad_evals = meta["bad_evals"]
    t.monitor_history = list(meta["monitor_history"])
    t.nonfinite_skipped = meta["nonfinite_skipped"]
    t.ntasgd_switch_step = meta["ntasgd_switch_step"]
    t.last_eval, t.last_eval_step = meta["metrics"], meta["last_eval_step"]
    t.schedule.load_state_dict(meta["schedule"])
    r = t.info.rank
    if meta["world"] != t.info.world:
        raise ck.CheckpointError(
            f"{path}: written by {meta['world']} process(es), resuming with "
            f"{t.info.world}; resume with the same world size"
        )
    mine = meta["ranks"][r]

    def tensors(prefix: str) -> dict[str, Tensor]:
        p = f"rank{r}.{prefix}."
        return {k[len(p) :]: v for k, v in extra.items() if k.startswith(p)}

    ck.set_rng_state(mine["rng"], tensors("rng"))
    t._epoch_rng = (
        (mine["epoch_rng"], tensors("epoch_rng")) if mine["epoch_rng"] is not None else None
    )
    t.state = unflatten_state(tensors("state"), mine["state_spec"], t._dev)
    t._log_tally = Tally(mine["log_tally"])
    t._eval_tally = Tally(mine["eval_tally"])
    log.info(
        "resumed from %s at step %d (epoch %d, batch %d)",
        path,
        t.step,
        t.epoch,
        t.batch,
    )
