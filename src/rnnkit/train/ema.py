"""An exponential moving average of the weights (Polyak averaging), kept beside an optimizer.

``ema <- d_n * ema + (1 - d_n) * w`` after every optimizer step, starting from the weights
after the first step (as ``torch.optim.swa_utils.AveragedModel``), with the warm-up of
TensorFlow's ``ExponentialMovingAverage(decay, num_updates)``::

    d_n = min(decay, (1 + n) / (10 + n))        n: updates folded in before this one

so a short run's average is not held near its first, untrained weights (at ``decay`` 0.99
the warm-up ends after 890 steps). The average is what gets evaluated, kept as ``best/``
and left in the model at the end, through the same ``averaged()`` hook as NT-ASGD's
averages (:func:`~rnnkit.train.evaluated_weights`). Keras calls this ``use_ema=True,
ema_momentum=decay`` on its optimizers.

The average is a smoothed copy of the iterates: with ``decay`` 0.99 it spans about the last
100 steps, so it averages out the step-to-step noise of a small batch that a single iterate
carries into its validation score (on TREC-6: docs/classification.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["WeightEMA", "load_optimizer_state"]

log = logging.getLogger(__name__)


class WeightEMA:
    """``optimizer`` plus an exponential moving average of the parameters it steps.

    It stands in for the optimizer everywhere the trainer uses one (``step``,
    ``zero_grad``, ``param_groups``, ``state_dict``), so the schedule, the grad scaler and
    checkpoints work unchanged; ``state_dict`` holds the averages too, so a resumed run
    continues them bit for bit.

    Args:
        optimizer: the optimizer whose iterates are averaged.
        decay: the weight of the old average at each step once warmed up, in [0, 1); 0
            copies the weights.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = WeightEMA(torch.optim.SGD([w], lr=1.0), decay=0.5)
        >>> for _ in range(2):
        ...     w.grad = -torch.ones(2)
        ...     opt.step()
        >>> with opt.averaged():  # iterates 1 then 2; d_1 = min(0.5, 2 / 11)
        ...     [round(v, 4) for v in w.tolist()]  # 2 / 11 * 1 + 9 / 11 * 2
        [1.8182, 1.8182]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"`ema` must be in [0, 1) (the old average's weight), got {decay}")
        self.optimizer = optimizer
        self.decay = float(decay)
        self.updates = 0
        self.shadow: list[Tensor] = []

    # ------------------------------------------------------------ the optimizer's face

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:
        return self.optimizer.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.optimizer.defaults

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """The optimizer's step, then the average's."""
        loss = self.optimizer.step(closure)
        self.update()
        return loss

    def _params(self) -> list[Tensor]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    # ------------------------------------------------------------ the average

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights into the average (the first call copies them)."""
        params = self._params()
        if self.updates == 0:
            self.shadow = [p.detach().clone() for p in params]
        else:
            n = self.updates
            decay = min(self.decay, (1 + n) / (10 + n))  # the warm-up
            for avg, p in zip(self.shadow, params, strict=True):
                avg.lerp_(p.detach(), 1.0 - decay)  # avg + (1 - decay) * (p - avg)
        self.updates += 1

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Within the block the parameters hold the average (no-op before the first step)."""
        if self.updates == 0:
            yield
            return
        params = self._params()
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, avg in zip(params, self.shadow, strict=True):
                p.copy_(avg)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(params, saved, strict=True):
                    p.copy_(w)

    # ------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "ema": {"decay": self.decay, "updates": self.updates, "shadow": list(self.shadow)},
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if "ema" not in d:
            raise ValueError(
                f"optimizer state has no weight average ('ema'), got keys {sorted(d)}; "
                "load_optimizer_state also takes a plain optimizer's"
            )
        self.optimizer.load_state_dict(d["optimizer"])
        ema = d["ema"]
        params = self._params()
        shadow = [
            t.to(device=p.device, dtype=p.dtype)
            for t, p in zip(ema["shadow"], params, strict=False)  # lengths checked below
        ]
        if len(shadow) != len(params) or any(
            s.shape != p.shape for s, p in zip(shadow, params, strict=True)
        ):
            raise ValueError(
                f"optimizer state's weight average has {len(ema['shadow'])} tensors that do "
                f"not fit the model's {len(params)} parameters"
            )
        self.decay, self.updates, self.shadow = float(ema["decay"]), int(ema["updates"]), shadow


def load_optimizer_state(optimizer: torch.optim.Optimizer | WeightEMA, state: Any) -> None:
    """Load a checkpoint's optimizer ``state`` into ``optimizer``, also when a resume turned
    ``ema`` on or off (the TrainConfig may change on resume): a new average starts from the
    resumed weights; an average the resumed run does not keep is dropped. Both are logged."""
    saved_ema = isinstance(state, dict) and "ema" in state
    if isinstance(optimizer, WeightEMA) and not saved_ema:
        log.warning("resume: the checkpoint has no weight average; `ema` starts from here")
        optimizer.optimizer.load_state_dict(state)
    elif saved_ema and not isinstance(optimizer, WeightEMA):
        log.warning("resume: `ema` is off now; the checkpoint's weight average is dropped")
        optimizer.load_state_dict(state["optimizer"])
    else:
        optimizer.load_state_dict(state)
