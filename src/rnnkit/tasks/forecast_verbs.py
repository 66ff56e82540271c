"""``rnnkit forecast predict|backtest``: the verbs that read a trained run (or backtest fresh).

Their signatures are the CLI; see :mod:`rnnkit.tasks.forecast` for ``train``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rnnkit.data.digest import check_digests, stored_digests
from rnnkit.data.forecast_sources import load_source, make_source, read_spec, source_files
from rnnkit.data.series import TimeSeries
from rnnkit.tasks.flags import given, preset_help
from rnnkit.tasks.forecast_config import (
    HELP_PRESET,
    HELP_VALUES,
    ForecastConfig,
    train_config,
)
from rnnkit.tasks.forecaster import Forecaster
from rnnkit.viz.forecast import ForecastSegment, plot_forecast

__all__ = ["backtest", "predict"]

logger = logging.getLogger(__name__)


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
    backend: str = "torch",
) -> str:
    """Forecast the horizon after the end of the data with a trained run.

    Args:
        run: run directory written by ``rnnkit forecast train``.
        csv: newer data in the same columns (default: the data the run was trained on).
        out: CSV file for the forecast (default: RUN/forecast.csv); a PNG is written beside.
        encoding: the CSV file's text encoding (default: the one the run was trained with,
            else UTF-8).
        backend: torch, onnx (onnxruntime) or numpy (rnnkit's NumPy engine); onnx and
            numpy export the run into RUN/export/ on first use.

    Returns:
        The forecast table and the files written.
    """
    from rnnkit.tasks.backends import runtime

    fc, series, _ = _load_run(run, csv, encoding)
    fc = runtime(fc, backend)
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


@preset_help(HELP_VALUES, HELP_PRESET)
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
    loss: str | None = None,
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
        loss: mse or mae (the point forecast's training loss), without ``run``.
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
        flags = given(
            horizon=horizon,
            input_len=input_len,
            mode=mode,
            cell=cell,
            hidden_size=hidden_size,
            gaussian=gaussian,
            norm=norm,
            loss=loss,
            scaler=scaler,
        )
        config = ForecastConfig.from_dict(flags, preset=preset)
        train = train_config(preset, config.val, seed, **given(epochs=epochs, lr=lr))
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
