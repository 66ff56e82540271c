"""Per-series z-normalisation for series classification, as the UCR/UEA literature does.

Each series is shifted and scaled by its *own* statistics, channel by channel, over its
own valid steps: ``z[t, i] = (x[t, i] - mean_i) / max(std_i, std_floor)``, with the
population std (``ddof=0``, as ``scipy.stats.zscore``). The floor keeps a constant channel
finite (it becomes all zeros) instead of dividing by 0. This removes offset and amplitude,
so a classifier sees shape; it needs no statistics from the training split, so it is the
same at training and prediction time.

- :func:`znormalize`: one ``(T,)`` or ``(T, I)`` array, or a list of ``(T_i, I)`` arrays
  (variable lengths: each over its own length);
- :func:`znormalize_padded`: a padded time-major tensor ``(T, B, I)`` with ``lengths (B,)``;
  the padding is ignored by the statistics and left as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DEFAULT_STD_FLOOR",
    "series_level",
    "series_quantiles",
    "znormalize",
    "znormalize_padded",
]

DEFAULT_STD_FLOOR = 1e-8


def _one(x: np.ndarray, std_floor: float, where: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise ValueError(f"{where} must be (T,) or (T, I) with T >= 1, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        t = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"{where} has NaN/inf at step {t}; fill or drop it before normalising")
    mean = arr.mean(axis=0, keepdims=True)  # (1, I) or (1,)
    std = arr.std(axis=0, keepdims=True)  # population std, ddof=0
    return (arr - mean) / np.maximum(std, std_floor)


@overload
def znormalize(series: np.ndarray, *, std_floor: float = ...) -> np.ndarray: ...
@overload
def znormalize(series: Sequence[np.ndarray], *, std_floor: float = ...) -> list[np.ndarray]: ...


def znormalize(
    series: np.ndarray | Sequence[np.ndarray], *, std_floor: float = DEFAULT_STD_FLOOR
) -> np.ndarray | list[np.ndarray]:
    """Z-normalise each series per channel over its own length.

    Args:
        series: one array ``(T,)`` or ``(T, I)``, or a list of N arrays ``(T_i, I)``
            (e.g. :attr:`Examples.items`).
        std_floor: the smallest std divided by (> 0); a constant channel becomes zeros.

    Returns:
        float64 array(s) of the same shape(s).

    Raises:
        ValueError: a bad shape, an empty series or a NaN/inf value (naming the series
            and step), or ``std_floor <= 0``.
    """
    if not std_floor > 0:
        raise ValueError(f"`std_floor` must be > 0, got {std_floor}")
    if isinstance(series, np.ndarray):
        return _one(series, std_floor, "`series`")
    return [_one(s, std_floor, f"series {n}") for n, s in enumerate(series)]


def znormalize_padded(
    x: Tensor, lengths: Tensor, *, std_floor: float = DEFAULT_STD_FLOOR
) -> Tensor:
    """Z-normalise a padded batch row by row over each row's valid steps.

    Args:
        x: ``(T, B, I)`` time-major, padded past ``lengths[b]``.
        lengths: ``(B,)`` valid steps per row, each in ``1..T``.
        std_floor: the smallest std divided by (> 0).

    Returns:
        ``(T, B, I)``: row ``b`` equals ``znormalize(x[:lengths[b], b])`` on its valid steps
        and is 0 on its padding.
    """
    if x.dim() != 3:
        raise ValueError(f"`x` must be (T, B, I), got shape {tuple(x.shape)}")
    if lengths.shape != (x.shape[1],):
        raise ValueError(f"`lengths` must be ({x.shape[1]},), got shape {tuple(lengths.shape)}")
    lengths = lengths.to(x.device)
    if lengths.min() < 1 or lengths.max() > x.shape[0]:
        raise ValueError(f"`lengths` must be in 1..{x.shape[0]}, got {lengths.tolist()}")
    mask, mean, std = _moments(x, lengths)
    return (x - mean) / std.clamp_min(std_floor) * mask  # (T, B, I), padding 0


def series_level(x: Tensor, lengths: Tensor, *, std_floor: float = DEFAULT_STD_FLOOR) -> Tensor:
    """What z-normalising each row throws away: its level and scale, on a log-like scale.

    x: ``(T, B, I)`` padded past ``lengths`` (B,) -> ``(B, 2 I)``: per channel
    ``asinh(mean)`` then ``log(max(std, std_floor))`` over the row's valid steps.
    """
    _, mean, std = _moments(x, lengths)
    return torch.cat([torch.asinh(mean), torch.log(std.clamp_min(std_floor))], dim=-1)


def series_quantiles(x: Tensor, lengths: Tensor, count: int) -> Tensor:
    """Each row's value distribution: ``count`` evenly spaced quantiles (0 to 1, linear
    interpolation, as ``torch.quantile``) over its valid steps, per channel.

    x: ``(T, B, I)`` padded past ``lengths`` (B,) -> ``(B, count * I)``, channel-major
    (channel 0's quantiles first). Padding never enters: a row gets what it gets alone.
    """
    if count < 2:
        raise ValueError(f"`count` must be >= 2 (the minimum and the maximum), got {count}")
    T, B, I = x.shape
    lengths = lengths.to(x.device)
    pad = torch.arange(T, device=x.device)[:, None] >= lengths[None, :]  # (T, B)
    ordered = x.masked_fill(pad[..., None], float("inf")).sort(dim=0).values  # (T, B, I)
    probs = torch.linspace(0.0, 1.0, count, device=x.device, dtype=x.dtype)  # (Q,)
    pos = probs[:, None] * (lengths.to(x.dtype) - 1)[None, :]  # (Q, B)
    low = pos.floor().long()
    high = torch.minimum(low + 1, (lengths - 1)[None, :])
    frac = (pos - low.to(x.dtype))[..., None]  # (Q, B, 1)
    a = ordered.gather(0, low[..., None].expand(-1, -1, I))  # (Q, B, I)
    b = ordered.gather(0, high[..., None].expand(-1, -1, I))
    return (a + (b - a) * frac).permute(1, 2, 0).reshape(B, I * count)  # (B, I*Q)


def _moments(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """x (T, B, I), lengths (B,) -> mask (T, B, 1), mean (B, I), population std (B, I)."""
    lengths = lengths.to(x.device)
    steps = torch.arange(x.shape[0], device=x.device)  # (T,)
    mask = (steps[:, None] < lengths[None, :]).unsqueeze(-1).to(x.dtype)  # (T, B, 1)
    n = lengths.to(x.dtype)[:, None]  # (B, 1)
    mean = (x * mask).sum(0) / n  # (B, I)
    var = (((x - mean) * mask) ** 2).sum(0) / n  # (B, I), population variance
    return mask, mean, var.sqrt()
