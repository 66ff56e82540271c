"""Forecaster: the user-facing forecasting object (fit / predict / backtest / save / load),
kept apart from the plain ``nn.Module`` (:class:`rnnkit.models.forecaster.ForecastNet`) as
darts does. Series -> scaled windows -> ForecastNet -> Trainer -> rolling-origin backtest::

    >>> from rnnkit.data.series_examples import load_example
    >>> from rnnkit.tasks.forecast import Forecaster
    >>> series = load_example("airline")
    >>> fc = Forecaster(input_len=24, horizon=6, train={"epochs": 2})
    >>> _ = fc.fit(series.slice(0, 120))
    >>> fc.predict(series.slice(0, 120)).mean.shape
    (6, 1)

The CLI verbs (``rnnkit forecast train|predict|backtest``) are in
:mod:`rnnkit.tasks.forecast`. All reported numbers and plots are in data units: the
scalers are fitted on the training rows only and inverted before any metric.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.scalers import make_scaler, scaler_from_dict
from rnnkit.data.series import TimeSeries, calendar_features
from rnnkit.data.windows import (
    Fold,
    WindowDataset,
    collate_windows,
    rolling_origin_folds,
    window_origins,
)
from rnnkit.metrics.forecast import evaluate_forecast
from rnnkit.models.forecast_baselines import available_baselines, baseline_forecast
from rnnkit.models.forecaster import ForecasterConfig, ForecastNet
from rnnkit.train import StepOutput, TrainConfig, Trainer, load_checkpoint, unwrap
from rnnkit.viz.forecast import ForecastSegment, plot_forecast

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

TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 200, "lr": 3e-3, "early_stopping_patience": 20}
"""Training defaults under any ``train`` fields given: small series need hundreds of epochs
(AirPassengers: 12.5 % MAPE after 20 epochs at lr 1e-3, ~3.5 % after 200 at 3e-3); early
stopping on the validation tail ends long series' fits (ETTh1 in under 10 epochs)."""

_PERIODS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4}
_Z = {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600, 0.99: 2.5758}


def seasonal_period(series: TimeSeries) -> int:
    """A default seasonal period from the frequency (h 24, D 7, MS 12 ...); 1 if unknown."""
    return _PERIODS.get(str(series.freq).split("-")[0], 1) if series.freq else 1


@dataclass(frozen=True)
class ForecastConfig:
    """Windows, scaling and network of a forecaster (the task config of a run)."""

    input_len: int = 24
    """Rows of history the network reads per forecast."""
    horizon: int = 1
    """K, rows forecast per origin."""
    mode: str = "direct"
    """many_to_one, direct, autoregressive or seq2seq."""
    cell: str = "lstm"
    """rnn, rnn_relu, lstm or gru."""
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    gaussian: bool = False
    """Predict a standard deviation too: prediction intervals."""
    norm: str = "revin"
    """Instance normalisation of each input window's targets (added back to the forecast):
    revin (window mean and std), last (subtract the last value), mean, or none. Without it
    a trending series drifts out of the range the network was fitted on."""
    level: float = 0.9
    """Interval coverage: 0.8, 0.9, 0.95 or 0.99."""
    samples: int = 200
    """Sampled paths for autoregressive Gaussian intervals."""
    scaler: str = "standard"
    """minmax, standard or none; fitted on the training rows only."""
    val: float = 0.1
    """Fraction of the fitted rows (the last ones) whose windows validate."""
    batch_size: int = 32
    stride: int = 1
    """Rows between training windows."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("input_len", "horizon", "batch_size", "stride", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.level not in _Z:
            raise ValueError(f"`level` must be one of {sorted(_Z)}, got {self.level}")
        make_scaler(self.scaler)  # validates the name

    @classmethod
    def from_dict(cls, d: dict) -> ForecastConfig:
        """Build from a dict; unknown keys and wrong types are errors."""
        return config_from_dict(cls, d)


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


def _step(model: ForecastNet, batch: dict[str, torch.Tensor], state: Any):
    future = batch["future"] if batch["future"].shape[-1] else None
    out = model(batch["x"], future, batch["y"])
    loss = unwrap(model).loss(out, batch["y"])  # under DDP `model` is the wrapper
    mae = (out.mean.detach() - batch["y"][: out.mean.shape[0]]).abs().mean()
    return StepOutput(loss, batch["y"].shape[1], None, {"mae_scaled": mae.item()})


class Forecaster:
    """Fit / predict / backtest a recurrent forecaster on a :class:`TimeSeries`.

    Args:
        config: windows, scaling and network (or give its fields as keywords).
        train: a ``TrainConfig``, or a dict of its fields (epochs, lr, max_time, ...) laid
            over :data:`TRAIN_DEFAULTS` (200 epochs, lr 3e-3, early stopping after 20
            validation rounds without improvement when there is a validation split).
    """

    def __init__(
        self, config: ForecastConfig | None = None, *, train: Any = None, **fields: Any
    ) -> None:
        self.config = config if config is not None else ForecastConfig(**fields)
        if train is None or isinstance(train, dict):
            defaults = dict(TRAIN_DEFAULTS)
            if self.config.val <= 0:  # nothing to stop early on
                del defaults["early_stopping_patience"]
            train = TrainConfig.from_dict({"progress": False, **defaults, **(train or {})})
        self.train_config = train
        self.net: ForecastNet | None = None
        self.target_scaler = self.cov_scaler = None
        self.columns: dict[str, Any] = {}

    # -- data --------------------------------------------------------------------------------
    def _arrays(self, series: TimeSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled ``target (T, C)``, ``past (T, P)``, ``future (T, F)``."""
        want = (self.columns["target"], self.columns["past"], self.columns["future"])
        got = (series.target_names, series.past_names, series.future_names)
        if tuple(map(tuple, want)) != got:
            raise ValueError(f"series columns {got} differ from the fitted ones {want}")
        cov = np.concatenate([series.past, series.future], axis=1)  # (T, P + F)
        cov = self.cov_scaler.transform(cov)
        p = series.past.shape[1]
        return self.target_scaler.transform(series.target), cov[:, :p], cov[:, p:]

    def _horizon_future(self, series: TimeSeries, future: np.ndarray | None) -> np.ndarray:
        """Scaled known-future covariates ``(K, F)`` of the K rows after the series."""
        k = self.config.horizon
        index = series.future_index(k)
        given = series.n_given_future
        if given and future is None:
            raise ValueError(
                f"the model uses {given} known-future covariate(s) {series.future_names[:given]};"
                f" pass `future` with their values for the next {k} rows"
            )
        parts = [np.asarray(future, dtype=np.float64).reshape(k, given)] if given else []
        if series.calendar:
            parts.append(calendar_features(index, series.calendar)[0])
        fut = np.concatenate(parts, axis=1) if parts else np.zeros((k, 0))  # (K, F)
        past = np.zeros((k, series.past.shape[1]))
        return self.cov_scaler.transform(np.concatenate([past, fut], axis=1))[:, past.shape[1] :]

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

        The last ``val`` fraction of rows provides validation windows; the scalers are fitted
        on the rows before it. With ``run_dir`` the trainer's files and this forecaster
        (``forecast.json`` with ``extra`` in it, ``forecaster.safetensors``, the best weights)
        are written there.
        """
        cfg, n = self.config, len(series)
        need = cfg.input_len + cfg.horizon
        if n < need:
            raise ValueError(f"series has {n} rows, fitting needs >= input_len + horizon = {need}")
        n_val = int(round(n * cfg.val))
        if n_val < cfg.horizon:
            n_val = 0
        train_end = n - n_val
        if train_end < need:
            raise ValueError(f"{train_end} training rows leave no window (need {need})")
        self.columns = {
            "target": series.target_names,
            "past": series.past_names,
            "future": series.future_names,
        }
        self.target_scaler = make_scaler(cfg.scaler).fit(series.target[:train_end])
        cov = np.concatenate([series.past, series.future], axis=1)[:train_end]  # (T, P + F)
        self.cov_scaler = make_scaler(cfg.scaler if cov.shape[1] else "none").fit(
            cov if cov.shape[1] else np.zeros((1, 0))
        )
        target, past, future = self._arrays(series)
        net_cfg = ForecasterConfig(
            n_targets=target.shape[1],
            n_past=past.shape[1],
            n_future=future.shape[1],
            horizon=cfg.horizon,
            mode=cfg.mode,
            cell=cfg.cell,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
            gaussian=cfg.gaussian,
            norm=cfg.norm,
        )
        torch.manual_seed(self.train_config.seed)
        self.net = ForecastNet(net_cfg)

        def loader(start: int, stop: int, shuffle: bool) -> DataLoader:
            stride = cfg.stride if shuffle else 1
            origins = window_origins(
                start, stop, input_len=cfg.input_len, horizon=cfg.horizon, stride=stride
            )
            ds = WindowDataset(
                target, past, future, origins, input_len=cfg.input_len, horizon=cfg.horizon
            )
            gen = torch.Generator().manual_seed(self.train_config.seed)
            return DataLoader(
                ds, cfg.batch_size, shuffle=shuffle, collate_fn=collate_windows, generator=gen
            )

        train_data = loader(0, train_end, True)
        val_data = loader(train_end, n, False) if n_val else None
        logger.info(
            "fitting on %d windows (%d validation)",
            len(train_data.dataset),
            0 if val_data is None else len(val_data.dataset),
        )
        # The weights kept are the best on validation, not the last: without a run directory
        # the trainer writes its checkpoints to a temporary one.
        scratch = None
        if run_dir is None and val_data is not None:
            scratch = tempfile.TemporaryDirectory(prefix="rnnkit-forecast-")
        ckpt_dir = run_dir if scratch is None else scratch.name
        try:
            trainer = Trainer(
                self.net, self.train_config, _step, run_dir=ckpt_dir, run_config=self._run_config()
            )
            result = trainer.fit(train_data, val_data, resume=resume)
            self.net.cpu().eval()
            if ckpt_dir is not None:
                state, _ = load_checkpoint(ckpt_dir, "best")
                self.net.load_state_dict(state)
        finally:
            if scratch is not None:
                scratch.cleanup()
        if run_dir is not None:
            self.save(run_dir, extra)
        return result

    def _run_config(self) -> dict[str, Any]:
        return {"task": "forecast", "forecast": dataclasses.asdict(self.config)}

    # -- forecasting -------------------------------------------------------------------------
    def _check_fitted(self) -> ForecastNet:
        if self.net is None:
            raise RuntimeError("the forecaster is not fitted: call fit() or Forecaster.load()")
        return self.net

    @torch.no_grad()
    def _forecast_origins(
        self, series: TimeSeries, origins: np.ndarray, horizon_future: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Forecasts from each origin, in data units: mean, lower, upper ``(N, K, C)``."""
        net, cfg = self._check_fitted().eval(), self.config
        target, past, future = self._arrays(series)
        rows = np.concatenate([target, past, future], axis=1)  # (T, I)
        k = cfg.horizon
        if horizon_future is not None:  # forecasting past the end of the series
            future = np.concatenate([future, horizon_future], axis=0)  # (T + K, F)
        x = np.stack([rows[o - cfg.input_len : o] for o in origins], axis=1)  # (T_in, N, I)
        fut = np.stack([future[o : o + k] for o in origins], axis=1)  # (K, N, F)
        xt, ft = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(fut, dtype=torch.float32)
        out = net(xt, ft if fut.shape[-1] else None)
        mean = out.mean.transpose(0, 1).double().numpy()  # (K, N, C) -> (N, K, C)
        lower = upper = None
        if cfg.gaussian and cfg.mode == "autoregressive":
            gen = torch.Generator().manual_seed(self.train_config.seed)
            paths = net.sample_paths(
                xt, ft if fut.shape[-1] else None, samples=cfg.samples, generator=gen
            )  # (S, K, N, C)
            q = torch.tensor([(1 - cfg.level) / 2, (1 + cfg.level) / 2], dtype=paths.dtype)
            lo, hi = torch.quantile(paths, q, dim=0).transpose(1, 2).double().numpy()  # (N, K, C)
            lower, upper = self.target_scaler.inverse_transform(lo), None
            upper = self.target_scaler.inverse_transform(hi)
        elif out.scale is not None:
            z = _Z[cfg.level] * out.scale.transpose(0, 1).double().numpy()  # (N, K, C)
            lower = self.target_scaler.inverse_transform(mean - z)
            upper = self.target_scaler.inverse_transform(mean + z)
        return self.target_scaler.inverse_transform(mean), lower, upper

    def predict(self, series: TimeSeries, *, future: np.ndarray | None = None) -> Forecast:
        """Forecast the K rows after the end of ``series`` (its last ``input_len`` rows are
        the input). ``future``: ``(K, F_given)`` user known-future covariates, if the model
        has any (calendar features are generated)."""
        self._check_fitted()
        if len(series) < self.config.input_len:
            raise ValueError(
                f"series has {len(series)} rows, `input_len` is {self.config.input_len}"
            )
        fut = self._horizon_future(series, future)
        mean, lower, upper = self._forecast_origins(series, np.array([len(series)]), fut)
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
        cfg, n = self.config, len(series)
        origin0 = resolve_start(series, start)
        if origin0 < cfg.input_len:
            raise ValueError(f"`start` row {origin0} leaves less than input_len={cfg.input_len}")
        folds = rolling_origin_folds(
            n,
            start=origin0,
            horizon=cfg.horizon,
            stride=stride,
            window=window,
            train_size=train_size,
        )
        origins = np.array([f.origin for f in folds])
        k = cfg.horizon
        actual = np.stack([series.target[o : o + k] for o in origins])  # (N, K, C)
        if refit:
            parts = []
            for fold in folds:
                fresh = Forecaster(cfg, train=self.train_config)
                fresh.fit(series.slice(fold.train_start, fold.train_stop))
                parts.append(fresh._forecast_origins(series, np.array([fold.origin])))
            mean = np.concatenate([p[0] for p in parts])
            lower = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
            upper = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
        else:
            if self.net is None:
                logger.info("backtest: fitting once on the %d rows before origin 1", origin0)
                self.fit(series.slice(0, origin0))
            mean, lower, upper = self._forecast_origins(series, origins)
        period = period or seasonal_period(series)
        forecasts = {"model": mean}
        for name in baselines if baselines is not None else available_baselines():
            forecasts[name] = np.stack(
                [
                    baseline_forecast(name, series.target[f.train_start : f.origin], k, period)
                    for f in folds
                ]
            )  # (N, K, C)
        pick = slice(-1, None) if last_points_only else slice(None)
        insample = series.target[:origin0]
        metrics = {
            name: evaluate_forecast(actual[:, pick], f[:, pick], insample, period)
            for name, f in forecasts.items()
        }
        return BacktestResult(folds, series.index, actual, forecasts, lower, upper, metrics, period)

    def plot_backtest(
        self, series: TimeSeries, result: BacktestResult, path: str | Path, *, title: str = ""
    ) -> Path:
        """PNG of the history before the first origin, the actuals, each fold's forecast and
        interval, and the seasonal naive forecast."""
        first = result.folds[0].origin
        show = max(0, first - 4 * max(self.config.input_len, result.period))
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
        base = {}
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

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``forecast.json`` (configs, scalers, column names) and
        ``forecaster.safetensors`` (weights) into ``directory``; returns the JSON path."""
        from safetensors.torch import save_file

        from rnnkit.train.checkpoint import atomic_write_json

        net = self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "forecaster.safetensors.tmp"
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, tmp)
        tmp.replace(directory / "forecaster.safetensors")
        meta = {
            "format": "rnnkit.forecast/1",
            "forecast": dataclasses.asdict(self.config),
            "net": net.config.to_dict(),
            "train": self.train_config.to_dict(),
            "columns": {k: list(v) for k, v in self.columns.items()},
            "target_scaler": self.target_scaler.to_dict(),
            "cov_scaler": self.cov_scaler.to_dict(),
            **(extra or {}),
        }
        return atomic_write_json(directory / "forecast.json", meta)

    @classmethod
    def load(cls, directory: str | Path) -> tuple[Forecaster, dict[str, Any]]:
        """Rebuild a forecaster written by :meth:`save` (or by ``fit(run_dir=...)``);
        returns it and the whole ``forecast.json`` (with any ``extra`` saved)."""
        from safetensors.torch import load_file

        from rnnkit.train.checkpoint import read_json

        directory = Path(directory)
        if not (directory / "forecast.json").is_file():
            raise FileNotFoundError(f"`run` {str(directory)!r} has no forecast.json")
        meta = read_json(directory / "forecast.json")
        if meta.get("format") != "rnnkit.forecast/1":
            raise ValueError(f"{directory / 'forecast.json'}: format {meta.get('format')!r}")
        # Runs saved before instance normalisation existed were trained without it.
        task = {"norm": meta["net"].get("norm", "none"), **meta["forecast"]}
        fc = cls(ForecastConfig.from_dict(task), train=meta["train"])
        fc.columns = {k: tuple(v) for k, v in meta["columns"].items()}
        fc.target_scaler = scaler_from_dict(meta["target_scaler"])
        fc.cov_scaler = scaler_from_dict(meta["cov_scaler"])
        fc.net = ForecastNet(ForecasterConfig.from_dict(meta["net"]))
        fc.net.load_state_dict(load_file(directory / "forecaster.safetensors"))
        fc.net.eval()
        return fc, meta


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
