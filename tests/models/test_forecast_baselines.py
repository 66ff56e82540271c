"""Baselines: naive and seasonal naive by hand; exponential smoothing skipped cleanly."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

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
