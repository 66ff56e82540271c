"""``rnnkit forecast train|predict|backtest``: plain functions whose signatures are the CLI.

The Python object behind them is :class:`rnnkit.tasks.forecaster.Forecaster`, a
:class:`rnnkit.tasks.run.TaskRun`: ``train`` writes a run directory through the one run
life cycle (``--resume true`` continues it, a second writer is refused, SIGTERM leaves a
resumable checkpoint), and ``predict --run DIR`` and ``backtest --run DIR`` read it. A flag
left out takes the preset's value (``--preset``, ``default`` unless given; ``rnnkit
forecast presets`` lists them). The run stores the sha256 of its data file; reading that
file again (``predict``/``backtest --run``) warns when it changed since training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rnnkit.data.digest import DIGESTS, check_digests, file_digests, stored_digests
from rnnkit.data.forecast_sources import load_source, make_source, read_spec, source_files
from rnnkit.data.series import TimeSeries
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks.flags import (
    layer_overrides,
    preset_help,
    preset_values,
    shared_docs,
    train_overrides,
)
from rnnkit.tasks.forecast_config import ForecastConfig, preset_sections
from rnnkit.tasks.forecaster import BacktestResult, Forecast, Forecaster
from rnnkit.train import TrainConfig
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

load_data = load_source
"""``load_data(source) -> (series, period)``: :func:`rnnkit.data.forecast_sources.load_source`."""


HELP_PRESET = "default"  # the preset whose values the help lines show (the verbs' default)
_HELP_VALUES = preset_values(
    preset_sections(HELP_PRESET), TrainConfig, ForecasterConfig, patience="early_stopping_patience"
)


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _train_config(preset: str, val: float, seed: int, **given: Any) -> TrainConfig:
    """The preset's train section under the flags given; no early stopping without ``val``."""
    train = {**preset_sections(preset)["train"], **given, "seed": seed}
    if val <= 0:
        train.pop("early_stopping_patience", None)
    return TrainConfig.from_dict(train)


@preset_help(_HELP_VALUES, HELP_PRESET)
@shared_docs
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
    encoding: str | None = None,
    preset: str = "default",
    horizon: int | None = None,
    input_len: int | None = None,
    mode: str | None = None,
    gaussian: bool | None = None,
    norm: str | None = None,
    scaler: str | None = None,
    val: float | None = None,
    test: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    patience: int | None = None,
    period: int | None = None,
    cell: str | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    dropout: float | None = None,
    run_dir: str = "runs/forecast",
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
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
        encoding: the CSV file's text encoding (default UTF-8; e.g. latin-1, cp1252).
        preset: the settings a flag left out takes (rnnkit forecast presets lists them).
        horizon: K, steps forecast per origin.
        input_len: history steps the network reads.
        mode: many_to_one, direct, autoregressive or seq2seq.
        gaussian: also predict a standard deviation: intervals.
        norm: per-window instance normalisation of the targets: revin (window mean and
            std), last (subtract the last value), mean or none.
        scaler: minmax, standard or none, fitted on training rows.
        val: fraction of the training rows that validates, the last ones; the best weights
            on them are kept.
        test: fraction of all rows held out and backtested, the last ones.
        batch_size: windows per batch.
        epochs: passes over the training windows.
        lr: learning rate, Adam.
        patience: stop after this many evaluations without a better validation MAE.
        period: seasonal period for seasonal naive and MASE (default from the data).
        {layer flags}
        {run flags}

    Returns:
        Validation figures, test metrics of the model and the baselines, the files written.
    """
    source = make_source(
        csv=csv,
        dataset=dataset,
        file=file,
        time_col=time_col,
        target=target,
        past_covariates=past_covariates,
        future_covariates=future_covariates,
        calendar=calendar,
        freq=freq,
        fill=fill,
        encoding=encoding,
    )
    given = _given(
        horizon=horizon,
        input_len=input_len,
        mode=mode,
        gaussian=gaussian,
        norm=norm,
        scaler=scaler,
        val=val,
        batch_size=batch_size,
    )
    layers = layer_overrides(
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
    )
    config = ForecastConfig.from_dict({**given, **layers}, preset=preset)
    runs = train_overrides(
        device=device,
        max_steps=max_steps,
        max_time=max_time,
        progress=progress,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        **_given(epochs=epochs, lr=lr, early_stopping_patience=patience),
    )
    fc = Forecaster(config, train=_train_config(preset, config.val, seed, **runs))
    series, default_period = load_source(source)
    test = preset_sections(preset)["data"].get("test", 0.0) if test is None else test
    return _fit_and_test(fc, series, source, period or default_period, test, run_dir, resume)


def _fit_and_test(
    fc: Forecaster,
    series: TimeSeries,
    source: dict[str, Any],
    period: int,
    test: float,
    run_dir: str,
    resume: bool,
) -> dict[str, Any]:
    """Fit on the rows before the test span, then backtest that span and plot it."""
    n, k = len(series), fc.config.horizon
    if not 0.0 <= test < 1.0:
        raise ValueError(f"`test` must be in [0, 1), got {test}")
    test_start = n - max(int(round(n * test)), k) if test > 0 else n
    extra = {
        "source": source,
        "spec": read_spec(source, series),
        "period": period,
        "test_start": test_start,
        DIGESTS: file_digests(source_files(source)),  # {} for a generated series
    }
    fit = fc.fit(series.slice(0, test_start), run_dir=run_dir, resume=resume, extra=extra)
    result: dict[str, Any] = {
        "run_dir": run_dir,
        "stopped": fit.get("stopped"),
        "step": fit["step"],
    }
    for key in ("val_loss", "val_mae_scaled"):
        if key in fit:
            result[key] = fit[key]
    if test_start + k <= n:
        bt = fc.backtest(series, start=test_start, period=period)
        for name, metrics in bt.metrics.items():
            for key in ("mae", "mape", "mase"):
                result[f"test_{key}_{name}"] = metrics[key]
        png = Path(run_dir) / "test_forecast.png"
        result["plot"] = str(fc.plot_backtest(series, bt, png, title=f"test span, horizon {k}"))
    return result


def _load_run(
    run: str | None, csv: str | None, encoding: str | None = None
) -> tuple[Forecaster, TimeSeries, int]:
    """A trained run, its data (or ``csv`` read in the run's columns) and seasonal period.

    ``encoding`` None reads ``csv`` in the run's own encoding. Re-reading a file the run
    was trained on warns when it changed since (its stored sha256 differs).
    """
    if not run:
        raise ValueError("`run` is required: the directory of a trained forecaster (--run DIR)")
    fc = Forecaster.load(run)
    source = fc.data.get("source")
    if source and (not csv or source.get("csv")):  # the run's own file, read again?
        files, reading = source_files(source), [csv] if csv else None
        check_digests(files, stored_digests(fc.data), reading=reading)
    if csv:
        spec = fc.data.get("spec")
        if spec is None:  # a run of the older layout: its columns, from its own data
            if not source:
                raise ValueError(f"`--run` {run} does not record its columns; retrain it")
            spec = read_spec(source, load_source(source)[0])
        enc = encoding or (source or {}).get("encoding")
        series, period = load_source({"csv": csv, "spec": spec, "encoding": enc})
    elif source:
        series, period = load_source({**source, "encoding": encoding or source.get("encoding")})
    else:
        raise ValueError(f"`--run` {run} does not record its data; give `--csv`")
    return fc, series, fc.data.get("period") or period


def predict(
    run: str | None = None,
    csv: str | None = None,
    out: str | None = None,
    encoding: str | None = None,
) -> str:
    """Forecast the horizon after the end of the data with a trained run.

    Args:
        run: run directory written by ``rnnkit forecast train``.
        csv: newer data in the same columns (default: the data the run was trained on).
        out: CSV file for the forecast (default: RUN/forecast.csv); a PNG is written beside.
        encoding: the CSV file's text encoding (default: the one the run was trained with,
            else UTF-8).

    Returns:
        The forecast table and the files written.
    """
    fc, series, _ = _load_run(run, csv, encoding)
    forecast = fc.predict(series)
    out_path = Path(out) if out else Path(str(run)) / "forecast.csv"
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


@preset_help(_HELP_VALUES, HELP_PRESET)
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
    encoding: str | None = None,
    start: str = "0.8",
    stride: int | None = None,
    window: str = "expanding",
    train_size: int | None = None,
    refit: bool = False,
    last_points_only: bool = False,
    period: int | None = None,
    preset: str = "default",
    horizon: int | None = None,
    input_len: int | None = None,
    mode: str | None = None,
    cell: str | None = None,
    hidden_size: int | None = None,
    gaussian: bool | None = None,
    norm: str | None = None,
    scaler: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
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
        encoding: the CSV file's text encoding (default UTF-8, or the run's).
        start: first origin: a time (1959-01), a row number (120) or a fraction (0.8).
        stride: steps between origins (default: the horizon).
        window: expanding or sliding (training rows of each fold).
        train_size: sliding window length.
        refit: train a fresh model at every origin (slow).
        last_points_only: score only the last step of each forecast (darts' default).
        period: seasonal period for seasonal naive and MASE.
        preset: the settings a flag left out takes, without ``run``.
        horizon: K, without ``run``.
        input_len: history length, without ``run``.
        mode: many_to_one, direct, autoregressive or seq2seq, without ``run``.
        cell: the recurrent layer, without ``run``.
        hidden_size: hidden units, without ``run``.
        gaussian: prediction intervals, without ``run``.
        norm: revin, last, mean or none, without ``run``.
        scaler: minmax, standard or none, without ``run``.
        epochs: training epochs, without ``run``.
        lr: learning rate, without ``run``.
        seed: random seed, without ``run``.
        plot: PNG path (default: RUN/backtest.png, or backtest.png here).

    Returns:
        A Markdown table of MAE, RMSE, MAPE, sMAPE, MASE for the model and the baselines.
    """
    if run:
        fc, series, default_period = _load_run(run, csv, encoding)
    else:
        source = make_source(
            csv=csv,
            dataset=dataset,
            file=file,
            time_col=time_col,
            target=target,
            past_covariates=past_covariates,
            calendar=calendar,
            freq=freq,
            fill=fill,
            encoding=encoding,
        )
        series, default_period = load_source(source)
        given = _given(
            horizon=horizon,
            input_len=input_len,
            mode=mode,
            cell=cell,
            hidden_size=hidden_size,
            gaussian=gaussian,
            norm=norm,
            scaler=scaler,
        )
        config = ForecastConfig.from_dict(given, preset=preset)
        train = _train_config(preset, config.val, seed, **_given(epochs=epochs, lr=lr))
        fc = Forecaster(config, train=train.replace(progress=False))
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
