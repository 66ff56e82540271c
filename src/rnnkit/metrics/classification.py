"""Classification metrics: accuracy, macro-F1, per-class precision/recall, confusion matrix.

Everything works on integer class ids ``0..C-1`` (shape ``(N,)``); names come from the
label map only when a table is formatted. A class with no predictions (or no true
examples) has precision (or recall) 0 by convention, and the same for its F1, as in
scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_report", "confusion_matrix", "format_confusion", "format_report"]


def _as_ids(name: str, values: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (N,), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer class ids, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"`{name}` holds ids in [{arr.min()}, {arr.max()}], expected [0, {num_classes - 1}]"
        )
    return arr.astype(np.int64)


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Counts ``cm[i, j]`` of examples of true class ``i`` predicted as ``j``: (C, C) int64.

    Args:
        y_true: true class ids, (N,).
        y_pred: predicted class ids, (N,).
        num_classes: C, the number of classes (rows and columns of the matrix).
    """
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {num_classes}")
    t = _as_ids("y_true", y_true, num_classes)
    p = _as_ids("y_pred", y_pred, num_classes)
    if t.shape != p.shape:
        raise ValueError(f"`y_pred` has {p.size} items, `y_true` has {t.size}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[str],
) -> dict:
    """Accuracy, macro-F1 and per-class precision / recall / F1 / support.

    Args:
        y_true: true class ids, (N,).
        y_pred: predicted class ids, (N,).
        labels: the C class names, in id order.

    Returns:
        ``{"accuracy", "macro_f1", "macro_precision", "macro_recall", "n",
        "per_class": {name: {"precision", "recall", "f1", "support"}},
        "confusion": (C, C) list of lists}``. Macro averages run over all C classes.
    """
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(np.float64)  # (C,)
    predicted = cm.sum(axis=0)  # (C,) column sums: how often each class was predicted
    support = cm.sum(axis=1)  # (C,) row sums: true examples of each class
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    n = int(cm.sum())
    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "n": n,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion": cm.tolist(),
    }


def format_confusion(cm: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """A plain-text confusion matrix: rows are true classes, columns predicted ones."""
    cm = np.asarray(cm)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"`cm` has shape {cm.shape}, expected ({len(labels)}, {len(labels)})")
    names = [str(n) for n in labels]
    width = max([len(n) for n in names] + [len(str(int(cm.max(initial=0)))), 4])
    corner = "true\\pred"
    first = max(width, len(corner))  # the row labels' column, wide enough for its heading
    head = corner.ljust(first + 1) + " ".join(n[:width].rjust(width) for n in names)
    rows = [
        names[i][:width].ljust(first + 1) + " ".join(str(int(v)).rjust(width) for v in cm[i])
        for i in range(len(names))
    ]
    return "\n".join([head, *rows])


def format_report(report: dict) -> str:
    """The per-class table and the summary lines of :func:`classification_report`."""
    names = list(report["per_class"])
    width = max([len(n) for n in names] + [5])
    lines = [f"{'class'.ljust(width)}  precision  recall     f1  support"]
    for name, row in report["per_class"].items():
        lines.append(
            f"{name.ljust(width)}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
            f"{row['f1']:5.3f}  {row['support']:7d}"
        )
    lines.append(f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}")
    lines.append(f"n {report['n']}")
    return "\n".join(lines)
