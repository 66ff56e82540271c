"""Windows of a series for training, chronological splits and rolling-origin folds.

Row indices throughout: an *origin* ``o`` is the index of the first forecast step, so a
window with input length ``n_in`` and horizon K reads rows ``o - n_in .. o - 1`` and
predicts rows ``o .. o + K - 1``. A split at ``cut`` gives a window to the training part
only when all its targets are before ``cut``; inputs may reach back across a cut (past
observations are not leakage), targets never reach forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "Fold",
    "WindowDataset",
    "chronological_split",
    "collate_windows",
    "rolling_origin_folds",
    "window_origins",
]


def chronological_split(n: int, *, val: float = 0.1, test: float = 0.1) -> tuple[int, int]:
    """Cut points ``(train_end, val_end)``: train rows ``[0, train_end)``, validation
    ``[train_end, val_end)``, test ``[val_end, n)``; fractions of ``n``, in time order."""
    for name, frac in (("val", val), ("test", test)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"`{name}` fraction must be in [0, 1), got {frac}")
    if val + test >= 1.0:
        raise ValueError(f"`val` + `test` must leave training rows, got {val} + {test}")
    n_test, n_val = int(round(n * test)), int(round(n * val))
    return n - n_val - n_test, n - n_test


def window_origins(
    start: int, stop: int, *, input_len: int, horizon: int, stride: int = 1
) -> np.ndarray:
    """Origins ``o`` with all targets in ``[start, stop)`` and a full input window.

    Returns:
        ``(N,)`` int64 origins ``o`` with ``o >= max(start, input_len)`` and
        ``o + horizon <= stop``, every ``stride``-th from the first.
    """
    if input_len < 1 or horizon < 1 or stride < 1:
        raise ValueError(
            f"`input_len`, `horizon`, `stride` must be >= 1, got {input_len}, {horizon}, {stride}"
        )
    first = max(start, input_len)
    return np.arange(first, stop - horizon + 1, stride, dtype=np.int64)


class WindowDataset(Dataset):
    """Windows over already-scaled arrays, one per origin.

    Args:
        target: ``(T, C)`` scaled targets.
        past: ``(T, P)`` scaled past covariates (P may be 0).
        future: ``(T, F)`` scaled known-future covariates (F may be 0).
        origins: ``(N,)`` origins (see :func:`window_origins`).
        input_len: rows of history per window.
        horizon: K, rows to predict.

    Item ``i`` is a dict of float32 tensors:
        ``x``: ``(input_len, C + P + F)`` rows ``o - input_len .. o - 1`` of all columns;
        ``future``: ``(K, F)`` known-future covariates of rows ``o .. o + K - 1``;
        ``y``: ``(K, C)`` targets of rows ``o .. o + K - 1``.
    """

    def __init__(
        self,
        target: np.ndarray,
        past: np.ndarray,
        future: np.ndarray,
        origins: Sequence[int] | np.ndarray,
        *,
        input_len: int,
        horizon: int,
    ) -> None:
        t = target.shape[0]
        if past.shape[0] != t or future.shape[0] != t:
            raise ValueError(
                f"`past` and `future` must have T={t} rows like `target`, "
                f"got {past.shape[0]} and {future.shape[0]}"
            )
        self.origins = np.asarray(origins, dtype=np.int64)
        if len(self.origins) and (
            self.origins.min() < input_len or self.origins.max() + horizon > t
        ):
            raise ValueError(
                f"origins must lie in [{input_len}, {t - horizon}] for input_len={input_len}, "
                f"horizon={horizon}, T={t}; got [{self.origins.min()}, {self.origins.max()}]"
            )
        self.inputs = torch.as_tensor(
            np.concatenate([target, past, future], axis=1), dtype=torch.float32
        )  # (T, C + P + F)
        self.future = torch.as_tensor(future, dtype=torch.float32)  # (T, F)
        self.target = torch.as_tensor(target, dtype=torch.float32)  # (T, C)
        self.input_len, self.horizon = input_len, horizon

    def __len__(self) -> int:
        return len(self.origins)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        o = int(self.origins[i])
        return {
            "x": self.inputs[o - self.input_len : o],
            "future": self.future[o : o + self.horizon],
            "y": self.target[o : o + self.horizon],
        }


def collate_windows(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items time-major: ``x: (T, B, I)``, ``future: (K, B, F)``, ``y: (K, B, C)``."""
    return {key: torch.stack([it[key] for it in items], dim=1) for key in items[0]}


@dataclass(frozen=True)
class Fold:
    """One rolling-origin fold: fit on rows ``[train_start, train_stop)``, forecast rows
    ``[origin, origin + horizon)`` from the history before ``origin``."""

    train_start: int
    train_stop: int
    origin: int
    horizon: int

    @property
    def test_stop(self) -> int:
        """One past the last forecast row."""
        return self.origin + self.horizon


def rolling_origin_folds(
    n: int,
    *,
    start: int,
    horizon: int,
    stride: int | None = None,
    window: str = "expanding",
    train_size: int | None = None,
) -> list[Fold]:
    """Rolling-origin evaluation folds over a series of ``n`` rows.

    Args:
        n: rows in the series.
        start: first origin (first forecast row).
        horizon: K, rows forecast per fold.
        stride: rows between origins (default K: the forecasts tile the test span).
        window: ``"expanding"`` (train on all rows before the origin) or ``"sliding"``
            (train on the ``train_size`` rows before the origin).
        train_size: rows of the sliding window (default ``start``).

    Returns:
        Folds with origins ``start, start + stride, ...`` while ``origin + K <= n``.
    """
    stride = horizon if stride is None else stride
    if window not in ("expanding", "sliding"):
        raise ValueError(f"`window` must be 'expanding' or 'sliding', got {window!r}")
    if not 0 < start <= n - horizon:
        raise ValueError(
            f"`start` must be in [1, {n - horizon}] for n={n}, K={horizon}, got {start}"
        )
    if stride < 1 or horizon < 1:
        raise ValueError(f"`stride` and `horizon` must be >= 1, got {stride} and {horizon}")
    size = start if train_size is None else train_size
    if window == "sliding" and not 0 < size <= start:
        raise ValueError(f"`train_size` must be in [1, {start}], got {size}")
    folds = []
    for origin in range(start, n - horizon + 1, stride):
        first = origin - size if window == "sliding" else 0
        folds.append(Fold(first, origin, origin, horizon))
    return folds
