"""rnnkit.config: unknown keys (with a suggestion) and wrong types, on a small config."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal, Optional, Union

import pytest

from rnnkit.config import ConfigTypeError, check_keys, check_types, config_from_dict


@dataclass(frozen=True)
class Toy:
    """A config with one field of each kind of annotation the configs use."""

    hidden_size: int = 8
    dropout: float = 0.1
    bidirectional: bool = False
    cell: str = "lstm"
    max_len: int | None = None
    clip: Optional[float] = None  # noqa: UP045 (the old spelling must work too)
    size: Union[int, str] = 1  # noqa: UP007
    either: int | float = 1
    mode: Literal["min", "max"] = "min"
    columns: tuple[str, ...] = ()
    pair: tuple[int, float] = (1, 2.0)
    names: list[str] | None = None

    def __post_init__(self) -> None:
        check_types(self)


def test_from_dict_builds_the_config_and_round_trips() -> None:
    toy = config_from_dict(Toy, {"hidden_size": 4, "columns": ["a", "b"]})
    assert toy == Toy(hidden_size=4, columns=("a", "b"))
    assert config_from_dict(Toy, {}) == Toy()


def test_unknown_key_names_it_suggests_and_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown Toy keys \['hiden_size'\]") as err:
        config_from_dict(Toy, {"hiden_size": 4})
    message = str(err.value)
    assert "unknown Toy key 'hiden_size'; did you mean 'hidden_size'?" in message
    assert "expected some of ['bidirectional', 'cell'," in message


def test_every_unknown_key_is_named_and_what_names_the_owner() -> None:
    with pytest.raises(ValueError, match=r"unknown model keys \['celll', 'zzz'\]") as err:
        config_from_dict(Toy, {"celll": "gru", "zzz": 1, "cell": "gru"}, what="model")
    message = str(err.value)
    assert "'celll'; did you mean 'cell'?" in message
    assert "'zzz'; did you mean" not in message  # nothing close: no suggestion


def test_check_keys_alone() -> None:
    check_keys({"a": 1}, ["a", "b"], what="task")
    with pytest.raises(
        ValueError, match=r"unknown task keys \['c'\]; expected some of \['a', 'b'\]"
    ):
        check_keys(["a", "c"], ["b", "a"], what="task")


def test_from_dict_needs_a_mapping() -> None:
    with pytest.raises(TypeError, match="Toy must be given as a mapping of its fields, got list"):
        config_from_dict(Toy, [("hidden_size", 4)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("hidden_size", True, "int"),  # a bool is not an int
        ("hidden_size", 8.0, "int"),  # nor is a float, even a whole one
        ("hidden_size", "8", "int"),
        ("dropout", True, "float"),
        ("dropout", "0.1", "float"),
        ("bidirectional", 1, "bool"),
        ("cell", None, "str"),
        ("max_len", "9", "int or None"),
        ("max_len", False, "int or None"),
        ("clip", "x", "float or None"),
        ("size", 2.5, "int or str"),
        ("either", None, "int or float"),
        ("mode", "mean", "one of 'min', 'max'"),
        ("columns", "ab", r"tuple\[str, \.\.\.\]"),  # a string is not a list of names
        ("columns", ("a", 1), r"tuple\[str, \.\.\.\]"),
        ("pair", (1,), r"tuple\[int, float\]"),
        ("pair", (1.5, 2.0), r"tuple\[int, float\]"),
        ("names", ("a", None), r"list\[str\] or None"),
    ],
)
def test_wrong_type_names_the_field_with_expected_and_got(field, value, expected) -> None:
    got = rf"got {re.escape(repr(value))} \({type(value).__name__}\)"
    with pytest.raises(ConfigTypeError, match=rf"Toy `{field}` must be {expected}, {got}"):
        Toy(**{field: value})


def test_wrong_type_is_a_type_error_and_a_value_error() -> None:
    for kind in (TypeError, ValueError):
        with pytest.raises(kind):
            Toy(hidden_size="8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_len", None),  # None for Optional
        ("max_len", 9),
        ("clip", None),
        ("clip", 0.5),
        ("size", "big"),  # either member of a Union
        ("size", 3),
        ("mode", "max"),
        ("columns", ("a", "b")),
        ("names", ["a"]),
        ("names", None),
    ],
)
def test_right_types_are_kept_as_given(field, value) -> None:
    assert getattr(Toy(**{field: value}), field) is value


def test_json_forms_are_stored_as_annotated() -> None:
    toy = Toy(dropout=1, clip=2, columns=["a"], pair=[3, 4], names=("x",))
    assert toy.dropout == 1.0 and isinstance(toy.dropout, float)  # int accepted for float
    assert toy.clip == 2.0 and isinstance(toy.clip, float)
    assert toy.columns == ("a",) and toy.pair == (3, 4.0) and isinstance(toy.pair[1], float)
    assert toy.names == ["x"]
    assert Toy(either=1).either == 1 and isinstance(Toy(either=1).either, int)  # exact kept
    assert hash(Toy(columns=["a"])) == hash(Toy(columns=("a",)))


def test_literal_does_not_confuse_true_with_one() -> None:
    @dataclass(frozen=True)
    class Flag:
        level: Literal[0, 1] = 0

        def __post_init__(self) -> None:
            check_types(self)

    assert Flag(1).level == 1
    with pytest.raises(ConfigTypeError, match=r"`level` must be one of 0, 1, got True \(bool\)"):
        Flag(True)  # type: ignore[arg-type]


def test_imports_without_torch() -> None:
    code = (
        "import sys, rnnkit.config; "
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
