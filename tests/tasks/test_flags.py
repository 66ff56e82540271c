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
