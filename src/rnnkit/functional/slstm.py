"""sLSTM, the scalar-memory LSTM of xLSTM (Beck et al. 2024, section 2.2): the step.

The paper's equations, with ``pre = W x_t + R h_{t-1} + b`` (blocks i | f | z | o, each H
wide; ``R`` block-diagonal: one ``(d, d)`` matrix per head and gate, ``d = H / heads``)::

    z_t = tanh(z~)                          cell input
    i_t = exp(i~)                           exponential input gate
    f_t = σ(f~)  or  exp(f~)                forget gate (``forget="sigmoid" | "exp"``)
    o_t = σ(o~)                             output gate
    c_t = f_t c_{t-1} + i_t z_t             cell
    n_t = f_t n_{t-1} + i_t                 normaliser
    h_t = o_t ⊙ c_t / n_t                   hidden

``exp`` overflows, so the state also carries the stabiliser ``m`` (eqs. 15-17)::

    m_t  = max(log f_t + m_{t-1}, i~_t)
    i'_t = exp(i~_t - m_t),   f'_t = exp(log f_t + m_{t-1} - m_t)

and ``c, n`` are updated with ``i', f'``: both are scaled by ``exp(-m_t)``, so ``c / n``
and ``h`` are unchanged while no exponent exceeds 0. One of ``i', f'`` is 1 at every step,
so ``n_t >= 1`` once anything was written and the division is safe. A state with ``n = 0``
holds nothing (the zero state, or a row reset between streams): its ``m`` is taken as
``-inf``, so the first step writes ``i' = 1`` exactly (NX-AI/xlstm's reference does the
same when every ``n`` is 0; here per unit). Shapes: B batch, H hidden, NH heads, d = H / NH.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "FORGET_GATES",
    "SLSTMState",
    "dense_recurrent",
    "mark_empty",
    "recurrent_part",
    "slstm_cell",
]

FORGET_GATES = ("sigmoid", "exp")


class SLSTMState(NamedTuple):
    """The sLSTM state; each field ``(B, H)`` (``(L·D, B, H)`` for a layer's ``h_n``)."""

    h: Tensor
    """Hidden state (the output)."""
    c: Tensor
    """Cell state (stabilised: scaled by ``exp(-m)``)."""
    n: Tensor
    """Normaliser state (stabilised); 0 marks an empty memory."""
    m: Tensor
    """Stabiliser state (log scale of ``c`` and ``n``)."""


def recurrent_part(h: Tensor, w_hh: Tensor) -> Tensor:
    """``R h`` with block-diagonal ``R``: ``h (B, H)``, ``w_hh (4, NH, d, d)`` -> ``(B, 4H)``.

    ``w_hh[g, n]`` maps head ``n`` of ``h`` to head ``n`` of gate ``g`` (i, f, z, o).
    """
    heads, d = w_hh.size(1), w_hh.size(2)
    hh = h.view(h.size(0), heads, d)  # (B, NH, d)
    out = torch.einsum("bne,gnde->bgnd", hh, w_hh)  # (B, 4, NH, d)
    return out.reshape(h.size(0), 4 * heads * d)  # (B, 4H), gate-major as W's rows


def dense_recurrent(w_hh: Tensor) -> Tensor:
    """The block-diagonal ``w_hh (4, NH, d, d)`` as one dense ``(H, 4H)`` matrix: ``R h`` is
    ``h @ dense``, gate-major like :func:`recurrent_part`. One matmul per step does NH times
    the block form's multiply-adds but none of its per-step reshapes: faster on CPU for the
    paper's 4 heads. Built once per sequence; its gradient flows back to the blocks only."""
    blocks = [torch.block_diag(*w_hh[g].transpose(-1, -2)) for g in range(4)]  # (H, H) each
    return torch.cat(blocks, dim=1)  # (H, 4H): [n·d + e, g·H + n·d + j] = w_hh[g, n, j, e]


def mark_empty(state: SLSTMState) -> SLSTMState:
    """``state`` with ``m = -inf`` where ``n == 0`` (an empty memory: nothing to keep).

    :func:`slstm_cell` does this at every step; a layer does it once before its scan and
    passes ``mark_empty=False`` (after one step ``n >= 1``, see the module doc)."""
    h, c, n, m = state
    return SLSTMState(h, c, n, torch.where(n == 0, float("-inf"), m))


def slstm_cell(
    state: SLSTMState,
    gx: Tensor,
    *,
    w_hh: Tensor,
    forget: str = "sigmoid",
    mark_empty: bool = True,
) -> SLSTMState:
    """One stabilised sLSTM step, as a scan cell ``(state, gx_t) -> state``.

    Args:
        state: :class:`SLSTMState` of ``(B, H)`` fields.
        gx: ``(B, 4H)`` the input part ``W x_t + b`` (blocks i | f | z | o).
        w_hh: ``(4, NH, d, d)`` the block-diagonal recurrent weights, or their dense
            ``(H, 4H)`` form (:func:`dense_recurrent`).
        forget: "sigmoid" (``log f = log σ(f~)``) or "exp" (``log f = f~``).
        mark_empty: treat rows with ``n == 0`` as empty (``m = -inf``); False when the
            state has been through :func:`mark_empty` (or a step) already.

    Returns:
        The new :class:`SLSTMState`.
    """
    h, c, n, m = state
    if w_hh.dim() == 2:
        pre = torch.addmm(gx, h, w_hh)  # (B, 4H)
    else:
        pre = gx + recurrent_part(h, w_hh)  # (B, 4H)
    i_raw, f_raw, z_raw, o_raw = pre.chunk(4, dim=-1)  # (B, H) each
    log_f = F.logsigmoid(f_raw) if forget == "sigmoid" else f_raw
    m_prev = torch.where(n == 0, float("-inf"), m) if mark_empty else m  # empty: keep nothing
    log_f_m = log_f + m_prev  # (B, H)
    m_new = torch.maximum(log_f_m, i_raw)
    i_gate = torch.exp(i_raw - m_new)  # i'
    f_gate = torch.exp(log_f_m - m_new)  # f'
    c_new = f_gate * c + i_gate * torch.tanh(z_raw)
    n_new = f_gate * n + i_gate
    h_new = torch.sigmoid(o_raw) * c_new / n_new
    return SLSTMState(h_new, c_new, n_new, m_new)
