"""The .ts reader on the real UEA files and on broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.ts_format import read_ts

HEAD = "@problemName toy\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"


def _write(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    p = tmp_path / "toy.ts"
    p.write_text("# a comment\n" + head + body)
    return p


def test_japanese_vowels_variable_lengths(data_dir: Path) -> None:
    ts = read_ts(data_dir / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts")
    assert len(ts.series) == len(ts.labels) == 270
    lengths = [s.shape[0] for s in ts.series]
    assert {s.shape[1] for s in ts.series} == {12}
    assert min(lengths) >= 7 and max(lengths) <= 29 and len(set(lengths)) > 5
    assert set(ts.labels) == set(ts.class_labels) == {str(i) for i in range(1, 10)}
    assert ts.series[0][0, 0] == pytest.approx(1.860936)


def test_basic_motions_equal_length(data_dir: Path) -> None:
    ts = read_ts(data_dir / "BasicMotions" / "BasicMotions_TEST.ts")
    assert len(ts.series) == 40 and {s.shape for s in ts.series} == {(100, 6)}
    assert set(ts.labels) == {"Standing", "Running", "Walking", "Badminton"}


def test_small_file_values_and_missing(tmp_path: Path) -> None:
    ts = read_ts(_write(tmp_path, "1,2,3:4,5,?:a\n7:8:b\n"))
    assert ts.labels == ["a", "b"]
    assert ts.series[0].shape == (3, 2) and ts.series[1].tolist() == [[7.0, 8.0]]
    assert ts.series[0][0].tolist() == [1.0, 4.0] and np.isnan(ts.series[0][2, 1])


@pytest.mark.parametrize(
    "body,match",
    [
        ("1,2,3:4,5:a\n", "ragged series: its dimensions have lengths \\[3, 2\\]"),
        ("1,2:3,4\n", "missing class label"),
        ("1,2:3,4:c\n", "label 'c' is not declared"),
        ("1,2:3,4:5,6:a\n", "expected 2 dimensions"),
        ("1,x:3,4:a\n", "expected a number or '\\?', got 'x'"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        read_ts(_write(tmp_path, body))


def test_no_data_section_and_equal_length_lie(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no @data line"):
        read_ts(_write(tmp_path, "", head="@problemName x\n"))
    head = HEAD.replace("@equalLength false", "@equalLength true\n@seriesLength 2")
    with pytest.raises(ValueError, match="@seriesLength 2, got lengths \\[2, 3\\]"):
        read_ts(_write(tmp_path, "1,2:3,4:a\n1,2,3:4,5,6:b\n", head=head))


def test_row_missing_a_dimension_is_not_called_a_missing_label(tmp_path: Path) -> None:
    # One of two dimensions dropped: the line still ends in a declared label.
    p = _write(tmp_path, "1,2:3,4:a\n1,2:b\n")
    with pytest.raises(ValueError, match=r"toy\.ts:8: expected 2 dimensions .*got 1"):
        read_ts(p)
    with pytest.raises(ValueError, match="toy.ts:7: missing class label"):
        read_ts(_write(tmp_path, "1,2:3,4\n"))


def test_dimensions_checked_against_first_series_without_header(tmp_path: Path) -> None:
    head = "@problemName toy\n@classLabel true a b\n@data\n"
    p = _write(tmp_path, "1,2:3,4:5,6:a\n1,2:3,4:b\n", head=head)
    want = r"toy\.ts:6: expected 3 dimensions \(as the series on line 5\), got 2"
    with pytest.raises(ValueError, match=want):
        read_ts(p)


def test_encoding_and_decode_error_names_the_file(tmp_path: Path) -> None:
    head = "# caf\u00e9 data\n@problemName toy\n@dimensions 1\n@classLabel true a\n@data\n"
    p = tmp_path / "latin.ts"
    p.write_bytes((head + "1,2,3:a\n").encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.ts: line 1.*pass the right `encoding`"):
        read_ts(p)
    assert read_ts(p, encoding="latin-1").series[0].shape == (3, 1)


def test_acsf1_and_plaid_univariate(data_dir: Path) -> None:
    acsf = read_ts(data_dir / "ACSF1" / "ACSF1_TRAIN.ts")
    assert len(acsf.series) == 100 and {s.shape for s in acsf.series} == {(1460, 1)}
    assert len(set(acsf.labels)) == 10
    plaid = read_ts(data_dir / "PLAID" / "PLAID_TRAIN.ts")
    lengths = {s.shape[0] for s in plaid.series}
    assert len(plaid.series) == 537 and min(lengths) >= 100 and max(lengths) <= 1344
    assert len(lengths) > 10 and len(set(plaid.labels)) == 11
