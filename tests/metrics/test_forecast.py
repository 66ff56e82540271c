"""Each forecast metric against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.metrics.forecast import evaluate_forecast, mae, mape, mase, rmse, smape

Y = np.array([2.0, 4.0, 8.0])
F = np.array([1.0, 5.0, 6.0])  # errors 1, -1, 2


def test_mae_rmse():
    assert mae(Y, F) == pytest.approx(4 / 3)
    assert rmse(Y, F) == pytest.approx(math.sqrt(6 / 3))


def test_mape_and_zero_actual():
    assert mape(Y, F) == pytest.approx(100 * (1 / 2 + 1 / 4 + 2 / 8) / 3)
    assert math.isnan(mape(np.array([0.0, 1.0]), np.array([1.0, 1.0])))


def test_smape():
    expected = 100 * (2 * 1 / 3 + 2 * 1 / 9 + 2 * 2 / 14) / 3
    assert smape(Y, F) == pytest.approx(expected)
    assert smape(np.zeros(2), np.zeros(2)) == 0.0


def test_mase_seasonal_period():
    insample = np.array([1.0, 2.0, 4.0, 3.0, 5.0])
    # period 1: mean |diff| = (1 + 2 + 1 + 2) / 4 = 1.5
    assert mase(Y, F, insample, 1) == pytest.approx((4 / 3) / 1.5)
    # period 2: |4-1|, |3-2|, |5-4| -> 5/3
    assert mase(Y, F, insample, 2) == pytest.approx((4 / 3) / (5 / 3))
    with pytest.raises(ValueError, match="constant"):
        mase(Y, F, np.ones(4), 1)


def test_shape_mismatch_and_all():
    with pytest.raises(ValueError, match="must equal `y_true` shape"):
        mae(Y, F[:2])
    out = evaluate_forecast(Y, F, np.array([1.0, 2.0, 4.0]), 1)
    assert set(out) == {"mae", "rmse", "mape", "smape", "mase"}
