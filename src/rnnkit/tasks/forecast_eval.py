"""What a forecaster produces and how it is scored: forecasts, rolling-origin backtests.

:class:`Forecast` holds the K rows after a series; :func:`run_backtest` makes the
rolling-origin folds, forecasts every origin with the model and the baselines and scores
them (all in data units); :func:`plot_backtest` draws the result. ``Forecaster.backtest``
and ``Forecaster.plot_backtest`` are these functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rnnkit.data.forecast_sources import seasonal_period
from rnnkit.data.series import TimeSeries
from rnnkit.data.windows import Fold, rolling_origin_folds
from rnnkit.metrics.forecast import evaluate_forecast
from rnnkit.models.forecast_baselines import available_baselines, baseline_folds
from rnnkit.viz.forecast import ForecastSegment, plot_forecast

if TYPE_CHECKING:
    from rnnkit.tasks.forecaster import Forecaster

__all__ = ["BacktestResult", "Forecast", "plot_backtest", "resolve_start", "run_backtest"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forecast:
    """K forecast rows after a series: ``mean``, ``lower``, ``upper``: ``(K, C)``."""

    index: pd.Index
    mean: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    names: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Columns ``<name>``, and ``<name>_lower`` / ``<name>_upper`` with intervals."""
        cols: dict[str, np.ndarray] = {}
        for c, name in enumerate(self.names):
            cols[name] = self.mean[:, c]
            if self.lower is not None and self.upper is not None:
                cols[f"{name}_lower"], cols[f"{name}_upper"] = self.lower[:, c], self.upper[:, c]
        return pd.DataFrame(cols, index=self.index)


@dataclass(frozen=True)
class BacktestResult:
    """Rolling-origin forecasts of the model and the baselines, and their metrics.

    ``actual`` and each ``forecasts[name]`` are ``(N, K, C)`` for N folds; the model's are
    under ``"model"``; ``metrics[name]`` holds mae, rmse, mape, smape, mase.
    """

    folds: list[Fold]
    index: pd.Index
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    lower: np.ndarray | None
    upper: np.ndarray | None
    metrics: dict[str, dict[str, float]]
    period: int

    def table(self) -> str:
        """A Markdown table: one row per forecaster, one column per metric."""
        keys = ["mae", "rmse", "mape", "smape", "mase"]
        lines = ["| forecaster | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, m in self.metrics.items():
            lines.append(f"| {name} | " + " | ".join(f"{m[k]:.4g}" for k in keys) + " |")
        return "\n".join(lines)


def resolve_start(series: TimeSeries, start: int | str | float | pd.Timestamp) -> int:
    """A backtest start as a row: an int row, a fraction in (0, 1), or a time (string or
    Timestamp; the first row at or after it)."""
    if isinstance(start, str):
        try:
            start = float(start) if "." in start else int(start)
        except ValueError:
            pass
    if isinstance(start, float):
        if not 0.0 < start < 1.0:
            raise ValueError(f"`start` as a fraction must be in (0, 1), got {start}")
        return int(round(len(series) * start))
    if isinstance(start, int):
        return start
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError(f"`start` {start!r} is a time but the series has no timestamps")
    row = int(series.index.searchsorted(pd.Timestamp(start)))
    if row >= len(series):
        raise ValueError(f"`start` {start} is after the last row {series.index[-1]}")
    return row


def _model_forecasts(
    fc: Forecaster, series: TimeSeries, folds: list[Fold], refit: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The model's mean, lower, upper ``(N, K, C)`` at each fold's origin."""
    if not refit:
        if fc.model is None:
            logger.info("backtest: fitting once on the %d rows before origin 1", folds[0].origin)
            fc.fit(series.slice(0, folds[0].origin))
        return fc.forecast_origins(series, np.array([f.origin for f in folds]))
    parts = []
    for fold in folds:
        fresh = type(fc)(fc.config, train=fc.train_config)
        fresh.fit(series.slice(fold.train_start, fold.train_stop))
        parts.append(fresh.forecast_origins(series, np.array([fold.origin])))
    mean = np.concatenate([p[0] for p in parts])
    lower = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    upper = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    return mean, lower, upper


def run_backtest(
    fc: Forecaster,
    series: TimeSeries,
    *,
    start: int | str | float | pd.Timestamp,
    stride: int | None = None,
    window: str = "expanding",
    train_size: int | None = None,
    refit: bool = False,
    baselines: list[str] | None = None,
    period: int | None = None,
    last_points_only: bool = False,
) -> BacktestResult:
    """Rolling-origin evaluation of ``fc`` beside the baselines; see ``Forecaster.backtest``."""
    cfg, n = fc.config, len(series)
    origin0 = resolve_start(series, start)
    if origin0 < cfg.input_len:
        raise ValueError(f"`start` row {origin0} leaves less than input_len={cfg.input_len}")
    k = cfg.horizon
    folds = rolling_origin_folds(
        n, start=origin0, horizon=k, stride=stride, window=window, train_size=train_size
    )
    actual = np.stack([series.target[f.origin : f.origin + k] for f in folds])  # (N, K, C)
    mean, lower, upper = _model_forecasts(fc, series, folds, refit)
    period = period or seasonal_period(series)
    forecasts = {"model": mean}
    starts, origins = [f.train_start for f in folds], [f.origin for f in folds]
    for name in baselines if baselines is not None else available_baselines():
        forecasts[name] = baseline_folds(name, series.target, starts, origins, k, period)
    pick = slice(-1, None) if last_points_only else slice(None)
    insample = series.target[:origin0]
    metrics = {
        name: evaluate_forecast(actual[:, pick], f[:, pick], insample, period)
        for name, f in forecasts.items()
    }
    return BacktestResult(folds, series.index, actual, forecasts, lower, upper, metrics, period)


def plot_backtest(
    series: TimeSeries, result: BacktestResult, path: str | Path, *, history: int, title: str = ""
) -> Path:
    """PNG of ``history`` rows before the first origin, the actuals, each fold's forecast
    and interval, and the seasonal naive forecast of the first fold."""
    first = result.folds[0].origin
    show = max(0, first - history)
    last = result.folds[-1].test_stop
    segments = [
        ForecastSegment(
            series.index[f.origin : f.test_stop],
            result.forecasts["model"][i],
            None if result.lower is None else result.lower[i],
            None if result.upper is None else result.upper[i],
        )
        for i, f in enumerate(result.folds)
    ]
    base: dict[str, Any] = {}
    if "seasonal_naive" in result.forecasts and result.folds[0].horizon > 1:
        f0 = result.folds[0]
        base["seasonal naive"] = ForecastSegment(
            series.index[f0.origin : f0.test_stop], result.forecasts["seasonal_naive"][0]
        )
    return plot_forecast(
        path,
        history_index=series.index[show:first],
        history=series.target[show:first],
        segments=segments,
        actual_index=series.index[first:last],
        actual=series.target[first:last],
        names=series.target_names,
        title=title,
        baselines=base,
    )
