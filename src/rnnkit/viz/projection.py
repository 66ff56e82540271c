"""Word vectors in two dimensions: PCA (NumPy SVD) or t-SNE (scikit-learn), labelled points.

``plot_projection(vectors, words, "words.png")`` projects the (N, E) rows and writes a
scatter plot with each point labelled by its word.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.viz._figure import new_figure, save_figure

__all__ = ["METHODS", "pca_2d", "plot_projection", "project_2d", "tsne_2d"]

METHODS = ("pca", "tsne")


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of the rows of ``x``.

    Args:
        x: (N, E) points, N >= 2.

    Returns:
        ``(points, explained)``: (N, 2) coordinates, and the (2,) share of the variance
        each component explains. Signs are fixed so each component's largest loading is
        positive (the picture does not flip between runs).
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)  # (N, E)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (min(N, E), E)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * signs[:, None]
    points = centred @ vt.T  # (N, 2)
    if points.shape[1] < 2:  # E == 1: a second axis of zeros
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    var = s**2
    explained = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return points, np.pad(explained, (0, 2 - len(explained)))


def tsne_2d(x: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(N, 2) t-SNE coordinates of the (N, E) rows (scikit-learn; perplexity capped at N-1).

    Raises:
        ImportError: scikit-learn is not installed.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError(
            "t-SNE needs scikit-learn, which is not installed (pip install scikit-learn); "
            "use method='pca' instead"
        ) from None
    x = np.asarray(x, dtype=np.float64)
    perplexity = min(perplexity, max(1.0, len(x) - 1.0))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(x)


def project_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the (N, E) rows by ``method`` (``pca`` or ``tsne``)."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    x = np.asarray(x)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need (N, E) vectors with N >= 2 to project, got shape {x.shape}")
    return pca_2d(x)[0] if method == "pca" else tsne_2d(x, seed=seed)


def plot_projection(
    vectors: np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    method: str = "pca",
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """Project (N, E) ``vectors`` to 2-D and draw them labelled; returns ``path`` (PNG).

    Args:
        vectors: (N, E) word vectors.
        labels: N words.
        path: the image to write.
        method: ``pca`` (NumPy SVD) or ``tsne`` (needs scikit-learn).
        title: figure title (default: the method, with PCA's explained variance).
        seed: t-SNE's random state.
    """
    if len(labels) != len(vectors):
        raise ValueError(f"{len(labels)} `labels` for {len(vectors)} vectors")
    points = project_2d(vectors, method, seed)
    if title is None and method == "pca":
        share = pca_2d(vectors)[1]
        title = f"PCA of {len(labels)} word vectors ({100 * share.sum():.0f}% of the variance)"
    fig = new_figure(figsize=(7, 6), dpi=110)
    ax = fig.add_subplot()
    ax.scatter(points[:, 0], points[:, 1], s=14, color="tab:blue", alpha=0.8)
    for (px, py), label, dy in zip(points, labels, _label_offsets(points), strict=True):
        ax.annotate(label, (px, py), xytext=(3, dy), textcoords="offset points", fontsize=8)
    ax.set_title(title or f"t-SNE of {len(labels)} word vectors")
    ax.set_xlabel("component 1" if method == "pca" else "t-SNE 1")
    ax.set_ylabel("component 2" if method == "pca" else "t-SNE 2")
    ax.margins(0.08)
    fig.tight_layout()
    return save_figure(fig, path)


def _label_offsets(points: np.ndarray, points_apart: float = 0.02) -> list[int]:
    """Vertical label offsets (points) that stack the labels of near-coincident words
    (closer than ``points_apart`` of the plot's extent) instead of printing them over each
    other. points: (N, 2)."""
    extent = float(np.ptp(points, axis=0).max()) or 1.0
    offsets: list[int] = []
    for i, p in enumerate(points):
        near = sum(
            1 for j in range(i) if np.abs(points[j] - p).max() < points_apart * extent
        )  # earlier labels this one would cover
        offsets.append(3 - 10 * near)
    return offsets
