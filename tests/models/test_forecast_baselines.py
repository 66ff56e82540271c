"""Baselines: naive and seasonal naive by hand; exponential smoothing skipped cleanly."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

from rnnkit.models import forecast_baselines as fb
from rnnkit.models.forecast_baselines import available_baselines, baseline_forecast


def test_naive_repeats_last_value():
    out = baseline_forecast("naive", np.array([[1.0, 5.0], [2.0, 6.0]]), 3)
    assert out.tolist() == [[2.0, 6.0]] * 3


def test_seasonal_naive_repeats_last_season():
    hist = np.array([1.0, 2, 3, 4, 5, 6, 7])
    out = baseline_forecast("seasonal_naive", hist, 5, period=3)
    assert out[:, 0].tolist() == [5, 6, 7, 5, 6]
    with pytest.raises(ValueError, match="at least `period`=9 rows"):
        baseline_forecast("seasonal_naive", hist, 2, period=9)


def test_exponential_smoothing_only_with_statsmodels(caplog):
    with caplog.at_level(logging.INFO):
        names = available_baselines()
    has = importlib.util.find_spec("statsmodels") is not None
    assert ("exponential_smoothing" in names) == has
    if not has:
        assert "statsmodels is not installed" in caplog.text


def _trend_and_season(n: int = 400) -> np.ndarray:
    t = np.arange(float(n))
    return np.stack([0.5 * t + 3 * np.sin(2 * np.pi * t / 12), 10 - 0.2 * t], axis=1)  # (T, 2)


def test_baselines_over_folds_equal_a_fresh_call_per_fold():
    pytest.importorskip("statsmodels")  # a dev/test dependency: skips only outside them
    y = _trend_and_season(200)
    starts, origins = [0, 10, 20], [120, 150, 180]
    for name in ("naive", "seasonal_naive", "exponential_smoothing"):
        got = fb.baseline_folds(name, y, starts, origins, 6, 12)
        for i, (s, o) in enumerate(zip(starts, origins, strict=True)):
            np.testing.assert_array_equal(got[i], baseline_forecast(name, y[s:o], 6, 12))


def test_exponential_smoothing_on_a_long_history_is_fitted_once_and_kept_up_to_date(
    monkeypatch,
):
    # Beyond ES_REFIT_ROWS rows it is fitted once, on the rows before the first origin, and
    # its state runs on to each later origin: on a noiseless trend + season every fold's
    # forecast is the true continuation (a state left at the first origin would be off by
    # 0.5 per row for the trend), and the first fold is exactly that one fit's forecast.
    pytest.importorskip("statsmodels")
    monkeypatch.setattr(fb, "ES_REFIT_ROWS", 60)
    y = _trend_and_season()
    origins = list(range(100, 376, 25))
    got = fb.baseline_folds("exponential_smoothing", y, [0] * len(origins), origins, 6, 12)
    actual = np.stack([y[o : o + 6] for o in origins])  # (N, K, C)
    assert np.abs(got - actual).max() < 1e-2
    first = baseline_forecast("exponential_smoothing", y[40:100], 6, 12)
    np.testing.assert_allclose(got[0], first, rtol=1e-9, atol=1e-9)
