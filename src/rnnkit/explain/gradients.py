"""Gradient flow through time: ``||dL/dh_t||`` for every step, layer and direction.

``dL/dh_t`` is the total gradient of the loss with respect to the state after step t --
through the output at t and through every later step -- measured by the probe
(:mod:`rnnkit.explain.probe`). Its norm per step, on a log scale, shows how much of the
loss at the end reaches each earlier step; ``ratio = ||dL/dh_1|| / ||dL/dh_T||`` sums the
curve up in one number (≪ 1: the gradient vanishes going back; ≫ 1: it explodes). For
the reverse direction of a bidirectional layer the loss at the end reaches step T first,
so the same ratio by time index reads the other way round.

The xLSTM cells carry their memory in a cell state and read ``h_t`` out of it (mLSTM's
``h_t`` never enters a later step, sLSTM's only through recurrent weights initialised to
zero), so for them the curve is of the memory, ``||dL/dc_t||`` / ``||dL/dC_t||`` (column
``state``; see :mod:`rnnkit.explain.probe_stateful`), and a note says so.

For the cells the NumPy engine has (:data:`~rnnkit.explain.scratch_flow.SCRATCH_MODES`,
without layer norm or projection) :func:`gradient_flow` also computes the same curve with
:mod:`rnnkit.scratch` from the same ``dL/d output``; the two agree (tests/explain).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from torch import Tensor, nn

from rnnkit.explain.batches import Sample, task_sample
from rnnkit.explain.probe import LayerTrace, Probe, cell_kind, probe
from rnnkit.explain.scratch_flow import SCRATCH_MODES, scratch_hidden_grads
from rnnkit.tasks.run import TaskRun

__all__ = ["GradientFlow", "flow_table", "gradient_flow", "probed_backward", "ratios"]

log = logging.getLogger(__name__)


@dataclass
class GradientFlow:
    """What :func:`gradient_flow` measured.

    Attributes:
        table: one row per (module, layer, direction, t): ``norm`` (mean over the rows
            valid at t of ``||dL/dh_t||``), ``state`` (``h``; ``c`` / ``C`` where the norm is
            of the sLSTM's / mLSTM's memory) and, where the scratch engine ran, ``scratch``.
        what: the loss the gradient is of.
        notes: why a module has no scratch curve, and similar remarks.
    """

    table: pd.DataFrame
    what: str
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> pd.DataFrame:
        """``||dL/dh_1|| / ||dL/dh_T||`` per module, layer and direction."""
        return ratios(self.table)


def probed_backward(model: nn.Module, loss: Callable[[nn.Module], Tensor]) -> tuple[Probe, float]:
    """Run ``loss(model)`` under :func:`probe` in eval mode and back-propagate it.

    The model's parameter gradients are cleared afterwards; its mode is restored.
    """
    was = model.training
    model.eval()
    try:
        with probe(model) as record:
            value = loss(model)
            value.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)
    return record, float(value.detach())


def _grad(trace: LayerTrace) -> np.ndarray:
    g = trace.eps.grad
    return np.zeros(tuple(trace.eps.shape)) if g is None else g.detach().double().cpu().numpy()


def flow_table(record: Probe) -> pd.DataFrame:
    """The per-step norms of every probed layer·direction (calls of one module joined in
    time, as a decoder run step by step is one sequence)."""
    joined: dict[tuple[str, int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    carried: dict[tuple[str, int, int], str] = {}
    for traces in record.calls:
        for tr in traces:
            valid = tr.valid.cpu().numpy()
            joined.setdefault((tr.module, tr.layer, tr.direction), []).append((_grad(tr), valid))
            carried[(tr.module, tr.layer, tr.direction)] = tr.carried
    rows = []
    for (module, layer, d), parts in joined.items():
        if len({p[0].shape[1] for p in parts}) > 1:
            parts = parts[:1]  # calls with different batches: the first alone
        grad = np.concatenate([p[0] for p in parts])  # (T, B, H) (mLSTM: (T, B, NH·d·d))
        valid = np.concatenate([p[1] for p in parts])  # (T, B)
        norms = np.linalg.norm(grad, axis=-1)  # (T, B)
        count = np.maximum(valid.sum(1), 1)
        mean = (norms * valid).sum(1) / count  # (T,)
        key = {"module": module, "layer": layer, "direction": d}
        state = carried[(module, layer, d)]
        rows += [{**key, "t": t + 1, "norm": float(v), "state": state} for t, v in enumerate(mean)]
    return pd.DataFrame(rows, columns=["module", "layer", "direction", "t", "norm", "state"])


def ratios(table: pd.DataFrame, column: str = "norm") -> pd.DataFrame:
    """``first / last`` of ``column`` per (module, layer, direction) (inf where last is 0)."""
    out = []
    for key, g in table.groupby(["module", "layer", "direction"], sort=False):
        first, last = float(g[column].iloc[0]), float(g[column].iloc[-1])
        ratio = first / last if last > 0 else (float("inf") if first > 0 else float("nan"))
        out.append(
            {
                **dict(zip(["module", "layer", "direction"], key, strict=True)),
                "steps": len(g),
                "first": first,
                "last": last,
                "ratio": ratio,
            }
        )
    return pd.DataFrame(out)


def gradient_flow(
    task: TaskRun | nn.Module,
    loss: Callable[[nn.Module], Tensor] | None = None,
    *,
    batch_size: int = 8,
    steps: int | None = None,
    scratch: bool = True,
) -> GradientFlow:
    """``||dL/dh_t||`` per step, layer and direction, over a batch of the run's own data.

    Args:
        task: a loaded run (:func:`rnnkit.tasks.run.load_run`) or a bare model.
        loss: ``loss(model) -> scalar``; default: :func:`rnnkit.explain.batches.task_sample`.
        batch_size: rows of the run's data; steps: caps a language model's window.
        scratch: add the scratch engine's curve (column ``scratch``) where it applies.
    """
    what = "the given loss"
    if loss is None:
        if not isinstance(task, TaskRun):
            raise ValueError("`loss` is needed for a bare model (no run data to read)")
        sample: Sample = task_sample(task, batch_size, steps)
        loss, what = sample.loss, sample.what
    model = task.model if isinstance(task, TaskRun) else task
    record, value = probed_backward(model, loss)
    table = flow_table(record)
    notes = _carried_notes(record)
    if scratch:
        table, more = _with_scratch(record, table)
        notes += more
    log.info("gradient flow of %s = %.4g over %d probed calls", what, value, len(record.calls))
    return GradientFlow(table, what, notes)


def _carried_notes(record: Probe) -> list[str]:
    """What is shown instead of ``dL/dh_t`` where a layer's ``h_t`` is not its state."""
    notes: list[str] = []
    for traces in record.calls:
        for tr in traces:
            note = f"{tr.module or 'rnn'}: {tr.note}"
            if tr.note and note not in notes:
                notes.append(note)
    return notes


def _with_scratch(record: Probe, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add the scratch engine's norms for modules called once with a cell it has."""
    table = table.assign(scratch=np.nan)
    notes = []
    counts = pd.Series(record.names).value_counts()
    for i, (name, module) in enumerate(zip(record.names, record.modules, strict=True)):
        kind = cell_kind(module)
        why = None
        if kind not in SCRATCH_MODES:
            why = f"the scratch engine has no {kind} cell"
        elif getattr(module, "layer_norm", False) or getattr(module, "proj_size", 0):
            why = "the scratch engine has no layer norm / projection"
        elif counts[name] > 1:
            why = "it is run step by step (the scratch curve needs one whole-sequence call)"
        elif record.outputs[i].grad is None:
            why = "the loss does not depend on its output"
        if why:
            note = f"{name or 'rnn'}: no scratch curve: {why}"
            if note not in notes:
                notes.append(note)
            continue
        params = {k: v.detach().double().cpu().numpy() for k, v in module.state_dict().items()}
        lengths = record.lengths[i]
        grads = scratch_hidden_grads(
            kind,
            params,
            record.inputs[i].detach().double().cpu().numpy(),
            record.outputs[i].grad.double().cpu().numpy(),
            num_layers=module.num_layers,
            bidirectional=module.bidirectional,
            lengths=None if lengths is None else lengths.cpu().numpy(),
        )  # (L·D, T, B, H)
        valid = record.calls[i][0].valid.cpu().numpy()  # (T, B)
        directions = 2 if module.bidirectional else 1
        for k in range(grads.shape[0]):
            norms = (np.linalg.norm(grads[k], axis=-1) * valid).sum(1) / np.maximum(valid.sum(1), 1)
            layer, d = divmod(k, directions)
            sel = (table.module == name) & (table.layer == layer) & (table.direction == d)
            table.loc[sel, "scratch"] = norms
    return table, notes
