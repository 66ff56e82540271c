"""``TrainerState``: everything about a run's progress that a resume must put back.

One explicit object, held by the trainer as ``trainer.progress``, that the checkpoint code
serialises (:meth:`TrainerState.to_dict`) and restores (:meth:`TrainerState.from_dict`),
so no other module reads or writes the trainer's private attributes. Tensors (the carried
TBPTT state, the RNG state at the start of the epoch) are kept apart from the JSON part,
for safetensors.

Some fields are the same on every DDP rank (the position, the evaluation history); the
others (``carry``, ``epoch_rng``, the tallies) are each rank's own and sit under ``"rank"``
in the dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .state import flatten_state, unflatten_state
from .step import Tally

__all__ = ["TrainerState"]

# trainer.json names of the shared fields (``metrics`` is ``last_eval``)
_SHARED = {
    "step": "step",
    "epoch": "epoch",
    "batch": "batch",
    "elapsed": "elapsed",
    "best_value": "best_value",
    "best_step": "best_step",
    "bad_evals": "bad_evals",
    "monitor_history": "monitor_history",
    "nonfinite_skipped": "nonfinite_skipped",
    "ntasgd_switch_step": "ntasgd_switch_step",
    "last_eval": "metrics",
    "last_eval_step": "last_eval_step",
}


@dataclass
class TrainerState:
    """A run's progress. ``step`` counts training batches done; ``epoch, batch`` is the
    position of the next batch."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    elapsed: float = 0.0
    """Seconds of training over all invocations, up to the last checkpoint."""
    best_value: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    """Evaluations since the last improvement (early stopping)."""
    monitor_history: list[float] = field(default_factory=list)
    nonfinite_skipped: int = 0
    ntasgd_switch_step: int | None = None
    last_eval: dict[str, float] = field(default_factory=dict)
    last_eval_step: int | None = None
    carry: Any = None
    """The recurrent state carried into the next batch (this rank's)."""
    epoch_rng: tuple[dict[str, Any], dict[str, Tensor]] | None = None
    """The RNG state the current epoch's iteration started from (None between epochs)."""
    log_tally: Tally = field(default_factory=Tally)
    eval_tally: Tally = field(default_factory=Tally)

    def record_eval(self, value: float, mode: str) -> bool:
        """Book one evaluation of the monitored metric; True when it is the best so far."""
        best = self.best_value
        improved = best is None or (value < best if mode == "min" else value > best)
        if improved:
            self.best_value, self.best_step, self.bad_evals = value, self.step, 0
        else:
            self.bad_evals += 1
        return improved

    def end_epoch(self) -> None:
        """Move to the start of the next epoch (the carried state is dropped)."""
        self.epoch += 1
        self.batch = 0
        self.carry = None
        self.epoch_rng = None

    def to_dict(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``(json_part, tensors)``: shared fields under their trainer.json names, this
        rank's under ``"rank"``; tensor names ``state.<i>`` and ``epoch_rng.<name>``."""
        js: dict[str, Any] = {key: getattr(self, attr) for attr, key in _SHARED.items()}
        js["monitor_history"] = list(self.monitor_history)
        js["metrics"] = dict(self.last_eval)
        carry, spec = flatten_state(self.carry)
        tensors = {f"state.{k}": t for k, t in carry.items()}
        epoch_js = None
        if self.epoch_rng is not None:
            epoch_js = self.epoch_rng[0]
            tensors.update({f"epoch_rng.{k}": t for k, t in self.epoch_rng[1].items()})
        js["rank"] = {
            "epoch_rng": epoch_js,
            "state_spec": spec,
            "log_tally": self.log_tally.to_dict(),
            "eval_tally": self.eval_tally.to_dict(),
        }
        return js, tensors

    @classmethod
    def from_dict(
        cls,
        js: dict[str, Any],
        tensors: dict[str, Tensor],
        device: torch.device | str = "cpu",
    ) -> TrainerState:
        """Rebuild from :meth:`to_dict`'s output (the carried state moved to ``device``)."""

        def part(prefix: str) -> dict[str, Tensor]:
            p = prefix + "."
            return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}

        rank = js["rank"]
        shared = {attr: js[key] for attr, key in _SHARED.items()}
        shared["elapsed"] = float(shared["elapsed"])
        shared["monitor_history"] = list(shared["monitor_history"])
        shared["last_eval"] = dict(shared["last_eval"] or {})
        epoch_rng = (
            (rank["epoch_rng"], part("epoch_rng")) if rank["epoch_rng"] is not None else None
        )
        return cls(
            **shared,
            carry=unflatten_state(part("state"), rank["state_spec"], device),
            epoch_rng=epoch_rng,
            log_tally=Tally(rank["log_tally"]),
            eval_tally=Tally(rank["eval_tally"]),
        )

    def replace(self, **changes: Any) -> TrainerState:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
