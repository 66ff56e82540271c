"""``rnnkit forecast train`` (``predict``/``backtest`` live in :mod:`.forecast_verbs`).

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

from rnnkit.data.digest import DIGESTS, file_digests
from rnnkit.data.forecast_sources import load_source, make_source, read_spec, source_files
from rnnkit.data.series import TimeSeries
from rnnkit.tasks.flags import (
    given,
    layer_overrides,
    preset_help,
    shared_docs,
    train_overrides,
)
from rnnkit.tasks.forecast_config import (
    HELP_PRESET,
    HELP_VALUES,
    ForecastConfig,
    preset_sections,
    train_config,
)
from rnnkit.tasks.forecast_verbs import backtest, predict
from rnnkit.tasks.forecaster import BacktestResult, Forecast, Forecaster

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


@preset_help(HELP_VALUES, HELP_PRESET)
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
    loss: str | None = None,
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
    num_heads: int | None = None,
    chunk_size: int | None = None,
    forget_gate: str | None = None,
    run_dir: str = "runs/forecast",
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
    ema: float | None = None,
) -> dict[str, Any]:
    """Train a recurrent forecaster, then score it on the held-out last rows against baselines.

    Args:
        csv: CSV file with a time column and the target column(s).
        dataset: instead of csv: a built-in example (sine, airline, sunspots, temperatures,
            pollution, etth1, etth2, stock) or a registered dataset name (with file).
        file: file inside a registered dataset.
        time_col: timestamp column (none: rows are equally spaced steps; with neither this
            nor target, a first column of dates is taken, and said).
        target: column(s) to forecast (comma-separated or a list; none: the CSV's one
            numeric column, and said, or an error listing them).
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
        loss: the point forecast's training loss: mse (the mean) or mae (the median,
            what MAE and MASE score); a gaussian model trains on its NLL.
        scaler: minmax, standard or none, fitted on training rows.
        val: fraction of the training rows that validates, the last ones; the best weights
            on them are kept.
        test: fraction of all rows held out and backtested, the last ones.
        batch_size: windows per batch.
        epochs: passes over the training windows (default: none, the step budget decides).
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
    flags = given(
        horizon=horizon,
        input_len=input_len,
        mode=mode,
        gaussian=gaussian,
        norm=norm,
        loss=loss,
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
        num_heads=num_heads,
        chunk_size=chunk_size,
        forget_gate=forget_gate,
    )
    config = ForecastConfig.from_dict({**flags, **layers}, preset=preset)
    runs = train_overrides(
        device=device,
        max_steps=max_steps,
        max_time=max_time,
        progress=progress,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        ema=ema,
        **given(epochs=epochs, lr=lr, early_stopping_patience=patience),
    )
    fc = Forecaster(config, train=train_config(preset, config.val, seed, **runs))
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
