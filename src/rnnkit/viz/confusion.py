"""Confusion-matrix figure: rows true classes, columns predicted, cells coloured by row share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.viz._figure import new_figure, save_figure

__all__ = ["plot_confusion"]


def plot_confusion(
    cm: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str = "Confusion matrix",
    normalize: bool = True,
) -> Path:
    """Save a confusion matrix ``(C, C)`` as a PNG and return its path.

    Args:
        cm: counts, ``cm[i, j]`` = examples of true class i predicted as j.
        labels: the C class names.
        path: where to write the PNG.
        title: the figure title.
        normalize: colour each row by its share (recall per class); the cells always show
            the counts.
    """
    cm = np.asarray(cm)
    C = len(labels)
    if cm.shape != (C, C):
        raise ValueError(f"`cm` has shape {cm.shape}, expected ({C}, {C}) from `labels`")
    rows = cm.sum(axis=1, keepdims=True)  # (C, 1)
    shade = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0) if normalize else cm
    size = max(4.0, 0.5 * C + 2.0)
    fig = new_figure(figsize=(size, size * 0.9))
    ax = fig.add_subplot()
    im = ax.imshow(shade, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row share" if normalize else "count")
    ax.set_xticks(range(C), [str(n) for n in labels], rotation=45, ha="right")
    ax.set_yticks(range(C), [str(n) for n in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if C <= 30:
        top = shade.max() if shade.size else 0
        for i in range(C):
            for j in range(C):
                dark = top and shade[i, j] > 0.6 * top
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
