"""A forecasting CSV given without --target / --time_col: what is guessed, what is refused."""

from __future__ import annotations

import logging

import pytest

from rnnkit.data.csv_columns import date_column, guess_columns
from rnnkit.data.forecast_sources import load_source, make_source, read_spec


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


DAILY = '"Date","Temp"\n' + "".join(f'"1981-01-{d:02d}",{10 + d % 5}.5\n' for d in range(1, 29))


def test_a_date_and_a_value_column_are_taken_and_said(tmp_path, caplog):
    path = _csv(tmp_path, DAILY)
    with caplog.at_level(logging.INFO):
        assert guess_columns(path) == {"time_col": "Date", "target": ["Temp"]}
    assert "forecasting column 'Temp', times from column 'Date'" in caplog.text
    series, period = load_source(make_source(csv=path))
    assert series.target_names == ("Temp",) and series.freq == "D" and period == 7
    # the run stores the choice, so predict --csv reads a newer file the same way
    assert read_spec(make_source(csv=path), series)["time_col"] == "Date"


def test_one_numeric_column_without_dates_is_a_series_of_steps(tmp_path):
    path = _csv(tmp_path, "load\n" + "".join(f"{i * 0.5}\n" for i in range(30)))
    assert guess_columns(path) == {"time_col": None, "target": ["load"]}
    series, period = load_source(make_source(csv=path))
    assert len(series) == 30 and series.freq is None and period == 1


def test_several_numeric_columns_ask_for_target_and_list_them(tmp_path):
    path = _csv(tmp_path, "date,a,b,name\n2020-01-01,1,2,x\n2020-01-02,3,4,y\n")
    with pytest.raises(ValueError, match=r"--target NAME.*numeric columns \['a', 'b'\]"):
        make_source(csv=path)
    # a numeric first column is a value, not a time: two numeric columns again
    path = _csv(tmp_path, "step,y\n0,1.5\n1,2.5\n", "steps.csv")
    with pytest.raises(ValueError, match=r"numeric columns \['step', 'y'\]"):
        guess_columns(path)
    assert date_column(path) is None


def test_no_numeric_column_is_refused_naming_the_file(tmp_path):
    path = _csv(tmp_path, "date,name\n2020-01-01,x\n")
    expected = r"data.csv.*found no numeric column among \['date', 'name'\]"
    with pytest.raises(ValueError, match=expected):
        guess_columns(path)


def test_a_given_time_column_is_kept_and_the_target_still_guessed(tmp_path):
    path = _csv(tmp_path, "value,when\n1.0,2020-01-01\n2.0,2020-01-02\n3.0,2020-01-03\n")
    assert date_column(path) is None  # dates are not in the first column
    assert guess_columns(path, time_col="when") == {"time_col": "when", "target": ["value"]}
    spec = make_source(csv=path, time_col="when")["spec"]
    assert spec["time_col"] == "when" and spec["target"] == ["value"]


def test_a_target_without_time_col_is_read_as_steps_with_a_warning(tmp_path, caplog):
    path = _csv(tmp_path, DAILY)
    with caplog.at_level(logging.WARNING):
        source = make_source(csv=path, target="Temp")
    assert source["spec"]["time_col"] is None
    assert "column 'Date' holds dates" in caplog.text and "--time_col Date" in caplog.text
    series, period = load_source(source)
    assert series.freq is None and period == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_source(csv=path, target="Temp", time_col="Date")
    assert "holds dates" not in caplog.text


def test_a_missing_file_is_left_to_the_reader(tmp_path):
    source = make_source(csv=str(tmp_path / "nope.csv"))
    with pytest.raises(FileNotFoundError, match="`csv` file not found: .*nope.csv"):
        load_source(source)


def test_a_header_of_numbers_is_called_a_missing_header(tmp_path):
    # the stock file's layout: its header sits in a '#' comment line, which is skipped
    path = _csv(tmp_path, "# Open,Close\n1.5,2.5\n1.75,2.25\n2.0,3.0\n")
    missing = "first row looks like data, not column names: give the file a header row"
    with pytest.raises(ValueError, match=missing):
        make_source(csv=path)  # nothing named: the guess refuses it
    with pytest.raises(ValueError, match=r"\['Close'\] not in the data.*" + missing):
        load_source(make_source(csv=path, target="Close"))
    from rnnkit.data.classification import read_text_table

    with pytest.raises(ValueError, match=missing):
        read_text_table(_csv(tmp_path, "1,2\n3,4\n", "t.csv"))
