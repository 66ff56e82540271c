"""TrainConfig validation: unknown keys, wrong types, bad values; round trip."""

from __future__ import annotations

import pytest

from rnnkit.train import TrainConfig


def test_round_trip_and_int_to_float():
    c = TrainConfig.from_dict({"epochs": 3, "lr": 1, "clip_norm": None})
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.clip_norm is None
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ValueError, match="unknown TrainConfig key 'epoch'; did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("epochs", "3", "int or None"),
        ("lr", "fast", "float"),
        ("nesterov", 1, "bool"),
        ("epochs", True, "int or None"),
        ("progress", "yes", "bool or None"),
    ],
)
def test_wrong_type_gives_expected_and_got(key, value, expected):
    with pytest.raises(TypeError, match=rf"`{key}` must be {expected}, got {value!r}"):
        TrainConfig.from_dict({key: value})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"optimizer": "adamm"}, "`optimizer` must be one of .*got 'adamm'"),
        ({"schedule": "linear"}, "`schedule` must be one of"),
        ({"precision": "fp8"}, "`precision` must be one of"),
        ({"device": "tpu"}, "`device` must be one of"),
        ({"lr": 0.0}, "`lr` must be > 0, got 0.0"),
        ({"epochs": 0}, "`epochs` must be > 0, got 0"),
        ({"momentum": -1.0}, "`momentum` must be >= 0"),
        ({"epochs": None}, "one of `epochs`, `max_steps` or `max_time`"),
        ({"nesterov": True}, "`nesterov` needs optimizer='sgd'"),
        ({"plateau_factor": 1.0}, "`plateau_factor` must be > 1"),
        ({"on_nonfinite": "ignore"}, "`on_nonfinite` must be one of stop, skip"),
    ],
)
def test_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_frozen_and_cuda_index_accepted():
    c = TrainConfig(device="cuda:1")
    with pytest.raises(AttributeError):
        c.lr = 2.0  # type: ignore[misc]
    assert c.replace(lr=0.5).lr == 0.5
    with pytest.raises(ValueError, match="`lr`"):
        c.replace(lr=-1.0)
