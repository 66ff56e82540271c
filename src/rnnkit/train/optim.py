"""Optimizers and learning-rate schedules.

- :func:`build_optimizer` maps ``TrainConfig.optimizer`` to a ``torch.optim`` optimizer.
- :class:`NTASGD` is non-monotonically triggered averaged SGD (Merity et al., 2017,
  AWD-LSTM): plain SGD until the monitored metric stalls, then SGD whose iterates are
  averaged, ``ax_n = ax_{n-1} + (w_n - ax_{n-1}) / (n - 1)``; the average is what gets
  evaluated.
  After the switch it matches ``torch.optim.ASGD(t0=0, lambd=0)`` step for step.
- :class:`LRSchedule` gives the rate at each step as a closed form of the step (constant,
  step, cosine), or of the evaluation history (plateau), with a linear warm-up in front.
  Its state is a few numbers, so it checkpoints as JSON.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from .config import TrainConfig
from .ema import WeightEMA

__all__ = ["NTASGD", "LRSchedule", "build_optimizer", "evaluated_weights"]

log = logging.getLogger(__name__)


class NTASGD(torch.optim.Optimizer):
    """SGD that averages its iterates once :meth:`start_averaging` is called.

    Args:
        params: parameters to optimise.
        lr: learning rate.
        weight_decay: L2 penalty added to the gradient.
        nonmono: the trigger of :meth:`should_trigger`: averaging starts when the metric is
            worse than the best of those seen more than ``nonmono`` evaluations ago.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float = 1.0, weight_decay: float = 0.0, nonmono: int = 5
    ) -> None:
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "averaging": False,
            "n_avg": 0,
            "nonmono": nonmono,
        }
        super().__init__(params, defaults)

    @property
    def averaging(self) -> bool:
        return bool(self.param_groups[0]["averaging"])

    def should_trigger(self, history: list[float], value: float, mode: str = "min") -> bool:
        """AWD-LSTM's rule: ``value`` worse than the best of ``history[:-nonmono]``."""
        n = self.param_groups[0]["nonmono"]
        if self.averaging or len(history) <= n:
            return False
        old = history[:-n]
        return value > min(old) if mode == "min" else value < max(old)

    def start_averaging(self) -> None:
        for group in self.param_groups:
            group["averaging"] = True
            group["n_avg"] = 0

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["averaging"]:
                group["n_avg"] += 1
            # torch.optim.ASGD(t0=0)'s weights: 1, 1, 1/2, 1/3, ... (the first iterate after
            # the switch is overwritten by the second, then a plain running mean)
            mu = 1.0 / max(1, group["n_avg"] - 1)
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if group["weight_decay"]:
                    d = d.add(p, alpha=group["weight_decay"])
                p.add_(d, alpha=-group["lr"])
                if group["averaging"]:
                    state = self.state[p]
                    if "ax" not in state:
                        state["ax"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    ax = state["ax"]
                    ax.add_(p.sub(ax).mul(mu))  # running mean of the iterates
        return loss

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Within the block the parameters hold their averages (no-op before the switch)."""
        if not self.averaging:
            yield
            return
        saved = []
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    ax = self.state[p].get("ax")
                    if ax is not None:
                        saved.append((p, p.detach().clone()))
                        p.copy_(ax)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in saved:
                    p.copy_(w)


def evaluated_weights(optimizer: torch.optim.Optimizer | None) -> contextlib.AbstractContextManager:
    """Within the block the parameters hold the weights that get evaluated and kept.

    The one hook for optimizers whose evaluated weights differ from their iterates: an
    optimizer with an ``averaged()`` context manager (:class:`NTASGD`, :class:`WeightEMA`)
    swaps its averages in;
    for any other it is a no-op context.
    """
    averaged = getattr(optimizer, "averaged", None)
    return averaged() if callable(averaged) else contextlib.nullcontext()


def build_optimizer(
    params: Iterable[Tensor] | Iterable[dict[str, Any]], cfg: TrainConfig
) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over ``params``, wrapped in a
    :class:`~rnnkit.train.ema.WeightEMA` when ``cfg.ema`` is set."""
    optimizer = _named_optimizer(params, cfg)
    return optimizer if cfg.ema is None else WeightEMA(optimizer, cfg.ema)  # type: ignore[return-value]


def _named_optimizer(
    params: Iterable[Tensor] | Iterable[dict[str, Any]], cfg: TrainConfig
) -> torch.optim.Optimizer:
    name, lr, wd = cfg.optimizer, cfg.lr, cfg.weight_decay
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=wd
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    if name == "ntasgd":
        return NTASGD(params, lr=lr, weight_decay=wd, nonmono=cfg.ntasgd_nonmono)
    raise ValueError(
        f"`optimizer` must be one of sgd, adam, adamw, adagrad, rmsprop, ntasgd, got {name!r}"
    )


class LRSchedule:
    """Learning rate as a function of the step (and, for plateau, of the evaluations).

    ``lr(step)``: with ``w = warmup_steps`` and ``base = cfg.lr``,

    - warm-up factor ``min(1, (step + 1) / w)`` multiplies every schedule;
    - constant: ``base``;
    - step: ``base * gamma ** (step // step_size)``;
    - cosine: ``min_lr + (base - min_lr) * (1 + cos(pi * p)) / 2`` with
      ``p = (step - w) / (total_steps - w)`` clamped to [0, 1];
    - plateau: ``max(min_lr, base / factor ** k)`` after ``k`` reductions, one each time the
      monitored metric has not improved for more than ``plateau_patience`` evaluations
      (``torch.optim.lr_scheduler.ReduceLROnPlateau`` with ``threshold=0``).
    """

    def __init__(self, cfg: TrainConfig, total_steps: int | None = None) -> None:
        if cfg.schedule == "cosine" and not total_steps:
            raise ValueError(
                "schedule='cosine' needs the run length: set `max_steps`, or give "
                "training data with a len() and set `epochs`"
            )
        self.cfg = cfg
        self.total_steps = total_steps
        self.reductions = 0
        self.best: float | None = None
        self.bad = 0

    def lr(self, step: int) -> float:
        c = self.cfg
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        if c.schedule == "step":
            rate = c.lr * c.gamma ** (step // c.step_size)
        elif c.schedule == "cosine":
            assert self.total_steps is not None
            span = max(1, self.total_steps - c.warmup_steps)
            p = min(1.0, max(0.0, (step - c.warmup_steps) / span))
            rate = c.min_lr + (c.lr - c.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
        elif c.schedule == "plateau":
            rate = max(c.min_lr, c.lr / c.plateau_factor**self.reductions)
        else:
            rate = c.lr
        return rate * warm

    def on_eval(self, value: float) -> bool:
        """Record a monitored value; returns True when the plateau rule cut the rate."""
        if self.cfg.schedule != "plateau":
            return False
        better = self.best is None or (
            value < self.best if self.cfg.monitor_mode == "min" else value > self.best
        )
        if better:
            self.best, self.bad = value, 0
            return False
        self.bad += 1
        if self.bad > self.cfg.plateau_patience:
            self.reductions += 1
            self.bad = 0
            log.info(
                "plateau: learning rate divided by %g (%d reductions)",
                self.cfg.plateau_factor,
                self.reductions,
            )
            return True
        return False

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set the rate for ``step`` on every parameter group; returns it."""
        rate = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = rate
        return rate

    def state_dict(self) -> dict[str, Any]:
        return {"reductions": self.reductions, "best": self.best, "bad": self.bad}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.reductions, self.best, self.bad = int(d["reductions"]), d["best"], int(d["bad"])


def model_parameters(model: nn.Module) -> list[Tensor]:
    """Trainable parameters of ``model`` (those with ``requires_grad``)."""
    return [p for p in model.parameters() if p.requires_grad]
