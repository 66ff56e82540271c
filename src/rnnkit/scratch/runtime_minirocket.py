"""MiniRocket's forward in NumPy, for inference: no torch.

As :class:`rnnkit.models.minirocket.MiniRocket`, for each ``(dilation d, features per
kernel c)`` of the bundle's plan::

    conv_k[t] = Σ_j w_kj · x[t + (j - 4) d]        (84 kernels w of -1s and three 2s,
                                                     zero padding; summed over the
                                                     kernel's channels)
    ppv_kq    = #{lo <= t < hi : conv_k[t] > bias_kq} / (hi - lo)

with ``[lo, hi)`` every valid step (even plan entries) or, for odd ones, the steps whose
window lies inside the series (``[4d, length - 4d)``, every valid step where that is
empty); then ``logits = head((ppv - mean) / std)``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["kernels", "minirocket"]


def kernels(length: int = 9, twos: int = 3) -> np.ndarray:
    """The fixed kernels ``(C(length, twos), length)``: -1 everywhere, 2 at ``twos`` places."""
    combos = list(itertools.combinations(range(length), twos))
    w = -np.ones((len(combos), length), np.float32)
    for k, idx in enumerate(combos):
        w[k, list(idx)] = 2.0
    return w


def _conv(x: np.ndarray, w: np.ndarray, d: int, channels: np.ndarray) -> np.ndarray:
    """``x (B, I, T)`` (zero past each row's end), kernels ``w (K, 9)`` at dilation ``d``,
    zero padding ``4d``, each kernel summed over its ``channels (K, I)`` -> ``(B, K, T)``."""
    n = w.shape[1]
    half = (n - 1) // 2 * d
    T = x.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (half, half)))  # (B, I, T + 8d)
    taps = np.stack([xp[..., j * d : j * d + T] for j in range(n)])  # (9, B, I, T)
    out = np.einsum("kj,jbit->bikt", w, taps, optimize=True)  # (B, I, K, T)
    if x.shape[1] == 1:
        return out[:, 0]
    return np.einsum("bikt,ki->bkt", out, channels, optimize=True)  # (B, K, T)


def _ppv(conv: np.ndarray, biases: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share of steps ``lo <= t < hi`` with ``conv > bias``: conv (B, K, T), biases (K, c),
    lo/hi (B,) -> (B, K·c)."""
    t = np.arange(conv.shape[2])
    inside = (t[None] >= lo[:, None]) & (t[None] < hi[:, None])  # (B, T)
    above = conv[..., None] > biases[None, :, None, :]  # (B, K, T, c)
    counts = (above & inside[:, None, :, None]).sum(2)  # (B, K, c)
    share = counts.astype(np.float32) / np.maximum(hi - lo, 1).astype(np.float32)[:, None, None]
    return share.reshape(conv.shape[0], -1)


def minirocket(
    weights: dict[str, np.ndarray], parts: dict[str, Any], x: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Logits ``(B, C)`` of ``x (T, B, I)`` with ``lengths (B,)``.

    ``parts``: the bundle's ``{"plan": [[d, c], ...], "kernel_length", "twos"}``; the
    weights under torch's names (``channels (len(plan), K, I)``, ``biases (F,)``, ``mean``,
    ``std``, ``head.weight``, ``head.bias``).
    """
    T = x.shape[0]
    lengths = np.minimum(np.asarray(lengths, np.int64), T)
    valid = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
    seq = (x.astype(np.float32) * valid[..., None]).transpose(1, 2, 0)  # (B, I, T)
    w = kernels(parts["kernel_length"], parts["twos"])  # (K, 9)
    K, half = w.shape[0], (w.shape[1] - 1) // 2
    feats, pos = [], 0
    for i, (d, c) in enumerate(parts["plan"]):
        conv = _conv(seq, w, d, weights["channels"][i])  # (B, K, T)
        lo, hi = np.zeros_like(lengths), lengths
        if i % 2 == 1:  # only windows inside the series, where there are any
            inner = hi - half * d > half * d
            lo, hi = np.where(inner, half * d, 0), np.where(inner, hi - half * d, hi)
        feats.append(_ppv(conv, weights["biases"][pos : pos + K * c].reshape(K, c), lo, hi))
        pos += K * c
    z = (np.concatenate(feats, axis=1) - weights["mean"]) / weights["std"]  # (B, F)
    return z @ weights["head.weight"].T + weights["head.bias"]  # (B, C)
