"""Point-forecast errors: MAE, RMSE, MAPE, sMAPE and MASE.

All take ``y_true`` and ``y_pred`` of the same shape (any, e.g. ``(N, K, C)``) in data units
(invert the scaler first) and average over every element. Percentages are in percent.

- ``mae  = mean |y - f|``
- ``rmse = sqrt(mean (y - f)^2)``
- ``mape = 100 * mean |y - f| / |y|`` (NaN with a logged warning if any ``y == 0``)
- ``smape = 100 * mean 2 |y - f| / (|y| + |f|)`` (0..200; a 0/0 term counts as 0)
- ``mase = mae / mean_t |x_t - x_{t-m}|`` over the in-sample history ``x`` with seasonal
  period ``m`` (Hyndman & Koehler 2006): below 1 beats the in-sample seasonal naive.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["METRICS", "evaluate_forecast", "mae", "mape", "mase", "rmse", "smape"]

logger = logging.getLogger(__name__)


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, f = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y.shape != f.shape:
        raise ValueError(f"`y_pred` shape {f.shape} must equal `y_true` shape {y.shape}")
    if y.size == 0:
        raise ValueError("`y_true` is empty")
    return y, f


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - f)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    y, f = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; NaN if an actual is 0."""
    y, f = _pair(y_true, y_pred)
    if np.any(y == 0):
        logger.warning("MAPE is undefined: %d actual value(s) are 0; reporting NaN", (y == 0).sum())
        return float("nan")
    return float(100.0 * np.mean(np.abs(y - f) / np.abs(y)))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric MAPE, in percent (0..200)."""
    y, f = _pair(y_true, y_pred)
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(2.0 * np.abs(y - f), denom, out=np.zeros_like(y), where=denom > 0)
    return float(100.0 * np.mean(terms))


def mase(y_true: np.ndarray, y_pred: np.ndarray, insample: np.ndarray, period: int = 1) -> float:
    """Mean absolute scaled error against the in-sample seasonal naive.

    Args:
        y_true, y_pred: forecasts and actuals, same shape.
        insample: ``(T,)`` or ``(T, C)`` history before the forecasts (the training part).
        period: m, seasonal period (1: the plain naive).
    """
    if period < 1:
        raise ValueError(f"`period` must be >= 1, got {period}")
    x = np.asarray(insample, dtype=np.float64)
    if x.shape[0] <= period:
        raise ValueError(f"`insample` needs more than `period`={period} rows, got {x.shape[0]}")
    scale = float(np.mean(np.abs(x[period:] - x[:-period])))
    if scale == 0.0:
        raise ValueError("`insample` is constant at lag `period`: MASE is undefined")
    return mae(y_true, y_pred) / scale


METRICS = ("mae", "rmse", "mape", "smape", "mase")


def evaluate_forecast(
    y_true: np.ndarray, y_pred: np.ndarray, insample: np.ndarray, period: int = 1
) -> dict[str, float]:
    """All of :data:`METRICS` in one dict."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mase": mase(y_true, y_pred, insample, period),
    }
