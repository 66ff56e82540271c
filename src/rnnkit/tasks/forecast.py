"""``rnnkit forecast train|predict|backtest``: plain functions whose signatures are the CLI.

The Python object behind them is :class:`rnnkit.tasks.forecaster.Forecaster`. A run
directory holds the trainer's files (config.json, checkpoints, metrics.csv, loss.png) and
``forecast.json`` + ``forecaster.safetensors`` (configs, scalers, column names, frequency,
where the data came from): enough for ``predict --run DIR`` and ``backtest --run DIR``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from rnnkit.data.series import SeriesSpec, TimeSeries, read_series
from rnnkit.data.series_examples import EXAMPLES, data_file, load_example
from rnnkit.tasks.forecaster import (
    BacktestResult,
    Forecast,
    ForecastConfig,
    Forecaster,
    seasonal_period,
)
from rnnkit.viz.forecast import ForecastSegment, plot_forecast

__all__ = [
    "BacktestResult",
    "Forecast",
    "ForecastConfig",
    "Forecaster",
    "backtest",
    "load_data",
    "predict",
    "train",
]

logger = logging.getLogger(__name__)


def load_data(source: dict[str, Any]) -> tuple[TimeSeries, int]:
    """Read the series a ``source`` dict describes; returns it and its seasonal period.

    ``source``: ``{"csv": path}`` or ``{"dataset": name, "file": file}`` (a built-in example
    name such as ``airline`` or ``etth1``, or any registered dataset with ``file``), plus
    ``"spec"`` (:class:`SeriesSpec` fields; for examples only the ones to override).
    """
    spec = {k: v for k, v in (source.get("spec") or {}).items() if v not in (None, [], ())}
    if source.get("csv"):
        if not spec.get("target"):
            raise ValueError("`target` column(s) are needed with `csv`")
        series = read_series(source["csv"], SeriesSpec.from_dict(spec))
        return series, seasonal_period(series)
    name = source.get("dataset")
    if not name:
        raise ValueError("give the data: `csv` (a file) or `dataset` (a name)")
    if name in EXAMPLES:
        return load_example(name, **spec), EXAMPLES[name].period
    if not source.get("file"):
        raise ValueError(f"`dataset` {name!r} is not a built-in example; give `file` too")
    series = read_series(data_file(name, source["file"]), SeriesSpec.from_dict(spec))
    return series, seasonal_period(series)


def _names(value: str | list[str] | None) -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (the CLI takes either)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return None if value is None else list(value)


def _source(csv, dataset, file, time_col, target, past, future, calendar, freq, fill) -> dict:
    target, past, future, calendar = map(_names, (target, past, future, calendar))
    spec = {
        "target": target,
        "time_col": time_col,
        "past_covariates": past,
        "future_covariates": future,
        "calendar": calendar,
        "freq": freq,
    }
    if fill is not None:
        spec["fill"] = fill
    return {"csv": csv, "dataset": dataset, "file": file, "spec": spec}


def train(
    csv: str | None = None,
    dataset: str | None = None,
    file: str | None = None,
    time_col: str | None = None,
    target: str | list[str] | None = None,
    past_covariates: str | list[str] | None = None,
    future_covariates: str | list[str] | None = None,
    calendar: str | list[str] | None = None,
    freq: str | None = None,
    fill: str | None = None,
    horizon: int = 24,
    input_len: int = 48,
    mode: str = "direct",
    cell: str = "lstm",
    hidden_size: int = 64,
    num_layers: int = 1,
    dropout: float = 0.0,
    gaussian: bool = False,
    norm: str = "revin",
    scaler: str = "standard",
    val: float = 0.1,
    test: float = 0.1,
    batch_size: int = 32,
    epochs: int = 200,
    lr: float = 3e-3,
    max_time: float | None = None,
    patience: int | None = 20,
    seed: int = 0,
    period: int | None = None,
    run_dir: str = "runs/forecast",
) -> dict[str, Any]:
    """Train a recurrent forecaster, then score it on the held-out last rows against baselines.

    Args:
        csv: CSV file with a time column and the target column(s).
        dataset: instead of csv: a built-in example (sine, airline, sunspots, temperatures,
            pollution, etth1, etth2, stock) or a registered dataset name (with file).
        file: file inside a registered dataset.
        time_col: timestamp column (none: rows are equally spaced steps).
        target: column(s) to forecast (comma-separated or a list).
        past_covariates: columns known up to the forecast origin only.
        future_covariates: columns known for the horizon too.
        calendar: generated known-future features: hour, dayofweek, day, dayofyear, month.
        freq: pandas frequency (h, D, MS, ...); inferred when omitted.
        fill: missing values and timestamps: none (error), ffill or interpolate.
        horizon: K, steps forecast per origin.
        input_len: history steps the network reads.
        mode: many_to_one, direct, autoregressive or seq2seq.
        cell: rnn, rnn_relu, lstm, gru, lstm_ln, gru_ln (layer norm), mingru or minlstm.
        hidden_size: hidden units per layer.
        num_layers: stacked recurrent layers.
        dropout: dropout between layers.
        gaussian: also predict a standard deviation (prediction intervals).
        norm: per-window instance normalisation of the targets: revin (window mean and
            std), last (subtract the last value), mean or none.
        scaler: minmax, standard or none (fitted on training rows only).
        val: fraction of the training rows used for validation (the last ones).
        test: fraction of all rows held out and backtested (the last ones).
        batch_size: windows per batch.
        epochs: passes over the training windows.
        lr: learning rate (Adam).
        max_time: stop training after this many seconds.
        patience: early stopping after this many evaluations (epochs) without improvement of
            the validation loss (null: off).
        seed: random seed.
        period: seasonal period for seasonal naive and MASE (default from the data).
        run_dir: where the run is written (must not hold a run already).

    Returns:
        Validation loss, test metrics of the model and the baselines, and the files written.
    """
    source = _source(
        csv,
        dataset,
        file,
        time_col,
        target,
        past_covariates,
        future_covariates,
        calendar,
        freq,
        fill,
    )
    series, default_period = load_data(source)
    period = period or default_period
    fc = Forecaster(
        ForecastConfig(
            input_len=input_len,
            horizon=horizon,
            mode=mode,
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            gaussian=gaussian,
            norm=norm,
            scaler=scaler,
            val=val,
            batch_size=batch_size,
        ),
        train={
            "epochs": epochs,
            "lr": lr,
            "max_time": max_time,
            "seed": seed,
            "early_stopping_patience": patience,
        },
    )
    n = len(series)
    test_start = n - max(int(round(n * test)), horizon) if test > 0 else n
    extra = {"source": source, "period": period, "test_start": test_start}
    fit = fc.fit(series.slice(0, test_start), run_dir=run_dir, extra=extra)
    result: dict[str, Any] = {"run_dir": run_dir, "val_loss": fit.get("val_loss", float("nan"))}
    if test_start + horizon <= n:
        bt = fc.backtest(series, start=test_start, period=period)
        for name, metrics in bt.metrics.items():
            for key in ("mae", "mase", "smape"):
                result[f"test_{key}_{name}"] = metrics[key]
        plot = fc.plot_backtest(
            series, bt, Path(run_dir) / "test_forecast.png", title=f"test span, horizon {horizon}"
        )
        result["plot"] = str(plot)
    return result


def _load_run(run: str, csv: str | None) -> tuple[Forecaster, dict, TimeSeries, int]:
    fc, meta = Forecaster.load(run)
    source = dict(meta.get("source") or {})
    if csv:
        source = {**source, "csv": csv, "dataset": None}
        if not (source.get("spec") or {}).get("target"):  # a run on an example: its columns
            ex = EXAMPLES[meta["source"]["dataset"]].spec
            source["spec"] = {**dataclasses.asdict(ex), **(source.get("spec") or {})}
    if not source:
        raise ValueError(f"`run` {run!r} does not record its data; give `csv`")
    series, period = load_data(source)
    return fc, meta, series, meta.get("period") or period


def predict(run: str | None = None, csv: str | None = None, out: str | None = None) -> str:
    """Forecast the horizon after the end of the data with a trained run.

    Args:
        run: run directory written by ``rnnkit forecast train``.
        csv: newer data in the same columns (default: the data the run was trained on).
        out: CSV file for the forecast (default: RUN/forecast.csv); a PNG is written beside.

    Returns:
        The forecast table and the files written.
    """
    if not run:
        raise ValueError("`run` is required: the directory of a trained forecaster")
    fc, _, series, _ = _load_run(run, csv)
    forecast = fc.predict(series)
    out_path = Path(out) if out else Path(run) / "forecast.csv"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    frame = forecast.to_frame()
    frame.to_csv(out_path, index_label="time")
    show = max(0, len(series) - 4 * fc.config.input_len)
    png = plot_forecast(
        out_path.with_suffix(".png"),
        history_index=series.index[show:],
        history=series.target[show:],
        segments=[ForecastSegment(forecast.index, forecast.mean, forecast.lower, forecast.upper)],
        names=series.target_names,
        title=f"forecast, {fc.config.horizon} steps after {series.index[-1]}",
    )
    return f"{frame.to_string()}\n\nwrote {out_path} and {png}"


def backtest(
    run: str | None = None,
    csv: str | None = None,
    dataset: str | None = None,
    file: str | None = None,
    time_col: str | None = None,
    target: str | list[str] | None = None,
    past_covariates: str | list[str] | None = None,
    calendar: str | list[str] | None = None,
    freq: str | None = None,
    fill: str | None = None,
    start: str = "0.8",
    stride: int | None = None,
    window: str = "expanding",
    train_size: int | None = None,
    refit: bool = False,
    last_points_only: bool = False,
    period: int | None = None,
    horizon: int = 24,
    input_len: int = 48,
    mode: str = "direct",
    cell: str = "lstm",
    hidden_size: int = 64,
    gaussian: bool = False,
    norm: str = "revin",
    scaler: str = "standard",
    epochs: int = 200,
    lr: float = 3e-3,
    seed: int = 0,
    plot: str | None = None,
) -> str:
    """Rolling-origin backtest of a forecaster beside naive and seasonal naive baselines.

    Args:
        run: a trained run (its model, scalers and data); without it a model is trained
            from the flags below on the rows before ``start``.
        csv: CSV file (or newer data for ``run``).
        dataset: a built-in example or registered dataset name (see ``train``).
        file: file inside a registered dataset.
        time_col: timestamp column.
        target: column(s) to forecast (comma-separated or a list).
        past_covariates: columns known up to the origin only.
        calendar: generated calendar features (hour, dayofweek, day, dayofyear, month).
        freq: pandas frequency; inferred when omitted.
        fill: none, ffill or interpolate.
        start: first origin: a time (1959-01), a row number (120) or a fraction (0.8).
        stride: steps between origins (default: the horizon).
        window: expanding or sliding (training rows of each fold).
        train_size: sliding window length.
        refit: train a fresh model at every origin (slow).
        last_points_only: score only the last step of each forecast (darts' default).
        period: seasonal period for seasonal naive and MASE.
        horizon: K (without ``run``).
        input_len: history length (without ``run``).
        mode: many_to_one, direct, autoregressive or seq2seq (without ``run``).
        cell: rnn, rnn_relu, lstm, gru, lstm_ln, gru_ln, mingru, minlstm (no ``run``).
        hidden_size: hidden units (without ``run``).
        gaussian: prediction intervals (without ``run``).
        norm: revin, last, mean or none: per-window normalisation (without ``run``).
        scaler: minmax, standard or none (without ``run``).
        epochs: training epochs (without ``run``).
        lr: learning rate (without ``run``).
        seed: random seed (without ``run``).
        plot: PNG path (default: RUN/backtest.png, or backtest.png here).

    Returns:
        A Markdown table of MAE, RMSE, MAPE, sMAPE, MASE for the model and the baselines.
    """
    if run:
        fc, _, series, default_period = _load_run(run, csv)
    else:
        source = _source(
            csv, dataset, file, time_col, target, past_covariates, None, calendar, freq, fill
        )
        series, default_period = load_data(source)
        fc = Forecaster(
            ForecastConfig(
                input_len=input_len,
                horizon=horizon,
                mode=mode,
                cell=cell,
                hidden_size=hidden_size,
                gaussian=gaussian,
                norm=norm,
                scaler=scaler,
            ),
            train={"epochs": epochs, "lr": lr, "seed": seed},
        )
    result = fc.backtest(
        series,
        start=start,  # a row, a fraction or a time: Forecaster.backtest resolves it
        stride=stride,
        window=window,
        train_size=train_size,
        refit=refit,
        period=period or default_period,
        last_points_only=last_points_only,
    )
    png = Path(plot) if plot else (Path(run) if run else Path(".")) / "backtest.png"
    fc.plot_backtest(series, result, png, title=f"backtest, horizon {fc.config.horizon}")
    folds = result.folds
    head = (
        f"{len(folds)} origins from {series.index[folds[0].origin]} to "
        f"{series.index[folds[-1].origin]}, horizon {fc.config.horizon}, "
        f"seasonal period {result.period}"
    )
    return f"{head}\n\n{result.table()}\n\nwrote {png}"
