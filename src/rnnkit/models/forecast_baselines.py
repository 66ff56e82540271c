"""Baseline forecasters a recurrent model must beat: naive, seasonal naive, exponential
smoothing (Holt-Winters, only when statsmodels is importable).

Each maps a history ``(T, C)`` in data units to a forecast ``(K, C)``; no fitting state is
kept. :func:`baseline_folds` forecasts every origin of a backtest: each baseline is called
fresh at every origin, except exponential smoothing on a long history, which is fitted once
(see :data:`ES_REFIT_ROWS`).
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
    "ES_REFIT_ROWS",
    "baseline_folds",
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


ES_REFIT_ROWS = 2000
"""Exponential smoothing is refitted at every backtest origin while the history before the
first origin has at most this many rows. On a longer one, where one fit takes seconds to
tens of seconds (38 s on 39,000 hourly rows) and a backtest has hundreds of origins, it is
fitted once on these last rows before the first origin and its state then runs on through
the data up to each later origin, with the fitted smoothing parameters (as the recurrent
model, which is fitted once too)."""


def _es_model(y: np.ndarray, period: int, known=None):
    """Holt-Winters with additive trend and, when ``y`` holds 2 seasons, additive season;
    ``known``: a fit's results, whose season choice and initial states are taken instead
    of estimated."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    if known is not None:
        seasonal = known.model.seasonal
    else:
        seasonal = "add" if period > 1 and len(y) >= 2 * period else None
    kw: dict = {"trend": "add", "seasonal": seasonal}
    kw["seasonal_periods"] = period if seasonal else None
    if known is not None:
        kw.update(
            initialization_method="known",
            initial_level=known.params["initial_level"],
            initial_trend=known.params["initial_trend"],
        )
        if seasonal:
            kw["initial_seasonal"] = known.params["initial_seasons"]
    return ExponentialSmoothing(y, **kw)


def _es_fit(model, **fixed):
    """Fit quietly: a baseline on short or flat history often stops early, and a
    ConvergenceWarning per fold would bury the run's own messages."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(**fixed, optimized=not fixed)


def exponential_smoothing(history: np.ndarray, horizon: int, period: int = 1) -> np.ndarray:
    """Holt-Winters (additive trend; additive season when ``period > 1`` and 2 seasons of
    history) via statsmodels, fitted on ``history``, per column. Returns ``(K, C)``."""
    h = _history(history)
    cols = [_es_fit(_es_model(h[:, c], period)).forecast(horizon) for c in range(h.shape[1])]
    return np.stack(cols, axis=1)  # (K, C)


def _es_once(target: np.ndarray, origins: list[int], horizon: int, period: int) -> np.ndarray:
    """Fit on the ES_REFIT_ROWS rows before ``origins[0]``, then run the fitted model's
    state through the data up to each origin. Returns ``(N, K, C)``."""
    start = origins[0] - ES_REFIT_ROWS
    out = np.empty((len(origins), horizon, target.shape[1]))
    for c in range(target.shape[1]):
        fit = _es_fit(_es_model(target[start : origins[0], c], period))
        keep = {k: fit.params[k] for k in ("smoothing_level", "smoothing_trend")}
        if fit.model.seasonal is not None:
            keep["smoothing_seasonal"] = fit.params["smoothing_seasonal"]
        for i, o in enumerate(origins):
            run = _es_fit(_es_model(target[start:o, c], period, known=fit), **keep)
            out[i, :, c] = run.forecast(horizon)
    return out


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


def baseline_folds(
    name: str,
    target: np.ndarray,
    starts: list[int],
    origins: list[int],
    horizon: int,
    period: int = 1,
) -> np.ndarray:
    """The baseline ``name``'s forecast at every origin of a backtest: ``target: (T, C)``,
    fold i's history ``target[starts[i]:origins[i]]``. Returns ``(N, K, C)``.

    Exponential smoothing on more than :data:`ES_REFIT_ROWS` rows before the first origin
    is fitted once there (see :data:`ES_REFIT_ROWS`); everything else is fitted per fold.
    """
    target = _history(target)
    if name == "exponential_smoothing" and origins[0] - starts[0] > ES_REFIT_ROWS:
        return _es_once(target, list(origins), horizon, period)
    return np.stack(
        [
            baseline_forecast(name, target[s:o], horizon, period)
            for s, o in zip(starts, origins, strict=True)
        ]
    )  # (N, K, C)
