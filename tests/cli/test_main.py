"""The CLI table: usage, unknown groups, dashed flags, the default verb, printing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnkit.cli.main import (
    COMMANDS,
    TASK_GROUPS,
    _bare_switches,
    _default_verb,
    _underscore_flags,
    main,
    show,
)


def test_usage_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for group in COMMANDS:
        assert group in out


def test_unknown_group_is_an_error_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lmm", "train"]) == 2
    err = capsys.readouterr().err
    assert "unknown group 'lmm'" in err and "lm" in err


def test_every_verb_resolves_to_a_documented_function() -> None:
    from rnnkit.cli.main import _load

    for _, verbs in COMMANDS.values():
        for target in verbs.values():
            fn = _load(target)
            assert callable(fn) and fn.__doc__, target


def test_dashed_flags_become_underscored() -> None:
    assert _underscore_flags(["--run-dir", "a-b", "--max-steps=3", "-h", "x-y"]) == [
        "--run_dir",
        "a-b",
        "--max_steps=3",
        "-h",
        "x-y",
    ]


def test_resume_may_be_given_without_a_value() -> None:
    assert _bare_switches(["--resume"]) == ["--resume", "true"]
    assert _bare_switches(["--resume", "--max_time", "5"]) == [
        "--resume",
        "true",
        "--max_time",
        "5",
    ]
    assert _bare_switches(["--resume", "false", "--seed", "1"]) == [
        "--resume",
        "false",
        "--seed",
        "1",
    ]
    assert _bare_switches(["--resume=true"]) == ["--resume=true"]
    assert _bare_switches(["--seed", "1"]) == ["--seed", "1"]  # value flags untouched


def test_translate_default_verb_gathers_sentences() -> None:
    verbs = {"train": 1, "run": 1}
    args = _default_verb("translate", ["--run", "d", "I am cold.", "He is tall."], verbs)
    assert args[:3] == ["run", "--run", "d"]
    assert json.loads(args[args.index("--sentences") + 1]) == ["I am cold.", "He is tall."]
    assert _default_verb("translate", ["train", "--epochs", "1"], verbs)[0] == "train"
    assert _default_verb("lm", ["--run", "d"], verbs) == ["--run", "d"]


def test_show_prints_mappings_and_lists(capsys: pytest.CaptureFixture[str]) -> None:
    show({"loss": 1.234567891, "split": "test"})
    show(["a", "b"])
    out = capsys.readouterr().out.splitlines()
    assert out == ["loss   1.23457", "split  test", "a", "b"]


def test_console_script_runs_as_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rnnkit", "--version"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.startswith("rnnkit ")


@pytest.mark.parametrize("group", ["lm", "classify", "forecast", "translate"])
def test_train_help_names_every_recurrent_layer(group: str, capsys) -> None:
    """`--cell` accepts every rnnkit.nn.LAYERS name; the help must say so (it once listed 4)."""
    from rnnkit.nn import LAYERS

    with pytest.raises(SystemExit):
        main([group, "train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for name in set(LAYERS) - {"rnn_tanh"}:  # rnn_tanh: an alias of rnn
        assert name in help_text, name


@pytest.mark.parametrize("group", TASK_GROUPS)
def test_train_help_gives_the_preset_value_not_null(group: str, capsys) -> None:
    """A flag left to the preset shows the preset's value and "default: the preset's", not
    jsonargparse's "default: null"; a flag whose None means none keeps "default: null"."""
    with pytest.raises(SystemExit):
        main([group, "train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split()).split(" options: ", 1)[1]  # no usage
    entry = help_text[help_text.index("--hidden_size HIDDEN_SIZE") :]
    entry = entry[: entry.index(" --", 1)]  # up to the next flag
    assert " preset: " in entry and "default: the preset's)" in entry, entry
    assert "default: null" not in entry
    entry = help_text[help_text.index("--checkpoint_every CHECKPOINT_EVERY") :]
    assert "default: null)" in entry[: entry.index(" --", 1)]  # None there means "never"


@pytest.mark.parametrize("group", ["lm", "translate"])
def test_presets_verb_lists_the_shipped_yaml(group: str, capsys) -> None:
    from rnnkit.tasks.presets import preset_names

    assert main([group, "presets"]) == 0
    out = capsys.readouterr().out
    names = preset_names(group)
    assert names and all(name in out for name in names)


def test_nn_cells_lists_the_registry(capsys) -> None:
    from rnnkit.nn.registry import cell_names

    assert main(["nn", "cells"]) == 0
    out = capsys.readouterr().out.split()
    assert set(cell_names()) <= set(out)


def test_exit_codes_for_errors_a_user_can_act_on() -> None:
    from rnnkit.cli.main import _exit_code

    assert _exit_code(ValueError("`x` must be > 0, got 0")) == 1
    assert _exit_code(OSError(28, "No space left on device")) == 1
    assert _exit_code(RuntimeError("a bug")) is None  # a bug keeps its traceback
