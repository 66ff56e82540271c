"""Scalers: inverse is exact, parameters come from the fitted rows only."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.scalers import make_scaler, scaler_from_dict


@pytest.mark.parametrize("kind", ["minmax", "standard", "none"])
def test_inverse_transform_round_trip(kind):
    x = np.random.default_rng(0).normal(5, 3, size=(50, 3))
    s = make_scaler(kind).fit(x)
    np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x, rtol=1e-12)
    back = scaler_from_dict(s.to_dict())
    np.testing.assert_allclose(back.transform(x), s.transform(x))


def test_minmax_and_standard_values():
    x = np.array([[0.0, 1.0], [10.0, 3.0]])
    np.testing.assert_allclose(make_scaler("minmax").fit(x).transform(x), [[0, 0], [1, 1]])
    np.testing.assert_allclose(make_scaler("standard").fit(x).transform(x), [[-1, -1], [1, 1]])


def test_fit_sees_only_training_rows():
    series = np.concatenate([np.linspace(0, 1, 80), np.full(20, 100.0)])[:, None]
    s = make_scaler("minmax").fit(series[:80])
    assert s.scale[0] == pytest.approx(1.0)  # a leak of the test rows would give 100
    assert s.transform(series[80:]).max() == pytest.approx(100.0)


def test_constant_column_and_errors():
    s = make_scaler("standard").fit(np.ones((5, 1)))
    assert s.transform(np.ones((2, 1))).tolist() == [[0.0], [0.0]]
    with pytest.raises(ValueError, match="`x` has 2 columns, the scaler was fitted on 1"):
        s.transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="`scaler` must be one of"):
        make_scaler("robust")
    with pytest.raises(ValueError, match="NaN or inf"):
        make_scaler("minmax").fit(np.array([1.0, np.nan]))
