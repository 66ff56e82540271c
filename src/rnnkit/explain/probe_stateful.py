"""How the probe runs the xLSTM and RG-LRU layers step by step (sLSTM, mLSTM, RG-LRU).

Each of these layers (:class:`rnnkit.nn.SLSTM`, :class:`~rnnkit.nn.MLSTM`,
:class:`~rnnkit.nn.RGLRU`) is recomputed with its own step from :mod:`rnnkit.functional`
(``slstm_cell``, ``mlstm_recurrent``, ``rglru_step``): :func:`step_plan` says, for one
layer·direction, what the scan runs, where the probe's zero ``eps`` is added and how the
gates are read. The generic loop is :func:`rnnkit.explain.probe.run_probed`.

What ``eps`` measures. RG-LRU's ``h_t`` is its state, so ``eps`` is added to ``h_t`` and its
gradient is the total ``dL/dh_t``, as for a GRU. The xLSTM cells carry their memory in a
cell state instead, and their ``h_t`` is a read-out of it: mLSTM's ``h_t`` never enters a
later step, and sLSTM's only through its recurrent weights ``R``, which the paper
initialises to zero. There ``dL/dh_t`` is (at initialisation) only the loss at step t and
says nothing of what reaches earlier steps, so the probe adds ``eps`` to the memory: sLSTM's
``c_t``, mLSTM's ``C_t`` (before the read-out at t). Its gradient is the total ``dL/dc_t``
(through the output at t and every later step) and the flow shows ``||dL/dc_t||``
(mLSTM: Frobenius norm over the heads). Both memories are the stabilised ones the step
holds (scaled by ``exp(-m_t)``; ``h_t`` is not changed by that scale): the gradient that
backpropagation carries through the computation as it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.explain.gate_math import mlstm_gates, rglru_gates, slstm_gates
from rnnkit.functional.mlstm import MLSTMState, mlstm_recurrent, split_projection, zero_state
from rnnkit.functional.rglru import rglru_step
from rnnkit.functional.slstm import SLSTMState, recurrent_part, slstm_cell
from rnnkit.nn.mlstm import MLSTM
from rnnkit.nn.rglru import RGLRU
from rnnkit.nn.slstm import SLSTM

__all__ = ["CARRIED", "STATEFUL", "StepPlan", "step_plan"]

STATEFUL = (SLSTM, MLSTM, RGLRU)
"""The layer classes :func:`step_plan` runs."""

CARRIED = {
    SLSTM: (
        "c",
        "sLSTM's output h_t feeds back only through its recurrent weights R (zero at the "
        "paper's initialisation); its memory is the cell state c_t, so shown instead of "
        "dL/dh_t: ||dL/dc_t||, the total gradient reaching the (stabilised) cell state",
    ),
    MLSTM: (
        "C",
        "mLSTM's output h_t does not feed back (its recurrence runs through the matrix "
        "memory C_t), so dL/dh_t would only be the loss at step t; shown instead: "
        "||dL/dC_t||, the total gradient reaching the memory at step t",
    ),
}
"""Layer class -> (the state the flow is of, why) where it is not ``h_t``."""


class _ReadState(NamedTuple):
    """mLSTM's memory with the read-out in front, every field ``(B, ·)``: what
    :func:`rnnkit.functional.scan` runs (it outputs the first field and masks padded steps
    with a ``(B, 1)`` mask, so the memory is kept flat)."""

    h: Tensor  # (B, H)
    C: Tensor  # (B, NH·d·d)
    n: Tensor  # (B, NH·d)
    m: Tensor  # (B, NH)


@dataclass(frozen=True)
class StepPlan:
    """One layer·direction of a stateful layer, as the probe scans it.

    Attributes:
        proj: ``(T, B, ·)`` the input projection of every step.
        state: the initial scan state (its first field, or itself, is the output).
        cell: ``(state, proj_t, eps_t) -> state`` one step with ``eps_t`` added to
            the carried tensor.
        gates: ``(proj_t, before, after) -> {name: (B, H)}``.
        carried: ``(B, ·)`` the tensor ``eps`` is added to, at the initial state.
        final: the scan's final state -> the layer's state type.
    """

    proj: Tensor
    state: Any
    cell: Callable[[Any, Tensor, Tensor], Any]
    gates: Callable[[Tensor, Any, Any], dict[str, Tensor]]
    carried: Tensor
    final: Callable[[Any], Any]


def _same(state: Any) -> Any:
    return state


def step_plan(module: nn.Module, k: int, x: Tensor, state: Any) -> StepPlan:
    """The :class:`StepPlan` of layer·direction ``k`` of ``module`` over ``x (T, B, I_l)``.

    ``state``: that layer·direction's slice of ``hx`` (``(B, ·)`` fields) or None (zeros).
    """
    p = module.params(k)
    proj = nn.functional.linear(x, p["weight_ih"], p.get("bias_ih"))  # (T, B, ·)
    batch, hidden = x.size(1), module.hidden_size
    if isinstance(module, SLSTM):
        zero = proj.new_zeros((batch, hidden))  # (B, H)
        state = SLSTMState(zero, zero, zero, zero) if state is None else state
        step = partial(slstm_cell, w_hh=p["weight_hh"], forget=module.forget_gate)

        def s_cell(s: SLSTMState, gx: Tensor, eps: Tensor) -> SLSTMState:
            new = step(s, gx)
            c = new.c + eps  # before the read-out, so dL/d eps includes the output at t
            o_raw = (gx + recurrent_part(s.h, p["weight_hh"])).chunk(4, dim=-1)[3]  # (B, H)
            return SLSTMState(torch.sigmoid(o_raw) * c / new.n, c, new.n, new.m)  # h = o c / n

        gates = partial(slstm_gates, w_hh=p["weight_hh"], forget=module.forget_gate)
        return StepPlan(proj, state, s_cell, gates, state.c, _same)
    if isinstance(module, MLSTM):
        heads = module.num_heads
        memory = zero_state(batch, heads, hidden // heads, proj) if state is None else state
        start = _flat(proj.new_zeros((batch, hidden)), memory)
        cell = partial(_mlstm_cell, heads=heads)
        gates = partial(_mlstm_gates, heads=heads)
        return StepPlan(proj, start, cell, gates, start.C, partial(_memory, heads=heads))
    if isinstance(module, RGLRU):
        lam = p["lambda"]
        h0 = proj.new_zeros((batch, hidden)) if state is None else state

        def r_cell(h: Tensor, k_t: Tensor, eps: Tensor) -> Tensor:
            return rglru_step(k_t, h, None, None, lam) + eps

        def r_gates(k_t: Tensor, before: Tensor, after: Tensor) -> dict[str, Tensor]:
            return rglru_gates(k_t, lam)

        return StepPlan(proj, h0, r_cell, r_gates, h0, _same)
    raise TypeError(f"`module` must be one of {[c.__name__ for c in STATEFUL]}, got {module!r}")


def _memory(state: _ReadState, *, heads: int) -> MLSTMState:
    """The flat scan state -> :class:`MLSTMState` ``(B, NH, d, d), (B, NH, d), (B, NH)``."""
    batch, d = state.h.size(0), state.h.size(1) // heads
    return MLSTMState(state.C.view(batch, heads, d, d), state.n.view(batch, heads, d), state.m)


def _flat(h: Tensor, memory: MLSTMState) -> _ReadState:
    return _ReadState(h, memory.C.flatten(1), memory.n.flatten(1), memory.m)


def _mlstm_cell(state: _ReadState, proj: Tensor, eps: Tensor, *, heads: int) -> _ReadState:
    """One mLSTM step with ``eps (B, NH·d·d)`` added to ``C_t`` before it is read out.

    ``proj (B, 4H + 2NH)``. The update is ``mlstm_recurrent`` on this step (its read-out is
    dropped); the read-out of ``C_t + eps`` is ``mlstm_recurrent`` on the same step marked
    padded (``f = 1``, ``i = 0``: the memory stays as it is, and is read with this step's
    ``q`` and ``o``), so both come from the cell's own code.
    """
    step = proj.unsqueeze(0)  # (1, B, ·)
    _, new = mlstm_recurrent(split_projection(step, heads), _memory(state, heads=heads))
    new = new._replace(C=new.C + eps.view_as(new.C))  # (B, NH, d, d)
    still = torch.zeros((1, proj.size(0), 1), dtype=torch.bool, device=proj.device)
    h, _ = mlstm_recurrent(split_projection(step, heads, still), new)  # (1, B, H)
    return _flat(h[0], new)


def _mlstm_gates(
    proj: Tensor, before: _ReadState, after: _ReadState, *, heads: int
) -> dict[str, Tensor]:
    return mlstm_gates(proj, heads, _memory(before, heads=heads), _memory(after, heads=heads))
