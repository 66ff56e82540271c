"""The gate activations of one step of each cell kind, from what the step sees.

PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n with ``b_hn`` inside the reset product);
minGRU's z and minLSTM's i, f and normalised forget f' = f / (f + i) (Feng et al. 2024).
An Elman cell has no gate: its activation ``h`` itself is returned (``tanh`` or ``relu``).

Every value is ``(B, H)``; the sigmoid gates lie in (0, 1), ``g``/``n``/``h`` in (-1, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.functional.cells import GATES, group_norm
from rnnkit.functional.minrnn import KINDS

__all__ = ["GATE_NAMES", "SIGMOID_GATES", "gate_values"]

GATE_NAMES: dict[str, tuple[str, ...]] = {
    "rnn_tanh": ("h",),
    "rnn_relu": ("h",),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
    "mingru": ("update",),
    "minlstm": ("input", "forget", "forget_norm"),
}
"""Cell kind -> the names :func:`gate_values` returns, in order."""

SIGMOID_GATES = frozenset({"input", "forget", "output", "reset", "update", "forget_norm"})
"""The gates in (0, 1): saturated below 0.1 or above 0.9 (Karpathy et al. 2015)."""


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
