"""Forecast figure: history, actuals, forecasts and prediction intervals, saved as a PNG.

Every array is in data units (the caller inverts the scaler first). One panel per target
column; each forecast segment (one per backtest origin, or a single one for ``predict``)
is drawn as its own line with its interval shaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.viz._figure import new_figure, save_figure

__all__ = ["ForecastSegment", "plot_forecast"]


@dataclass(frozen=True)
class ForecastSegment:
    """One forecast: ``index: (K,)`` times, ``mean: (K, C)``, optional ``lower``/``upper``."""

    index: Sequence
    mean: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def plot_forecast(
    path: str | os.PathLike,
    *,
    history_index: Sequence,
    history: np.ndarray,
    segments: Sequence[ForecastSegment],
    actual_index: Sequence | None = None,
    actual: np.ndarray | None = None,
    names: Sequence[str] = ("y",),
    title: str = "",
    baselines: dict[str, ForecastSegment] | None = None,
) -> Path:
    """Draw and save the figure; returns the PNG path.

    Args:
        path: output file (``.png``).
        history_index, history: ``(T,)`` times and ``(T, C)`` values before the forecasts.
        segments: the model's forecasts.
        actual_index, actual: ``(N,)`` and ``(N, C)`` true values over the forecast span.
        names: C column names (panel titles).
        title: figure title.
        baselines: optional extra forecasts drawn dashed, by name.
    """
    history = np.asarray(history).reshape(len(history_index), -1)  # (T, C)
    n_cols = history.shape[1]
    act = None
    if actual is not None and actual_index is not None:
        act = np.asarray(actual).reshape(len(actual_index), -1)  # (N, C)
    fig = new_figure(figsize=(10, 3.2 * n_cols))
    axes = fig.subplots(n_cols, 1, squeeze=False)
    for c, ax in enumerate(axes[:, 0]):
        ax.plot(history_index, history[:, c], color="0.35", lw=1.0, label="history")
        if act is not None:
            ax.plot(actual_index, act[:, c], color="black", lw=1.2, label="actual")
        for i, seg in enumerate(segments):
            label = "forecast" if i == 0 else None
            ax.plot(seg.index, seg.mean[:, c], color="tab:blue", lw=1.3, label=label)
            if seg.lower is not None and seg.upper is not None:
                ax.fill_between(
                    seg.index,
                    seg.lower[:, c],
                    seg.upper[:, c],
                    color="tab:blue",
                    alpha=0.2,
                    lw=0,
                    label="interval" if i == 0 else None,
                )
        for j, (name, seg) in enumerate((baselines or {}).items()):
            ax.plot(seg.index, seg.mean[:, c], ls="--", lw=1.0, color=f"C{j + 1}", label=name)
        ax.set_title(names[c] if c < len(names) else f"column {c}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
