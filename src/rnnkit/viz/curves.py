"""Training curves: train and validation loss against the step.

``plot_loss(run_dir / "metrics.csv", "loss.png")`` or ``plot_loss(trainer.history, ...)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rnnkit.metrics.csv_log import read_metrics_csv
from rnnkit.viz._figure import new_figure, save_figure

__all__ = ["kept_step", "plot_loss"]


def _rows(source: str | os.PathLike[str] | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"`metrics_csv_or_rows`: no file {path}")
        return read_metrics_csv(path)
    return list(source)


def _series(rows: list[Mapping[str, Any]], split: str, key: str) -> tuple[list, list]:
    xs, ys = [], []
    for row in rows:
        if row.get("split") == split and row.get(key) is not None:
            xs.append(row["step"])
            ys.append(float(row[key]))
    return xs, ys


def kept_step(rows: list[Mapping[str, Any]]) -> int | None:
    """The step of the best evaluation (the checkpoint a run keeps): the first validation
    row whose running ``best`` (the trainer writes it with each evaluation, whatever the
    monitored metric) equals the last one's; None when the rows carry no ``best``."""
    val = [r for r in rows if r.get("split") == "val" and r.get("best") not in (None, "")]
    if not val:
        return None
    final = float(val[-1]["best"])
    return next(int(r["step"]) for r in val if float(r["best"]) == final)


def plot_loss(
    metrics_csv_or_rows: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    title: str | None = None,
) -> Path:
    """Draw train and validation loss vs step to ``path`` (PNG), and a dotted line at the
    best evaluation's step (the weights the run keeps); returns ``path``.

    Args:
        metrics_csv_or_rows: a ``metrics.csv`` written by the trainer, or its rows as dicts
            (``step``, ``split`` in {"train", "val"}, ``train_loss``, ``val_loss``, and
            on validation rows the running ``best`` of the monitored metric). Rows with a
            ``train_clean_loss`` (adversarial training) draw it as the train curve, with
            the trained loss (clean + perturbed) faint beside it.
        path: the image to write.
        title: figure title.
    """
    rows = _rows(metrics_csv_or_rows)
    train_split = "train"
    train = _series(rows, train_split, "train_loss")
    if not train[0]:  # no per-step rows: the train averages written with each evaluation
        train_split = "val"
        train = _series(rows, train_split, "train_loss")
    val = _series(rows, "val", "val_loss")
    if not train[0] and not val[0]:
        raise ValueError("`metrics_csv_or_rows` holds no train_loss or val_loss values")
    fig = new_figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    clean = _series(rows, train_split, "train_clean_loss")  # adversarial training's clean
    if train[0] and clean[0]:
        ax.plot(*train, label="train (trained: clean + perturbed)", lw=1.0, alpha=0.5)
        ax.plot(*clean, label="train (clean)", lw=1.2)
    elif train[0]:
        ax.plot(*train, label="train", lw=1.2)
    if val[0]:
        ax.plot(*val, label="validation", lw=1.5, marker="o", ms=3)
    best = kept_step(rows)
    if best is not None:
        ax.axvline(best, color="0.4", ls=":", lw=1.2, label=f"best checkpoint (step {best})")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
