"""Forecaster and the forecast CLI: no leakage, data units, folds, learning, round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series import from_array
from rnnkit.data.series_examples import sine_wave
from rnnkit.metrics.forecast import mae
from rnnkit.tasks.forecast import Forecaster, backtest, predict, train

TINY = {"hidden_size": 8, "batch_size": 16}


def test_scalers_see_training_rows_only():
    y = np.concatenate([np.sin(np.arange(80) / 3.0), 1000 + np.arange(20.0)])
    series = from_array(y)
    fc = Forecaster(input_len=8, horizon=2, scaler="minmax", val=0.2, train={"epochs": 1}, **TINY)
    fc.train_config = fc.train_config.replace(max_steps=2)
    fc.fit(series)  # rows 80..99 are validation: never in the scaler
    assert fc.target_scaler.shift[0] + fc.target_scaler.scale[0] == pytest.approx(y[:80].max())
    fresh = Forecaster(input_len=8, horizon=2, scaler="minmax", val=0.0, train={"epochs": 1})
    fresh.backtest(series, start=70)  # fits once on rows before the first origin
    assert fresh.target_scaler.shift[0] + fresh.target_scaler.scale[0] == pytest.approx(
        y[:70].max()
    )


def test_backtest_folds_actuals_and_baselines():
    y = np.arange(60.0) % 7 + np.arange(60.0) * 0.1
    series = from_array(y, start="2020-01-01", freq="D")
    fc = Forecaster(input_len=10, horizon=3, train={"epochs": 1}, **TINY)
    res = fc.backtest(series, start="2020-02-10", stride=2, period=7)
    origins = [f.origin for f in res.folds]
    assert origins[0] == 40 and origins == list(range(40, 58, 2))
    for i, o in enumerate(origins):
        np.testing.assert_array_equal(res.actual[i, :, 0], y[o : o + 3])
        np.testing.assert_array_equal(res.forecasts["naive"][i, :, 0], [y[o - 1]] * 3)
        np.testing.assert_array_equal(res.forecasts["seasonal_naive"][i, :, 0], y[o - 7 : o - 4])
    assert res.metrics["naive"]["mae"] == pytest.approx(mae(res.actual, res.forecasts["naive"]))
    assert res.forecasts["model"].shape == res.actual.shape == (9, 3, 1)
    assert "| seasonal_naive |" in res.table()


def test_forecasts_are_in_data_units_and_survive_save_load(tmp_path):
    rng = np.random.default_rng(0)
    series = from_array(5000 + 10 * rng.standard_normal(120), start="2021-01-01", freq="h")
    fc = Forecaster(input_len=12, horizon=4, gaussian=True, train={"epochs": 2}, **TINY)
    fc.fit(series)
    out = fc.predict(series)
    assert np.all(np.abs(out.mean - 5000) < 100)  # a missing inverse would give ~0
    assert np.all(out.lower < out.mean) and np.all(out.mean < out.upper)
    assert out.index[0] == series.index[-1] + pd.Timedelta(hours=1)
    fc.save(tmp_path)
    back = Forecaster.load(tmp_path)
    np.testing.assert_allclose(back.predict(series).mean, out.mean)
    with pytest.warns(DeprecationWarning, match="fc.meta"):
        again, meta = Forecaster.load(tmp_path)  # the older form still unpacks
    assert meta["input_len"] == 12 and again.config == back.config


@pytest.mark.slow
def test_intervals_widen_with_horizon():
    walk = np.cumsum(np.random.default_rng(1).standard_normal(700))
    series = from_array(walk)
    fc = Forecaster(
        input_len=8,
        horizon=8,
        gaussian=True,
        hidden_size=16,
        batch_size=64,
        val=0.0,
        train={"epochs": 5, "lr": 5e-3},
    )
    fc.fit(series)
    out = fc.predict(series)
    width = (out.upper - out.lower)[:, 0]
    assert width[-1] > 1.8 * width[0]  # a random walk's spread grows like sqrt(k): 2.8x


@pytest.mark.slow
def test_sine_wave_is_learned_to_low_error():
    series = sine_wave(400, period=20)
    fc = Forecaster(
        input_len=20,
        horizon=1,
        mode="many_to_one",
        hidden_size=16,
        batch_size=32,
        val=0.0,
        train={"epochs": 10, "lr": 1e-2},
    )
    res = fc.backtest(series, start=340, stride=1)
    assert res.metrics["model"]["mae"] < 0.05
    assert res.metrics["model"]["mae"] < 0.3 * res.metrics["naive"]["mae"]


@pytest.mark.slow
def test_cli_round_trip(tmp_path):
    from rnnkit.cli.main import main

    times = pd.date_range("2022-01-01", periods=150, freq="h")
    y = 20 + 5 * np.sin(2 * np.pi * np.arange(150) / 24)
    csv = tmp_path / "load.csv"
    pd.DataFrame({"date": times.strftime("%Y-%m-%d %H:%M"), "OT": y}).to_csv(csv, index=False)
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--time-col", "date", "--target", "OT",
            "--horizon", "6", "--input_len", "12", "--hidden_size", "8", "--epochs", "1",
            "--gaussian", "true", "--run_dir", str(run)]  # fmt: skip
    assert main(argv) == 0
    assert (run / "forecast.json").is_file() and (run / "test_forecast.png").is_file()
    assert main(["forecast", "predict", "--run", str(run)]) == 0
    frame = pd.read_csv(run / "forecast.csv")
    assert len(frame) == 6 and frame["time"][0].startswith("2022-01-07 06:00")
    assert (run / "forecast.png").stat().st_size > 1000
    text = backtest(run=str(run), start="0.8", plot=str(tmp_path / "bt.png"))
    assert "| model |" in text and "| seasonal_naive |" in text
    newer = tmp_path / "newer.csv"
    pd.DataFrame({"date": times[:100].strftime("%Y-%m-%d %H:%M"), "OT": y[:100]}).to_csv(
        newer, index=False
    )
    assert "2022-01-05 04:00" in predict(run=str(run), csv=str(newer), out=str(tmp_path / "p.csv"))


def test_cli_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="give the data"):
        train(run_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match="`run` is required"):
        predict()


def test_instance_norm_extrapolates_a_linear_trend():
    # Fitted on rows 0..149 of a ramp, forecast from row 300: a globally scaled network sees
    # inputs far outside its training range and saturates; with per-window normalisation
    # every window looks the same and the trend is carried on.
    ramp = from_array(np.arange(400.0))
    errors = {}
    for norm in ("none", "revin"):
        fc = Forecaster(
            input_len=8,
            horizon=4,
            norm=norm,
            val=0.0,
            hidden_size=8,
            batch_size=16,
            train={"epochs": 15, "lr": 1e-2},
        )
        fc.fit(ramp.slice(0, 150))
        out = fc.predict(ramp.slice(0, 300)).mean[:, 0]
        errors[norm] = np.abs(out - np.arange(300.0, 304.0)).max()
    assert errors["revin"] < 2.0  # within two steps of a slope-1 ramp at level 300
    assert errors["none"] > 50.0


def test_train_defaults_lie_under_the_fields_given():
    # issue 14: a step budget with early stopping on the validation MAE, not a fixed small
    # epoch count (an epoch of a monthly series is a handful of steps)
    cfg = Forecaster(input_len=8).train_config
    assert (cfg.epochs, cfg.max_steps, cfg.lr) == (None, 10000, 3e-3)
    assert (cfg.early_stopping_patience, cfg.monitor) == (10, "val_mae_scaled")
    cfg = Forecaster(input_len=8, train={"epochs": 3}).train_config
    assert (cfg.epochs, cfg.lr, cfg.early_stopping_patience) == (3, 3e-3, 10)
    assert Forecaster(val=0.0).train_config.early_stopping_patience is None  # no val split


def test_backtest_refit_fits_each_fold_on_its_own_window(monkeypatch):
    """refit=True: one fresh model per fold, fitted on exactly that fold's training rows
    (sliding window), and its forecast equals a model fitted on those rows by hand."""
    y = np.sin(np.arange(90) / 4.0) + 0.02 * np.arange(90)
    series = from_array(y, start="2020-01-01", freq="D")
    kwargs = {"input_len": 8, "horizon": 3, "val": 0.0, "train": {"epochs": 1}, **TINY}
    fc = Forecaster(**kwargs)
    seen = []
    fit = Forecaster.fit

    def recording_fit(self, s, *args, **kw):
        seen.append((s.index[0], s.index[-1], len(s)))
        return fit(self, s, *args, **kw)

    monkeypatch.setattr(Forecaster, "fit", recording_fit)
    res = fc.backtest(series, start=60, stride=10, window="sliding", train_size=40, refit=True)
    assert fc.net is None  # the model itself was never fitted: one fresh model per fold
    origins = [f.origin for f in res.folds]
    assert origins == [60, 70, 80]
    assert seen == [(series.index[o - 40], series.index[o - 1], 40) for o in origins]
    monkeypatch.setattr(Forecaster, "fit", fit)
    by_hand = Forecaster(**kwargs)
    by_hand.fit(series.slice(40, 80))
    np.testing.assert_allclose(
        res.forecasts["model"][2], by_hand.forecast_origins(series, np.array([80]))[0][0]
    )


def test_training_step_works_through_a_ddp_style_wrapper():
    """Under DDP the step gets the wrapper; the net's own loss must be reached through it."""
    import torch

    from rnnkit.models.forecaster import ForecasterConfig, ForecastNet
    from rnnkit.tasks.forecaster import _step

    torch.manual_seed(0)
    net = ForecastNet(ForecasterConfig(horizon=2, hidden_size=4))
    batch = {"x": torch.randn(5, 3, 1), "future": torch.zeros(2, 3, 0), "y": torch.randn(2, 3, 1)}
    bare = _step(net, batch, None)
    wrapped = _step(torch.nn.DataParallel(net), batch, None)
    torch.testing.assert_close(wrapped.loss, bare.loss)


def test_loss_flag_reaches_the_run_and_a_wrong_one_is_named(tmp_path):
    from rnnkit.cli.main import main

    y = 20 + 5 * np.sin(2 * np.pi * np.arange(120) / 24)
    csv = tmp_path / "load.csv"
    pd.DataFrame({"OT": y}).to_csv(csv, index=False)
    run = tmp_path / "run"
    argv = ["forecast", "train", "--csv", str(csv), "--horizon", "3", "--input_len", "8",
            "--hidden_size", "4", "--max_steps", "3", "--loss", "mae",
            "--run_dir", str(run)]  # fmt: skip
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["loss"] == "mae"
    assert Forecaster.load(run).net.config.loss == "mae"
    with pytest.raises(ValueError, match=r"`loss` must be one of \('mse', 'mae'\)"):
        train(csv=str(csv), loss="mse2", run_dir=str(tmp_path / "bad"))
