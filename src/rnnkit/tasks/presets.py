"""Presets are data: YAML files shipped in the package, one folder per task.

``src/rnnkit/tasks/presets/<task>/<name>.yaml`` holds a ``description`` line and the config
sections the preset fills (``model``, ``data``, ``train``, and the task's own). A task's
train verb starts from one (``--preset NAME``) and every flag overrides it;
``rnnkit <task> presets`` lists them::

    >>> sorted(load_preset("lm", "demo"))
    ['data', 'model', 'train']
    >>> "demo" in preset_names("lm")
    True
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["describe_presets", "load_preset", "preset_names", "start_sections"]

log = logging.getLogger(__name__)


@cache
def _all(task: str) -> dict[str, dict[str, Any]]:
    folder = resources.files("rnnkit.tasks").joinpath("presets", task)
    if not folder.is_dir():
        return {}
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"preset {task}/{entry.name} must be a YAML mapping")
            out[entry.name.removesuffix(".yaml")] = data
    return out


def preset_names(task: str) -> list[str]:
    """The names of ``task``'s presets, sorted."""
    return sorted(_all(task))


def load_preset(task: str, name: str) -> dict[str, dict[str, Any]]:
    """A fresh copy of preset ``name``'s config sections (without its description)."""
    presets = _all(task)
    if name not in presets:
        raise ValueError(f"`preset` must be one of {sorted(presets)}, got {name!r}")
    body = copy.deepcopy(presets[name])
    body.pop("description", None)
    return body


def describe_presets(task: str) -> dict[str, str]:
    """``{name: description}`` of ``task``'s presets (what ``rnnkit <task> presets`` shows)."""
    return {name: str(p.get("description", "")) for name, p in sorted(_all(task).items())}


def start_sections(
    task: str,
    preset: str,
    run_dir: str | os.PathLike[str],
    resume: bool,
    sections: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """The config sections a ``train`` verb starts from, each of ``sections`` present.

    A resumed run continues with its own saved sections; a fresh one starts from the preset,
    after refusing a used ``run_dir`` at once (before any data is read; the run life cycle
    checks again under the lock).
    """
    from rnnkit.train import check_fresh, read_run_config

    if resume and (Path(run_dir) / "config.json").is_file():
        log.info("resuming %s with its saved configuration", run_dir)
        saved = read_run_config(run_dir)
        return {k: dict(saved.get(k) or {}) for k in sections}
    if not resume:
        check_fresh(run_dir)
    return {k: {} for k in sections} | load_preset(task, preset)
