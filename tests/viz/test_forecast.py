"""plot_forecast writes a PNG with history, actuals, forecasts and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnkit.viz.forecast import ForecastSegment, plot_forecast


def test_writes_png_for_two_columns(tmp_path):
    idx = pd.date_range("2020-01-01", periods=30, freq="D")
    hist = np.random.default_rng(0).normal(size=(24, 2))
    mean = np.zeros((6, 2))
    seg = ForecastSegment(idx[24:], mean, mean - 1, mean + 1)
    out = plot_forecast(
        tmp_path / "sub" / "f.png",
        history_index=idx[:24],
        history=hist,
        segments=[seg],
        actual_index=idx[24:],
        actual=mean + 0.5,
        names=("a", "b"),
        baselines={"naive": ForecastSegment(idx[24:], mean + 2)},
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
