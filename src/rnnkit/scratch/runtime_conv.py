"""LSTM-FCN's convolutional parts in NumPy, for inference (eval mode): no torch.

- :func:`average_steps`: the mean of every k valid steps (piecewise aggregate approximation);
- :func:`conv1d`: a 1-D convolution as one matmul over ``sliding_window_view`` patches;
- :func:`conv_branch`: blocks ``Conv1d -> BatchNorm (running statistics) -> ReLU``, padded
  steps zeroed before every convolution, then the mean over each row's valid steps, as
  :class:`rnnkit.models.conv_branch.ConvBranch` in eval mode::

      h = relu((conv(pad(h ⊙ m)) - μ) / sqrt(σ² + eps) ⊙ γ + β) ⊙ m,   out = Σ_t h / length
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["average_steps", "conv1d", "conv_branch"]


def average_steps(x: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``x (T, B, I), lengths (B,) -> (ceil(T/k), B, I), ceil(lengths/k)``: the mean of every
    k consecutive valid steps of each row (the last group may be short)."""
    if k == 1:
        return x, lengths
    T, B, _ = x.shape
    n = -(-T // k)
    mask = (np.arange(n * k)[:, None] < lengths[None, :]).astype(x.dtype)  # (n·k, B)
    padded = np.zeros((n * k, *x.shape[1:]), x.dtype)
    padded[:T] = x
    sums = (padded * mask[..., None]).reshape(n, k, B, -1).sum(1)  # (n, B, I)
    counts = np.maximum(mask.reshape(n, k, B).sum(1), 1.0)  # (n, B)
    return sums / counts[..., None], -(-lengths // k)


def conv1d(h: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``h (B, C_in, T + k - 1)`` (already padded), ``weight (C_out, C_in, k)`` ->
    ``(B, C_out, T)``, stride 1 (cross-correlation, as torch)."""
    k = weight.shape[-1]
    patches = np.lib.stride_tricks.sliding_window_view(h, k, axis=2)  # (B, C_in, T, k)
    out = np.einsum("bctk,ock->bot", patches, weight, optimize=True)  # (B, C_out, T)
    return out if bias is None else out + bias[None, :, None]


def conv_branch(
    weights: dict[str, np.ndarray], blocks: list[dict[str, Any]], x: np.ndarray, lengths: Any
) -> np.ndarray:
    """The branch on ``x (T, B, I)`` with ``lengths (B,)`` -> ``(B, F_last)``.

    ``blocks``: per block ``{"conv": prefix, "norm": prefix, "pad": [left, right], "eps"}``
    (the bundle's manifest), the weights under torch's names.
    """
    h = x.transpose(1, 2, 0)  # (B, I, T)
    T = h.shape[2]
    mask = (np.arange(T)[None, :] < np.asarray(lengths)[:, None])[:, None].astype(h.dtype)
    for block in blocks:  # mask: (B, 1, T)
        conv, norm = block["conv"], block["norm"]
        padded = np.pad(h * mask, ((0, 0), (0, 0), tuple(block["pad"])))  # (B, C, T + k - 1)
        h = conv1d(padded, weights[conv + "weight"], weights.get(conv + "bias"))
        mean, var = weights[norm + "running_mean"], weights[norm + "running_var"]
        h = (h - mean[:, None]) / np.sqrt(var[:, None] + block["eps"])
        if norm + "weight" in weights:  # affine
            h = h * weights[norm + "weight"][:, None] + weights[norm + "bias"][:, None]
        h = np.maximum(h, 0.0) * mask  # (B, F, T)
    return h.sum(axis=2) / np.asarray(lengths, h.dtype)[:, None]  # (B, F_last)
