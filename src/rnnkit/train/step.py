"""What a task's step function returns, and the weighted tallies the trainer keeps of it."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from . import distributed as ddp
from .device import autocast
from .state import to_device

__all__ = [
    "NonFiniteError",
    "StepFn",
    "StepOutput",
    "Tally",
    "call_step",
    "scalars",
    "seed_everything",
]


class StepOutput(NamedTuple):
    """What a step function returns for one batch."""

    loss: Tensor
    """Scalar: the mean over ``weight`` items; the trainer backpropagates it."""
    weight: int
    """Items the mean is over (tokens, samples): weights epoch averages and throughput."""
    state: Any = None
    """Recurrent state to carry into the next batch (TBPTT); None carries nothing."""
    metrics: Mapping[str, float] = MappingProxyType({})
    """Extra per-batch figures (means over ``weight`` items), averaged with ``weight``."""


StepFn = Callable[[nn.Module, Any, Any], StepOutput]


class NonFiniteError(RuntimeError):
    """The loss or the gradient became NaN or infinite."""


def seed_everything(seed: int) -> None:
    """Seed the global python, numpy and torch RNGs.

    For user scripts: library code never reseeds the global RNGs (the trainer runs a fit in
    its own RNG scope, see :func:`rnnkit.train.interrupt.rng_scope`)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - user code may use the legacy global RNG
    torch.manual_seed(seed)


class Tally:
    """Weighted sums of the loss and metrics over a window of batches."""

    def __init__(self, d: Mapping[str, Any] | None = None) -> None:
        d = d or {}
        self.weight = float(d.get("weight", 0.0))
        self.loss = float(d.get("loss", 0.0))
        self.metrics: dict[str, float] = dict(d.get("metrics", {}))

    def add(self, loss: float, weight: float, metrics: Mapping[str, float]) -> None:
        self.weight += weight
        self.loss += loss * weight
        for k, v in metrics.items():
            self.metrics[k] = self.metrics.get(k, 0.0) + float(v) * weight

    def means(self, info: ddp.DistInfo, device: torch.device, prefix: str = "") -> dict[str, float]:
        names = sorted(self.metrics)
        sums = ddp.all_reduce_sum(
            [self.weight, self.loss] + [self.metrics[k] for k in names], info, device
        )
        w = sums[0]
        if w <= 0:
            return {}
        out = {f"{prefix}loss": sums[1] / w}
        out.update({f"{prefix}{k}": s / w for k, s in zip(names, sums[2:], strict=True)})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "loss": self.loss, "metrics": dict(self.metrics)}


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Plain floats of a step's metrics (tensors detached first)."""
    return {
        k: float(v.detach().float()) if isinstance(v, Tensor) else float(v)
        for k, v in metrics.items()
    }


def call_step(
    step_fn: StepFn, model: nn.Module, batch: Any, state: Any, precision: str, device: torch.device
) -> StepOutput:
    """Run ``step_fn`` on ``batch`` (moved to ``device``) under autocast; check its output."""
    batch = to_device(batch, device)
    with autocast(precision, device):
        out = step_fn(model, batch, state)
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
