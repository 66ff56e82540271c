"""read_series: parsing, frequency, fill policies and every bad-input case (row + column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.series import SeriesSpec, TimeSeries, calendar_features, from_array, read_series


def write(tmp_path, text: str):
    path = tmp_path / "s.csv"
    path.write_text(text)
    return path


GOOD = "date,y,x\n2020-01-01,1,10\n2020-01-02,2,20\n2020-01-03,3,30\n2020-01-04,4,40\n"


def test_parses_csv_infers_daily_frequency(tmp_path):
    s = read_series(write(tmp_path, GOOD), time_col="date", target="y", past_covariates=["x"])
    assert isinstance(s, TimeSeries)
    assert s.freq == "D"
    assert s.target[:, 0].tolist() == [1, 2, 3, 4]
    assert s.past[:, 0].tolist() == [10, 20, 30, 40]
    assert s.index[0] == pd.Timestamp("2020-01-01")
    assert list(s.future_index(2)) == [pd.Timestamp("2020-01-05"), pd.Timestamp("2020-01-06")]


def test_given_frequency_and_off_grid_row(tmp_path):
    text = "date,y\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-01-01 02:30,3\n"
    with pytest.raises(ValueError, match=r"row 2, column 'date'.*off the regular"):
        read_series(write(tmp_path, text), time_col="date", target="y", freq="h")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("date,y\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n", r"row 2, column 'date': rows out"),
        ("date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n", r"row 2, column 'date': duplicated"),
        ("date,y\n2020-01-01,1\nnot a date,2\n2020-01-03,3\n", r"row 1, column 'date': cannot par"),
        ("date,y\n2020-01-01,1\n2020-01-02,abc\n2020-01-03,3\n", r"row 1 .*column 'y': 'abc' is"),
        ("date,y\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n", r"row 1 .*column 'y': missing value"),
        (
            "date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-04,4\n2020-01-05,5\n",
            r"row 2, column 'date': 1 missing timestamp.*2020-01-03",
        ),
    ],
    ids=["out-of-order", "duplicate", "bad-time", "non-numeric", "missing-value", "gap"],
)
def test_bad_input_names_row_and_column(tmp_path, text, pattern):
    with pytest.raises(ValueError, match=pattern):
        read_series(write(tmp_path, text), time_col="date", target="y")


def test_missing_column_lists_the_columns(tmp_path):
    with pytest.raises(ValueError, match=r"\['OT'\] not in the data; it has \['date', 'y', 'x'\]"):
        read_series(write(tmp_path, GOOD), time_col="date", target="OT")


def test_fill_policies_fill_values_and_timestamps(tmp_path):
    text = "date,y\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n2020-01-05,7\n"
    path = write(tmp_path, text)
    ff = read_series(path, time_col="date", target="y", fill="ffill")
    lin = read_series(path, time_col="date", target="y", fill="interpolate")
    assert len(ff) == 5 and len(lin) == 5  # 2020-01-04 inserted
    assert ff.target[:, 0].tolist() == [1, 1, 3, 3, 7]
    assert lin.target[:, 0].tolist() == [1, 2, 3, 5, 7]


def test_leading_gap_ffill_takes_first_value(tmp_path):
    path = write(tmp_path, "date,y\n2020-01-01,\n2020-01-02,5\n2020-01-03,6\n")
    assert read_series(path, time_col="date", target="y", fill="ffill").target[0, 0] == 5


def test_spec_rejects_bad_fill_and_roles():
    with pytest.raises(ValueError, match="`fill` must be one of"):
        SeriesSpec(target=("y",), fill="zero")
    with pytest.raises(ValueError, match="more than one role"):
        SeriesSpec(target=("y",), past_covariates=("y",))
    with pytest.raises(ValueError, match="unknown SeriesSpec key"):
        SeriesSpec.from_dict({"target": ["y"], "horizon": 3})


def test_dataframe_with_datetime_index_and_calendar():
    idx = pd.date_range("2021-03-01", periods=48, freq="h")
    df = pd.DataFrame({"load": np.arange(48.0)}, index=idx)
    s = read_series(df, target="load", calendar=["hour", "dayofweek"])
    assert s.freq == "h"
    assert s.future_names == ("hour_sin", "hour_cos", "dayofweek_sin", "dayofweek_cos")
    # hour 6 -> angle pi/2
    np.testing.assert_allclose(s.future[6, :2], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s.future[6 + 24, :2], s.future[6, :2], atol=1e-12)
    cal, _ = calendar_features(s.future_index(3), ["hour"])
    assert cal.shape == (3, 2)


def test_from_array_univariate_and_multivariate():
    s = from_array(np.arange(5.0), start="2020-01", freq="MS")
    assert s.target.shape == (5, 1) and s.freq == "MS"
    m = from_array(np.ones((4, 2)), names=("a", "b"), past=np.zeros(4))
    assert m.target_names == ("a", "b") and m.past.shape == (4, 1)
    with pytest.raises(ValueError, match="NaN/inf at row 1, column 'y0'"):
        from_array(np.array([1.0, np.nan]))


def test_csv_row_wider_than_header_and_encoding(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("# a note\ntime,y\n2020-01-01,1\n2020-01-02,2,3\n")
    with pytest.raises(ValueError, match=r"s\.csv:4: expected 2 fields \(as the header\), got 3"):
        read_series(p, target="y", time_col="time")
    p.write_bytes("time,y\n2020-01-01,1\n# caf\u00e9\n2020-01-02,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"s\.csv: line 3"):
        read_series(p, target="y", time_col="time")
    assert len(read_series(p, target="y", time_col="time", freq="D", encoding="latin-1")) == 2
