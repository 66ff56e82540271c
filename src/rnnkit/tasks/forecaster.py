"""Forecaster: the user-facing forecasting object (fit / predict / backtest / save / load),
kept apart from the plain ``nn.Module`` (:class:`rnnkit.models.forecaster.ForecastNet`) as
darts does. Series -> scaled windows -> ForecastNet -> the run life cycle
(:class:`rnnkit.tasks.run.TaskRun`) -> rolling-origin backtest::

    >>> from rnnkit.data.series_examples import load_example
    >>> from rnnkit.tasks.forecast import Forecaster
    >>> series = load_example("airline")
    >>> fc = Forecaster(input_len=24, horizon=6, train={"epochs": 2})
    >>> _ = fc.fit(series.slice(0, 120))
    >>> fc.predict(series.slice(0, 120)).mean.shape
    (6, 1)

A run directory (``fit(run_dir=...)``, ``rnnkit forecast train``) holds ``config.json``
(``model``: the network, ``forecast``: windows and scaling, ``data``: where the series came
from and how to read newer data, ``train``), ``forecast.json`` (column roles and fitted
scalers), the ``best/`` and ``last/`` checkpoints and ``metrics.csv``. The CLI verbs are in
:mod:`rnnkit.tasks.forecast`. All reported numbers and plots are in data units: the scalers
are fitted on the training rows only and inverted before any metric.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from rnnkit.data.forecast_scaling import SeriesScaling
from rnnkit.data.forecast_sources import seasonal_period
from rnnkit.data.series import TimeSeries
from rnnkit.data.windows import WindowDataset, collate_windows, window_origins
from rnnkit.models.forecaster import ForecastNet
from rnnkit.tasks.forecast_config import LEVELS, ForecastConfig, train_defaults
from rnnkit.tasks.forecast_eval import (
    BacktestResult,
    Forecast,
    plot_backtest,
    resolve_start,
    run_backtest,
)
from rnnkit.tasks.forecast_store import is_legacy, load_legacy, save_run
from rnnkit.tasks.run import TaskRun, read_artifact
from rnnkit.train import StepOutput, TrainConfig, unwrap

__all__ = [
    "TRAIN_DEFAULTS",
    "BacktestResult",
    "Forecast",
    "ForecastConfig",
    "Forecaster",
    "resolve_start",
    "seasonal_period",
]

logger = logging.getLogger(__name__)

TRAIN_DEFAULTS: dict[str, Any] = train_defaults()
"""Training defaults under any ``train`` fields given (the ``default`` preset's ``train``):
small series need hundreds of epochs; early stopping on the validation tail ends long
series' fits; the best weights are those with the lowest validation MAE."""


def _step(model: ForecastNet, batch: dict[str, torch.Tensor], state: Any) -> StepOutput:
    """One batch of windows -> loss (MSE, MAE or Gaussian NLL) and the MAE in scaled units."""
    future = batch["future"] if batch["future"].shape[-1] else None
    out = model(batch["x"], future, batch["y"])
    loss = unwrap(model).loss(out, batch["y"])  # under DDP `model` is the wrapper
    mae = (out.mean.detach() - batch["y"][: out.mean.shape[0]]).abs().mean()
    return StepOutput(loss, batch["y"].shape[1], None, {"mae_scaled": mae.item()})


class Forecaster(TaskRun):
    """Fit / predict / backtest a recurrent forecaster on a :class:`TimeSeries`.

    Args:
        config: windows, scaling and network (or give its fields as keywords, flat:
            ``horizon=6, hidden_size=8``); what is not given comes from the default preset.
        train: a ``TrainConfig``, or a dict of its fields laid over :data:`TRAIN_DEFAULTS`
            (early stopping only when there is a validation split).

    Attributes:
        model: the :class:`ForecastNet` (``None`` until fitted or loaded); also ``net``.
        scaling: column roles and fitted scalers (``None`` until fitted).
        data: where the series came from (``source``), how to read newer data (``spec``),
            its seasonal ``period`` and the first held-out row (``test_start``).
    """

    task: ClassVar[str] = "forecast"

    def __init__(
        self, config: ForecastConfig | None = None, *, train: Any = None, **fields: Any
    ) -> None:
        self.config = config if config is not None else ForecastConfig.from_dict(fields)
        if train is None or isinstance(train, dict):
            defaults = dict(TRAIN_DEFAULTS)
            if self.config.val <= 0:  # nothing to stop early on or to select by
                defaults.pop("early_stopping_patience", None)
            train = TrainConfig.from_dict({"progress": False, **defaults, **(train or {})})
        self.train_config: TrainConfig = train
        self.model: ForecastNet | None = None
        self.scaling: SeriesScaling | None = None
        self.data: dict[str, Any] = {}
        self.run_dir: Path | None = None

    @property
    def net(self) -> ForecastNet | None:
        """The network (the older name of ``model``)."""
        return self.model

    @property
    def target_scaler(self):  # noqa: ANN201 - a Scaler
        return None if self.scaling is None else self.scaling.target_scaler

    @property
    def cov_scaler(self):  # noqa: ANN201 - a Scaler
        return None if self.scaling is None else self.scaling.cov_scaler

    # -- the TaskRun parts -------------------------------------------------------------------
    def sections(self) -> dict[str, Any]:
        return {
            "model": self.config.model.to_dict(),
            "forecast": self.config.task_dict(),
            "data": dict(self.data),
        }

    def artifacts(self) -> dict[str, Any]:
        return {} if self.scaling is None else {"forecast": self.scaling}

    def step(self, model: ForecastNet, batch: Any, state: Any) -> StepOutput:
        return _step(model, batch, state)

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> Forecaster:
        if "model" not in config:  # config.json of the previous layout
            return load_legacy(cls, run_dir, weights=False)
        cfg = ForecastConfig.from_dict({**config["forecast"], "model": config["model"]})
        fc = cls(cfg, train=TrainConfig.from_dict(config.get("train") or {}))
        fc.scaling = SeriesScaling.from_dict(read_artifact(run_dir, "forecast"))
        fc.data = dict(config.get("data") or {})
        fc.model = ForecastNet(cfg.model)
        return fc

    # -- fit ---------------------------------------------------------------------------------
    def fit(
        self,
        series: TimeSeries,
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Train on ``series`` (all its rows: cut the test part off first).

        The last ``val`` fraction of rows provides validation windows (the best weights on
        them are kept); the scalers are fitted on the rows before it. With ``run_dir`` the
        run is written there (``extra`` goes into config.json's ``data`` section);
        ``resume=True`` continues it from its last checkpoint.
        """
        cfg, n = self.config, len(series)
        need = cfg.input_len + cfg.horizon
        if n < need:
            raise ValueError(f"series has {n} rows, fitting needs >= input_len + horizon = {need}")
        n_val = int(round(n * cfg.val))
        if cfg.val > 0 and n_val < cfg.horizon:
            logger.warning(
                "%d rows at val=%g give %d validation rows, fewer than the horizon %d: no "
                "validation split, so the last weights are kept (not the best on validation)",
                n,
                cfg.val,
                n_val,
                cfg.horizon,
            )
            n_val = 0
        train_end = n - n_val
        if train_end < need:
            raise ValueError(f"{train_end} training rows leave no window (need {need})")
        self.scaling = SeriesScaling.fit(series, train_end=train_end, scaler=cfg.scaler)
        target, past, future = self.scaling.arrays(series)
        self.config = cfg = cfg.replace(
            n_targets=target.shape[1], n_past=past.shape[1], n_future=future.shape[1]
        )
        self.data = {**self.data, **(extra or {})}
        with torch.random.fork_rng(devices=[]):  # the initial weights, without global reseeding
            torch.manual_seed(self.train_config.seed)
            self.model = ForecastNet(cfg.model)
        arrays = (target, past, future)
        train_data = self._loader(arrays, 0, train_end, shuffle=True)
        val_data = self._loader(arrays, train_end, n, shuffle=False) if n_val else None
        logger.info(
            "fitting on %d windows (%d validation)",
            len(train_data.dataset),
            0 if val_data is None else len(val_data.dataset),
        )
        result = self.fit_run(run_dir, self.train_config, train_data, val_data, resume=resume)
        self.model.cpu().eval()
        return result

    def _loader(self, arrays: tuple, start: int, stop: int, *, shuffle: bool) -> DataLoader:
        """Windows with origins in ``start..stop`` of the scaled ``(target, past, future)``."""
        cfg = self.config
        origins = window_origins(
            start,
            stop,
            input_len=cfg.input_len,
            horizon=cfg.horizon,
            stride=cfg.stride if shuffle else 1,
        )
        ds = WindowDataset(*arrays, origins, input_len=cfg.input_len, horizon=cfg.horizon)
        gen = torch.Generator().manual_seed(self.train_config.seed)
        return DataLoader(
            ds, cfg.batch_size, shuffle=shuffle, collate_fn=collate_windows, generator=gen
        )

    # -- forecasting -------------------------------------------------------------------------
    def _check_fitted(self) -> tuple[ForecastNet, SeriesScaling]:
        if self.model is None or self.scaling is None:
            raise RuntimeError("the forecaster is not fitted: call fit() or Forecaster.load()")
        return self.model, self.scaling

    @torch.no_grad()
    def forecast_origins(
        self, series: TimeSeries, origins: np.ndarray, horizon_future: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Forecasts from each origin, in data units: mean, lower, upper ``(N, K, C)``.

        ``horizon_future``: scaled ``(K, F)`` known-future rows after the series' end, for
        an origin at ``len(series)``.
        """
        net, scaling = self._check_fitted()
        net.eval()
        cfg, k = self.config, self.config.horizon
        target, past, future = scaling.arrays(series)
        rows = np.concatenate([target, past, future], axis=1)  # (T, I)
        if horizon_future is not None:  # forecasting past the end of the series
            future = np.concatenate([future, horizon_future], axis=0)  # (T + K, F)
        x = np.stack([rows[o - cfg.input_len : o] for o in origins], axis=1)  # (T_in, N, I)
        fut = np.stack([future[o : o + k] for o in origins], axis=1)  # (K, N, F)
        xt, ft = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(fut, dtype=torch.float32)
        ft = ft if fut.shape[-1] else None
        out = net(xt, ft)
        mean = out.mean.transpose(0, 1).double().numpy()  # (K, N, C) -> (N, K, C)
        inv = scaling.target_scaler.inverse_transform
        if cfg.gaussian and cfg.mode == "autoregressive":
            gen = torch.Generator().manual_seed(self.train_config.seed)
            paths = net.sample_paths(xt, ft, samples=cfg.samples, generator=gen)  # (S, K, N, C)
            q = torch.tensor([(1 - cfg.level) / 2, (1 + cfg.level) / 2], dtype=paths.dtype)
            lo, hi = torch.quantile(paths, q, dim=0).transpose(1, 2).double().numpy()  # (N, K, C)
            return inv(mean), inv(lo), inv(hi)
        if out.scale is not None:
            z = LEVELS[cfg.level] * out.scale.transpose(0, 1).double().numpy()  # (N, K, C)
            return inv(mean), inv(mean - z), inv(mean + z)
        return inv(mean), None, None

    def predict(self, series: TimeSeries, *, future: np.ndarray | None = None) -> Forecast:
        """Forecast the K rows after the end of ``series`` (its last ``input_len`` rows are
        the input). ``future``: ``(K, F_given)`` user known-future covariates, if the model
        has any (calendar features are generated)."""
        _, scaling = self._check_fitted()
        if len(series) < self.config.input_len:
            raise ValueError(
                f"series has {len(series)} rows, `input_len` is {self.config.input_len}"
            )
        fut = scaling.horizon_future(series, self.config.horizon, future)
        mean, lower, upper = self.forecast_origins(series, np.array([len(series)]), fut)
        return Forecast(
            index=series.future_index(self.config.horizon),
            mean=mean[0],
            lower=None if lower is None else lower[0],
            upper=None if upper is None else upper[0],
            names=series.target_names,
        )

    # -- backtest ----------------------------------------------------------------------------
    def backtest(
        self,
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
        """Rolling-origin evaluation of the model beside the baselines, on the same folds.

        Args:
            series: the whole series; forecasts start at ``start``.
            start: first origin: a row number, a fraction of the rows (0.8), or a time.
            stride: rows between origins (default K).
            window: expanding (fit on all rows before the origin) or sliding
                (``train_size`` rows); only matters with ``refit`` and for the baselines.
            train_size: sliding window length (default: ``start``).
            refit: fit a fresh model on each fold's training rows (slow); otherwise the
                model is fitted once on the rows before ``start`` (unless already fitted)
                and only the inputs move forward.
            baselines: default: naive, seasonal naive (and exponential smoothing when
                statsmodels is installed).
            period: seasonal period for seasonal naive and MASE (default from the freq).
            last_points_only: score only the K-th step of each forecast (darts' default).
        """
        return run_backtest(
            self,
            series,
            start=start,
            stride=stride,
            window=window,
            train_size=train_size,
            refit=refit,
            baselines=baselines,
            period=period,
            last_points_only=last_points_only,
        )

    def plot_backtest(
        self, series: TimeSeries, result: BacktestResult, path: str | Path, *, title: str = ""
    ) -> Path:
        """PNG of the history before the first origin, the actuals, each fold's forecast and
        interval, and the seasonal naive forecast."""
        history = 4 * max(self.config.input_len, result.period)
        return plot_backtest(series, result, path, history=history, title=title)

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write this fitted forecaster as a run directory (config.json, forecast.json and a
        ``best/`` checkpoint) that :meth:`load` reads; returns ``directory/forecast.json``.

        A forecaster fitted into ``directory`` is already saved there: only ``extra`` (into
        the ``data`` section) is written then.
        """
        self._check_fitted()
        self.data = {**self.data, **(extra or {})}
        return save_run(self, Path(directory))

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> Forecaster:  # type: ignore[override]
        """The forecaster of a run directory (``best`` or ``last`` weights), also one written
        by the previous layout (``forecast.json`` + ``forecaster.safetensors``).

        ``fc, meta = Forecaster.load(d)`` (the older form) still works, with a
        DeprecationWarning; ``meta`` is :attr:`meta`.
        """
        run = Path(run_dir)
        if is_legacy(run):
            return load_legacy(cls, run, weights=True)
        return super().load(run, which)

    @property
    def meta(self) -> dict[str, Any]:
        """What the older ``Forecaster.load`` returned beside the forecaster: the configs,
        and the data section's keys (``source``, ``period``, ``test_start``) at the top."""
        return {**self.data, **self.config.to_dict(), "train": self.train_config.to_dict()}

    def __iter__(self) -> Iterator[Any]:
        warnings.warn(
            "`fc, meta = Forecaster.load(d)` is deprecated: Forecaster.load returns the "
            "forecaster; its saved settings are `fc.meta`",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self, self.meta))
