"""The gate activations of one step of each cell kind, from what the step sees.

PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n with ``b_hn`` inside the reset product);
minGRU's z and minLSTM's i, f and normalised forget f' = f / (f + i) (Feng et al. 2024).
An Elman cell has no gate: its activation ``h`` itself is returned (``tanh`` or ``relu``).

The xLSTM cells (Beck et al. 2024) gate exponentially; what is shown is the *stabilised*
gates the step applies, ``i' = exp(i~ - m_t)`` and ``f' = exp(log f_t + m_{t-1} - m_t)``
(eqs. 15-17), in [0, 1] with one of the two equal to 1 at every step; ``exp(i~)`` itself is
unbounded. mLSTM's input and forget gates are one per head (shown on each of the head's
units). RG-LRU (De et al. 2024): the recurrence gate ``r_t``, the input gate ``i_t`` and
``a_t = σ(Λ)^(8 r_t)``, the decay the step applies.

Every value is ``(B, H)``; the sigmoid gates lie in (0, 1), ``g``/``n``/``h``/``cell`` in
(-1, 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional.cells import GATES, group_norm
from rnnkit.functional.minrnn import KINDS
from rnnkit.functional.mlstm import MLSTMState, split_projection
from rnnkit.functional.rglru import rglru_coeffs
from rnnkit.functional.slstm import SLSTMState, recurrent_part

__all__ = [
    "GATE_NAMES",
    "SIGMOID_GATES",
    "gate_values",
    "mlstm_gates",
    "rglru_gates",
    "slstm_gates",
]

GATE_NAMES: dict[str, tuple[str, ...]] = {
    "rnn_tanh": ("h",),
    "rnn_relu": ("h",),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
    "mingru": ("update",),
    "minlstm": ("input", "forget", "forget_norm"),
    "slstm": ("input", "forget", "cell", "output"),
    "mlstm": ("input", "forget", "output"),
    "rglru": ("recurrence", "input", "a"),
}
"""Cell kind -> the names :func:`gate_values` returns, in order."""

SIGMOID_GATES = frozenset(
    {"input", "forget", "output", "reset", "update", "forget_norm", "recurrence", "a"}
)
"""The gates in [0, 1]: saturated below 0.1 or above 0.9 (Karpathy et al. 2015)."""


def gate_values(
    kind: str,
    gx: Tensor,
    h: Tensor | None = None,
    *,
    w_hh: Tensor | None = None,
    b_hh: Tensor | None = None,
    ln_hh: Tensor | None = None,
) -> dict[str, Tensor]:
    """One step's gate activations ``{name: (B, H)}`` (names in :data:`GATE_NAMES`).

    Args:
        kind: the cell kind (``rnn_tanh``, ``rnn_relu``, ``lstm``, ``gru``, ``mingru``,
            ``minlstm``).
        gx: ``(B, G·H)`` the input part of the gates with ``b_ih`` (layer-normed when the
            layer has layer norm); for min cells ``k = x W_ih^T + b_ih``.
        h: ``(B, H_out)`` the state entering the step (not used by min cells).
        w_hh: ``(G·H, H_out)``; b_hh: ``(G·H,)`` or None; ln_hh: the gain of ``LN_G(h W_hh^T)``.
    """
    if kind in KINDS:
        return _min_gates(kind, gx)
    if kind not in GATES:
        raise ValueError(f"`kind` must be one of {sorted(GATE_NAMES)}, got {kind!r}")
    if h is None or w_hh is None:
        raise ValueError(f"a {kind} cell's gates need the state `h` and `w_hh`")
    gh = h @ w_hh.t()  # (B, G·H)
    if ln_hh is not None:
        gh = group_norm(gh, GATES[kind]) * ln_hh
    if b_hh is not None:
        gh = gh + b_hh
    if kind == "rnn_tanh":
        return {"h": torch.tanh(gx + gh)}
    if kind == "rnn_relu":
        return {"h": torch.relu(gx + gh)}
    if kind == "lstm":
        i, f, g, o = (gx + gh).chunk(4, -1)  # 4 x (B, H)
        return {
            "input": torch.sigmoid(i),
            "forget": torch.sigmoid(f),
            "cell": torch.tanh(g),
            "output": torch.sigmoid(o),
        }
    xr, xz, xn = gx.chunk(3, -1)  # 3 x (B, H)
    hr, hz, hn = gh.chunk(3, -1)
    r = torch.sigmoid(xr + hr)
    return {"reset": r, "update": torch.sigmoid(xz + hz), "new": torch.tanh(xn + r * hn)}


def _min_gates(kind: str, k: Tensor) -> dict[str, Tensor]:
    if kind == "mingru":
        k_z, _ = k.chunk(2, -1)  # (B, H) each
        return {"update": torch.sigmoid(k_z)}
    k_i, k_f, _ = k.chunk(3, -1)
    i, f = torch.sigmoid(k_i), torch.sigmoid(k_f)
    return {"input": i, "forget": f, "forget_norm": f / (f + i)}


def slstm_gates(
    gx: Tensor, before: SLSTMState, after: SLSTMState, *, w_hh: Tensor, forget: str
) -> dict[str, Tensor]:
    """sLSTM's stabilised gates ``{input: i', forget: f', cell: z, output: o}``, ``(B, H)``.

    ``gx (B, 4H)`` the input part (i | f | z | o); ``before``/``after`` the states around the
    step (``after.m`` is ``m_t``); ``w_hh (4, NH, d, d)``; ``forget`` "sigmoid" or "exp".
    """
    pre = gx + recurrent_part(before.h, w_hh)  # (B, 4H)
    i_raw, f_raw, z_raw, o_raw = pre.chunk(4, dim=-1)  # (B, H) each
    log_f = F.logsigmoid(f_raw) if forget == "sigmoid" else f_raw
    m_prev = torch.where(before.n == 0, float("-inf"), before.m)  # empty memory, as the step
    return {
        "input": torch.exp(i_raw - after.m),
        "forget": torch.exp(log_f + m_prev - after.m),
        "cell": torch.tanh(z_raw),
        "output": torch.sigmoid(o_raw),
    }


def mlstm_gates(
    proj: Tensor, heads: int, before: MLSTMState, after: MLSTMState
) -> dict[str, Tensor]:
    """mLSTM's stabilised gates ``{input: i', forget: f', output: o}``, each ``(B, H)``.

    ``proj (B, 4H + 2NH)`` the step's projection (q | k | v | o | i | f); ``before``/``after``
    the memory around the step. i' and f' are per head, repeated over the head's d units.
    """
    g = split_projection(proj.unsqueeze(0), heads)  # one step
    d = g.q.size(-1)
    i_gate = torch.exp(g.i[0] - after.m)  # (B, NH)
    f_gate = torch.exp(g.log_f[0] + before.m - after.m)  # (B, NH)
    return {
        "input": i_gate.repeat_interleave(d, dim=-1),  # (B, H)
        "forget": f_gate.repeat_interleave(d, dim=-1),
        "output": g.o[0],
    }


def rglru_gates(k: Tensor, lam: Tensor) -> dict[str, Tensor]:
    """RG-LRU's ``{recurrence: r_t, input: i_t, a: a_t}``, ``(B, H)``, from ``k (B, 3H)``
    (blocks u | r | i) and ``Λ (H,)``."""
    _, k_r, k_i = k.chunk(3, dim=-1)  # (B, H) each
    a, _ = rglru_coeffs(k, lam)
    return {"recurrence": torch.sigmoid(k_r), "input": torch.sigmoid(k_i), "a": a}
