"""Every task's CLI verbs take the same run and layer flags, with the same defaults and help."""

from __future__ import annotations

import inspect

import pytest

from rnnkit.cli.main import COMMANDS, TASK_GROUPS, _load
from rnnkit.nn.registry import cell_names
from rnnkit.tasks.flags import LAYER_FLAGS, RUN_FLAGS


def _train(group: str):
    return _load(COMMANDS[group][1]["train"])


@pytest.mark.parametrize("group", TASK_GROUPS)
def test_train_takes_the_shared_flags_with_the_shared_defaults(group: str) -> None:
    params = inspect.signature(_train(group)).parameters
    assert params["run_dir"].default == f"runs/{group}"
    for name, (default, _) in {**RUN_FLAGS, **LAYER_FLAGS}.items():
        assert name in params, f"rnnkit {group} train has no --{name.replace('_', '-')}"
        assert params[name].default == default, (group, name)


@pytest.mark.parametrize("group", TASK_GROUPS)
def test_train_help_lines_come_from_one_place(group: str) -> None:
    doc = " ".join((_train(group).__doc__ or "").split())
    for name, (_, text) in {**RUN_FLAGS, **LAYER_FLAGS}.items():
        line = text.replace("{cells}", ", ".join(cell_names()))
        assert f"{name}: {' '.join(line.split())}" in doc, (group, name)
    assert "{" + "run flags}" not in doc and "{cells}" not in doc


@pytest.mark.parametrize("group", TASK_GROUPS)
def test_every_verb_that_reads_a_run_takes_run(group: str) -> None:
    for verb, target in COMMANDS[group][1].items():
        params = inspect.signature(_load(target)).parameters
        if verb != "train":
            assert "run" in params, (group, verb)  # an old --run-dir may stay, deprecated


@pytest.mark.parametrize(
    ("group", "preset"), [("lm", "demo"), ("translate", "demo"), ("forecast", "default")]
)
def test_help_shows_the_value_a_flag_left_out_takes(group: str, preset: str) -> None:
    from rnnkit.tasks.presets import load_preset

    doc = " ".join((_train(group).__doc__ or "").split())
    hidden = load_preset(group, preset)["model"]["hidden_size"]
    assert f"size of the recurrent state per direction. ({preset} preset: {hidden})" in doc
    assert "(default {" not in doc and "{model." not in doc  # no marker left unfilled


def test_preset_help_appends_the_value_to_flags_left_to_the_preset() -> None:
    from dataclasses import dataclass

    from rnnkit.tasks.flags import preset_help, preset_values

    @dataclass(frozen=True)
    class Inner:
        size: int = 3

    @dataclass(frozen=True)
    class Outer:
        size: int = 1
        inner: Inner = Inner()
        rate: float = 0.5
        path: str = "a.txt"

    values = preset_values({"train": {"rate": 0.1, "flag": True}}, Outer, data="path")
    assert values == {"size": 3, "rate": 0.1, "path": "a.txt", "flag": True, "data": "a.txt"}

    def verb(size: int | None = None, rate: float = 0.2, data: str | None = None,
             flag: bool | None = None, other: int | None = None) -> None:  # fmt: skip
        """Do it.

        Args:
            size: the size,
                over two lines.
            rate: a rate.
            data: a file.
            flag: a switch.
            other: no value anywhere.
        """

    doc = preset_help(values, "demo")(verb).__doc__ or ""
    assert "over two lines. (demo preset: 3)\n" in doc  # after the entry's last line
    assert "rate: a rate.\n" in doc  # its default is its own, not the preset's
    assert "data: a file. (demo preset: a.txt)" in doc
    assert "flag: a switch. (demo preset: true)" in doc  # spelt as on the command line
    assert "other: no value anywhere.\n" in doc
