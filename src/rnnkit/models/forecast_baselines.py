"""Baseline forecasters a recurrent model must beat: naive, seasonal naive, exponential
smoothing (Holt-Winters, only when statsmodels is importable).

Each maps a history ``(T, C)`` in data units to a forecast ``(K, C)``; no fitting state is
kept, so a backtest calls them fresh at every origin.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Callable

import numpy as np

__all__ = [
    "BASELINES",
    "available_baselines",
    "baseline_forecast",
    "exponential_smoothing",
    "naive",
    "seasonal_naive",
]

logger = logging.getLogger(__name__)


def _history(history: np.ndarray) -> np.ndarray:
    h = np.asarray(history, dtype=np.float64)
    h = h[:, None] if h.ndim == 1 else h  # (T,) -> (T, 1)
    if h.ndim != 2 or h.shape[0] == 0:
        raise ValueError(f"`history` must be (T, C) with T >= 1, got shape {np.shape(history)}")
    return h


def naive(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Repeat the last value: ``f_{T+k} = y_T``. Returns ``(K, C)``."""
    h = _history(history)
    return np.repeat(h[-1:], horizon, axis=0)  # (K, C)


def seasonal_naive(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Repeat the last season: ``f_{T+k} = y_{T+k-m*ceil(k/m)}``. Returns ``(K, C)``."""
    h = _history(history)
    if period < 1:
        raise ValueError(f"`period` must be >= 1, got {period}")
    if h.shape[0] < period:
        raise ValueError(f"`history` needs at least `period`={period} rows, got {h.shape[0]}")
    season = h[-period:]  # (m, C)
    return season[np.arange(horizon) % period]  # (K, C)


def exponential_smoothing(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Holt-Winters (additive trend; additive season when ``period > 1`` and 2 seasons of
    history) via statsmodels, per column. Returns ``(K, C)``.

    statsmodels' ConvergenceWarning is silenced: a baseline fitted on short or flat history
    often stops early, and a warning per fold would bury the run's own messages."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    h = _history(history)
    seasonal = "add" if period > 1 and h.shape[0] >= 2 * period else None
    cols = []
    for c in range(h.shape[1]):
        model = ExponentialSmoothing(
            h[:, c], trend="add", seasonal=seasonal, seasonal_periods=period if seasonal else None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = model.fit()
        cols.append(fitted.forecast(horizon))
    return np.stack(cols, axis=1)  # (K, C)


BASELINES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "naive": naive,
    "seasonal_naive": seasonal_naive,
    "exponential_smoothing": exponential_smoothing,
}


def available_baselines() -> list[str]:
    """Baselines usable here: exponential smoothing only when statsmodels is installed."""
    names = ["naive", "seasonal_naive"]
    if importlib.util.find_spec("statsmodels") is not None:
        names.append("exponential_smoothing")
    else:
        logger.info("statsmodels is not installed: the exponential smoothing baseline is skipped")
    return names


def baseline_forecast(name: str, history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Forecast ``(K, C)`` from ``history: (T, C)`` with the baseline called ``name``."""
    if name not in BASELINES:
        raise ValueError(f"`baseline` must be one of {sorted(BASELINES)}, got {name!r}")
    return BASELINES[name](history, horizon, period)
