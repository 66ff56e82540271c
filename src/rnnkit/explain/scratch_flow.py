"""``dL/dh_t`` of every layer and step from the NumPy engine (:mod:`rnnkit.scratch`).

The same quantity the torch probe measures, computed with the scratch engine's own cell
steps and hand-written step backward (``scan`` and ``CellOps.step_backward``): the state
gradient of every step is kept as BPTT walks back, instead of only the weight gradients.
The weights come from the torch layer's state dict (the names are the same).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rnnkit.scratch.cells import CELLS
from rnnkit.scratch.layers import scan

__all__ = ["SCRATCH_MODES", "scratch_hidden_grads"]

SCRATCH_MODES = tuple(mode.lower() for mode in CELLS)
"""Cell kinds the scratch engine runs, read from its own table (:data:`rnnkit.scratch.CELLS`,
torch's mode names in lower case; no layer norm, no projection, no min cells)."""


def scratch_hidden_grads(
    mode: str,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    dout: np.ndarray,
    *,
    num_layers: int,
    bidirectional: bool = False,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """Total ``dL/dh_t`` of each layer·direction, given ``dL/d output``, by scratch BPTT.

    Args:
        mode: one of :data:`SCRATCH_MODES`.
        params: torch-named weights (``weight_ih_l0``, ``bias_hh_l1_reverse`` ...), arrays.
        x: ``(T, B, I)`` the layer's input; dout: ``(T, B, D·H)`` the gradient of the loss
            with respect to the layer's output (the direct part only).
        num_layers: L; bidirectional: D = 2; lengths: ``(B,)`` or None.

    Returns:
        ``(L·D, T, B, H)``: index ``layer·D + d``, zero at padded steps.
    """
    if mode not in SCRATCH_MODES:
        raise ValueError(f"`mode` must be one of {SCRATCH_MODES}, got {mode!r}")
    ops = CELLS[mode.upper()]
    x = np.asarray(x, dtype=np.float64)
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    mask = None if lengths is None else np.arange(T)[:, None] < np.asarray(lengths)[None, :]
    kept, inp = [], x
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            w = _weights(params, layer, d)
            gx = inp @ w["weight_ih"].T + w["bias_ih"]  # (T, B, G·H)
            H = w["weight_hh"].shape[1]
            state0 = tuple(np.zeros((B, H)) for _ in range(2 if ops.has_cell_state else 1))
            out, _, cache = scan(ops, gx, state0, w["weight_hh"], w["bias_hh"], mask, d == 1)
            outs.append(out)
            kept.append((w, cache))
        inp = outs[0] if D == 1 else np.concatenate(outs, axis=-1)  # (T, B, D·H)
    grads: list[np.ndarray] = [np.empty(0)] * (num_layers * D)
    dinp = np.asarray(dout, dtype=np.float64)
    for layer in range(num_layers - 1, -1, -1):
        below = 0.0
        for d in range(D):
            w, cache = kept[layer * D + d]
            H = w["weight_hh"].shape[1]
            dh, dgx = _backward(ops, dinp[:, :, d * H : (d + 1) * H], cache, w["weight_hh"])
            grads[layer * D + d] = dh
            below = below + dgx @ w["weight_ih"]  # (T, B, I_layer)
        dinp = below
    return np.stack(grads)


def _weights(params: Mapping[str, np.ndarray], layer: int, d: int) -> dict[str, np.ndarray]:
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    w = {n: np.asarray(params[n + sfx], dtype=np.float64) for n in ("weight_ih", "weight_hh")}
    for n in ("bias_ih", "bias_hh"):
        w[n] = np.asarray(params.get(n + sfx, np.zeros(w["weight_ih"].shape[0])), np.float64)
    return w


def _backward(ops, dout: np.ndarray, cache: tuple, W_hh: np.ndarray) -> tuple[np.ndarray, ...]:  # noqa: ANN001
    """One direction's BPTT keeping the state gradient of every step: ``dh, dgx (T, B, ·)``."""
    caches, _, mask, reverse, _ = cache
    T, B, H = dout.shape
    dh = np.zeros((T, B, H))
    dgx = np.zeros((T, B, W_hh.shape[0]))
    if mask is not None:
        dout = dout * mask[:, :, None]
    dstate = tuple(np.zeros((B, n)) for n in ((H, H) if ops.has_cell_state else (H,)))
    for t in range(T) if reverse else range(T - 1, -1, -1):
        dstate = (dstate[0] + dout[t], *dstate[1:])  # h_t feeds the output and step t+1
        keep = None
        if mask is not None:  # a padded step carries the state: its gradient passes by
            valid = mask[t][:, None]  # (B, 1)
            keep = tuple(np.where(valid, 0.0, a) for a in dstate)
            dstate = tuple(np.where(valid, a, 0.0) for a in dstate)
        dh[t] = dstate[0]
        dgx[t], _, dstate = ops.step_backward(dstate, caches[t], W_hh)
        if keep is not None:
            dstate = tuple(a + b for a, b in zip(dstate, keep, strict=True))
    return dh, dgx
