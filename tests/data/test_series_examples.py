"""Each built-in example loads from the data mirror with its quirk handled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series_examples import EXAMPLES, load_example, sine_wave


def test_airline_monthly():
    s = load_example("airline")
    assert len(s) == 144 and s.freq == "MS"
    assert s.index[0] == pd.Timestamp("1949-01-01") and s.target[0, 0] == 112


def test_sunspots_monthly():
    s = load_example("sunspots")
    assert len(s) == 2820 and s.freq == "MS" and s.target[1, 0] == pytest.approx(62.6)


def test_temperatures_leap_year_gaps_interpolated_or_reported():
    s = load_example("temperatures")
    assert len(s) == 3652 and s.freq == "D"
    i = s.index.get_loc(pd.Timestamp("1984-12-31"))
    assert s.target[i, 0] == pytest.approx((s.target[i - 1, 0] + s.target[i + 1, 0]) / 2)
    with pytest.raises(ValueError, match="2 missing timestamp.*1984-12-31"):
        load_example("temperatures", fill="none")


def test_pollution_covariates_and_missing_values():
    s = load_example("pollution")
    assert s.freq == "h" and s.index[0] == pd.Timestamp("2010-01-02")
    assert {"DEWP", "cbwd_NW", "cbwd_cv"} <= set(s.past_names)
    assert np.isfinite(s.target).all()
    one_hot = s.past[:, [n.startswith("cbwd_") for n in s.past_names]]
    assert (one_hot.sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match=r"column 'pm2.5': missing value"):
        load_example("pollution", fill="none")


@pytest.mark.parametrize("name", ["etth1", "etth2"])
def test_ett_hourly(name):
    s = load_example(name, past_covariates=("HUFL",))
    assert len(s) == 17420 and s.freq == "h" and s.target_names == ("OT",)


def test_stock_comments_and_newest_first(data_dir):
    s = load_example("stock")
    lines = (data_dir / "stock_daily" / "data-02-stock_daily.csv").read_text().splitlines()
    oldest = [float(v) for v in lines[-1].split(",")]  # Open,High,Low,Volume,Close
    newest = [float(v) for v in lines[2].split(",")]
    assert len(s) == 732
    assert s.target[0, 0] == oldest[4] and s.target[-1, 0] == newest[4]
    assert s.past[0].tolist() == oldest[:4]


def test_sine_and_unknown_name():
    s = sine_wave(100, period=20)
    assert s.target[5, 0] == pytest.approx(1.0)
    assert set(EXAMPLES) >= {"sine", "airline", "stock"}
    with pytest.raises(ValueError, match="`name` must be one of"):
        load_example("nope")
