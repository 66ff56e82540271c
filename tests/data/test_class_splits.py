"""Class checks and the validation hold-out: one class refused, singletons warned about,
a hold-out never empty when possible, and None with a reason when the data are too small."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from rnnkit.data.class_splits import check_classes, stratified_split, validation_split
from rnnkit.data.classification import LabelMap, read_ts_examples


def test_one_class_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"t\.csv: a classifier needs at least 2 classes, got 1"):
        check_classes(["pos"] * 5, source="t.csv")
    with pytest.raises(ValueError, match="at least 2 classes, got 1"):
        LabelMap.fit(["pos", "pos"])


def test_single_example_class_is_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.class_splits"):
        counts = check_classes(["a", "a", "b", "c", "a"], source="toy")
    assert counts == {"a": 3, "b": 1, "c": 1}
    assert "toy: 2 class(es) with a single example: 'b', 'c'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.class_splits"):
        check_classes(["a", "a", "b", "b"])
    assert caplog.text == ""


def test_holdout_has_every_class_with_two_or_more() -> None:
    labels = ["a"] * 30 + ["b"] * 2 + ["c"] * 3 + ["d"]
    split = validation_split(labels, 0.1, seed=0)
    assert split.reason == "" and split.val is not None
    val = Counter(labels[i] for i in split.val)
    assert val == {"a": 3, "b": 1, "c": 1}  # d (one example) stays in training
    train = Counter(labels[i] for i in split.train)
    assert train == {"a": 27, "b": 1, "c": 2, "d": 1}
    assert sorted(split.train + split.val) == list(range(len(labels)))
    assert validation_split(labels, 0.1, seed=0) == split
    assert validation_split(labels, 0.1, seed=3) != split


def test_tiny_and_impossible_holdouts_say_why() -> None:
    two = validation_split(["a", "a", "b", "b"], 0.1)
    assert two.val is not None and len(two.val) == 2 and len(two.train) == 2
    none = validation_split(["a", "b", "c"], 0.2)
    assert none.val is None and none.train == [0, 1, 2]
    assert "no class has 2 or more" in none.reason
    small = validation_split(["a", "a", "b", "b"], 0.1, min_size=5)
    assert small.val is None and "fewer than `min_size` 5" in small.reason
    zero = validation_split(["a", "a", "b", "b"], 0.0)
    assert zero.val is None and "fraction is 0" in zero.reason
    with pytest.raises(ValueError, match=r"`fraction` must be in \[0, 1\), got 1.5"):
        validation_split(["a", "b"], 1.5)


def test_holdout_on_real_small_training_set(data_dir: Path) -> None:
    # BasicMotions: 40 training series, 4 classes of 10: 10% is one per class, never 0.
    ex = read_ts_examples(data_dir / "BasicMotions" / "BasicMotions_TRAIN.ts")
    split = validation_split(ex.labels, 0.1, seed=0)
    assert split.val is not None
    assert Counter(ex.labels[i] for i in split.val) == {c: 1 for c in set(ex.labels)}
    # The old three-way cut left some classes out of a small validation part.
    old = stratified_split(ex.labels[:12], (0.8, 0.1, 0.1), seed=0)[1]
    assert len(old) < len(validation_split(ex.labels[:12], 0.1).val or [])
