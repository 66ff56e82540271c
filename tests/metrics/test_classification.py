"""Classification metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.metrics.classification import (
    classification_report,
    confusion_matrix,
    format_confusion,
    format_report,
)

# 3 classes; by hand:
#   true 0: predicted 0, 0, 1        true 1: predicted 1, 2        true 2: predicted 2
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_by_hand() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_report_by_hand() -> None:
    r = classification_report(Y_TRUE, Y_PRED, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    # precision: a 2/2, b 1/2, c 1/2; recall: a 2/3, b 1/2, c 1/1
    pc = r["per_class"]
    assert pc["a"]["precision"] == pytest.approx(1.0)
    assert pc["b"]["precision"] == pytest.approx(0.5)
    assert pc["c"]["recall"] == pytest.approx(1.0)
    assert pc["a"]["recall"] == pytest.approx(2 / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 * 1 / 1.5]
    assert pc["a"]["f1"] == pytest.approx(f1[0])
    assert r["macro_f1"] == pytest.approx(np.mean(f1))
    assert [pc[k]["support"] for k in "abc"] == [3, 2, 1]
    assert r["n"] == 6


def test_class_never_predicted_has_zero_precision() -> None:
    r = classification_report([0, 1, 2], [0, 0, 0], ["a", "b", "c"])
    assert r["per_class"]["b"]["precision"] == 0.0
    assert r["per_class"]["b"]["f1"] == 0.0
    assert r["per_class"]["a"]["precision"] == pytest.approx(1 / 3)


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValueError, match="y_pred"):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match="y_true.*expected \\[0, 1\\]"):
        confusion_matrix([0, 2], [0, 1], 2)


def test_formatted_tables_hold_the_numbers() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    text = format_confusion(cm, ["neg", "pos", "mid"])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[1].split()[1:] == ["2", "1", "0"]
    # the heading is its own column: "true\\pred" never runs into the first class name,
    # and each class name ends where its column's counts end
    assert lines[0].split()[:2] == ["true\\pred", "neg"]
    assert len({len(line) for line in lines}) == 1
    rep = format_report(classification_report(Y_TRUE, Y_PRED, ["neg", "pos", "mid"]))
    assert "0.6667" in rep and "mid" in rep
