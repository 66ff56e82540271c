"""Gate statistics per layer: the distribution of each gate and how often it saturates.

As Karpathy, Johnson & Fei-Fei 2015 ("Visualizing and Understanding Recurrent Networks",
fig. 3), a sigmoid gate is *left-saturated* below 0.1 and *right-saturated* above 0.9; a
forget gate right-saturated most of the time is an integrator that remembers, one
left-saturated most of the time forgets at every step. The tanh activations (LSTM cell
candidate ``g``, GRU ``n``, Elman ``h``) count as saturated where ``|v| > 0.9``. Layer-norm
cells' gates are those after their normalisation; minGRU/minLSTM have their own gates
(computed from the input alone); an Elman RNN has none, and its activation is shown instead.
The xLSTM cells show their stabilised exponential gates and RG-LRU its r, i and a
(see :mod:`rnnkit.explain.gate_math`); :data:`NO_GATES` says so in each run's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from rnnkit.explain.batches import task_sample
from rnnkit.explain.gate_math import SIGMOID_GATES
from rnnkit.explain.probe import Probe, probe
from rnnkit.tasks.run import TaskRun

__all__ = ["GateStats", "gate_stats", "gate_table", "saturation"]

NO_GATES = {
    "rnn_tanh": "an Elman RNN (tanh) has no gates; shown instead: its activation h",
    "rnn_relu": "an Elman RNN (relu) has no gates; shown instead: its activation h",
    "mingru": "minGRU has one gate, z, computed from the input alone (no reset gate)",
    "minlstm": "minLSTM's gates i and f depend on the input alone; forget_norm = f/(f+i)",
    "slstm": "sLSTM gates exponentially: input and forget are the stabilised gates the step "
    "applies, i' = exp(i~ - m_t) and f' = exp(log f_t + m_(t-1) - m_t) (Beck et al. 2024, "
    "eqs. 15-17; one of the two is 1 at every unit and step), not the unbounded exp(i~)",
    "mlstm": "mLSTM's input and forget gates are one per head (each head's value shown on "
    "its units), stabilised as the sLSTM's: i' = exp(i~ - m_t), f' = exp(log f_t + m_(t-1) "
    "- m_t); the output gate is per unit",
    "rglru": "RG-LRU's gates: recurrence r_t and input i_t (from the input alone), and "
    "a = sigmoid(Lambda)^(8 r_t), the decay the step applies (near 1: remembers)",
}
"""Cell kind -> what its gate panel shows, where that is not an LSTM's or GRU's gates."""


@dataclass
class GateStats:
    """What :func:`gate_stats` measured.

    Attributes:
        table: one row per (module, layer, direction, gate): ``mean``, ``std``, ``low``
            (fraction < 0.1, sigmoid gates), ``high`` (> 0.9), ``saturated`` (either; for
            tanh values ``|v| > 0.9``; NaN for relu), ``count``.
        values: ``{(module, layer, direction, gate): 1-D array}`` of the activations at
            valid steps (for histograms).
        notes: what is shown instead where a cell lacks gates.
    """

    table: pd.DataFrame
    values: dict[tuple[str, int, int, str], np.ndarray]
    notes: list[str] = field(default_factory=list)


def saturation(name: str, v: np.ndarray) -> tuple[float, float, float]:
    """``(low, high, saturated)`` fractions of the activations ``v`` of gate ``name``."""
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    if name in SIGMOID_GATES:
        low, high = float(np.mean(v < 0.1)), float(np.mean(v > 0.9))
        return low, high, low + high
    if name == "h" and v.min() >= 0:  # relu: unbounded, no saturation
        return float("nan"), float("nan"), float("nan")
    low, high = float(np.mean(v < -0.9)), float(np.mean(v > 0.9))
    return low, high, low + high


def gate_table(record: Probe) -> GateStats:
    """Gate statistics of every probed layer·direction (all calls of a module together)."""
    values: dict[tuple[str, int, int, str], list[np.ndarray]] = {}
    notes: list[str] = []
    for traces in record.calls:
        for tr in traces:
            valid = tr.valid.cpu().numpy()  # (T, B)
            for gate, v in tr.gates.items():
                arr = v.double().cpu().numpy()[valid]  # (N, H)
                values.setdefault((tr.module, tr.layer, tr.direction, gate), []).append(arr)
            note = NO_GATES.get(tr.cell)
            if note and f"{tr.module}: {note}" not in notes:
                notes.append(f"{tr.module}: {note}")
    flat = {k: np.concatenate(v).ravel() for k, v in values.items()}
    rows = []
    for (module, layer, d, gate), v in flat.items():
        low, high, sat = saturation(gate, v)
        rows.append(
            {
                "module": module,
                "layer": layer,
                "direction": d,
                "gate": gate,
                "mean": float(v.mean()),
                "std": float(v.std()),
                "low": low,
                "high": high,
                "saturated": sat,
                "count": int(v.size),
            }
        )
    return GateStats(pd.DataFrame(rows), flat, notes)


def gate_stats(
    task: TaskRun | nn.Module,
    run: Callable[[nn.Module], Tensor] | None = None,
    *,
    batch_size: int = 8,
    steps: int | None = None,
) -> GateStats:
    """Gate distributions and saturated fractions over a batch of the run's own data.

    Args:
        task: a loaded run or a bare model.
        run: ``run(model)`` calls the model (a loss or anything; default: the run's data).
        batch_size, steps: of the batch read from the run's data.
    """
    if run is None:
        if not isinstance(task, TaskRun):
            raise ValueError("`run` is needed for a bare model (no run data to read)")
        run = task_sample(task, batch_size, steps).loss
    model = task.model if isinstance(task, TaskRun) else task
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), probe(model) as record:
            run(model)
    finally:
        model.train(was)
    return gate_table(record)
