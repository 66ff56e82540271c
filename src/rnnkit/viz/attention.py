"""Attention heatmaps: which source tokens each target token looked at."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.viz._figure import new_figure, save_figure

__all__ = ["plot_attention"]


def plot_attention(
    weights: np.ndarray | Sequence[Sequence[float]],
    source: Sequence[str],
    target: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save the attention matrix of one sentence as a PNG and return its path.

    Args:
        weights: ``(T, S)`` attention weights, row ``t`` the distribution of output token
            ``t`` over the source (a torch tensor works too).
        source: the S source tokens (columns).
        target: the T output tokens (rows), ``<eos>`` included if it has a row.
        path: where to write the PNG.
        title: the figure title (default: the source sentence).
    """
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, float)
    if w.ndim != 2 or w.shape != (len(target), len(source)):
        raise ValueError(
            f"`weights` must be (len(target), len(source)) = ({len(target)}, {len(source)}), "
            f"got {w.shape}"
        )
    T, S = w.shape
    fig = new_figure(figsize=(max(3.0, 0.45 * S + 1.8), max(2.5, 0.4 * T + 1.4)))
    ax = fig.add_subplot()
    im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention")
    ax.set_xticks(range(S), list(source), rotation=60, ha="right")
    ax.set_yticks(range(T), list(target))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title if title is not None else " ".join(source), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
