"""The runs a server answers for: each loaded once, named by its directory, described for
``GET /v1/models``."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.tasks.run import TaskRun, load_run

__all__ = ["ENDPOINTS", "ServedModel", "describe", "load_models"]

log = logging.getLogger(__name__)

ENDPOINTS = {
    "lm": "/v1/generate",
    "translate": "/v1/translate",
    "forecast": "/v1/forecast",
    "classify": "/v1/classify",
}
"""task -> the endpoint that answers for its models."""


@dataclass
class ServedModel:
    """One loaded run: its name (the run directory's), task and :class:`TaskRun`."""

    name: str
    task: str
    run: TaskRun
    path: Path


def load_models(runs: Sequence[str | os.PathLike[str] | TaskRun]) -> dict[str, ServedModel]:
    """Load each run directory (any task) as a model named by the directory's name.

    A :class:`TaskRun` already loaded is taken as it is (named by its ``run_dir``). Two runs
    with the same name are an error naming both paths; so is an empty list.
    """
    if not runs:
        raise ValueError("`run`: give at least one run directory to serve (--run DIR)")
    models: dict[str, ServedModel] = {}
    for item in runs:
        run = item if isinstance(item, TaskRun) else load_run(item)
        if run.run_dir is None:
            raise ValueError("`run`: a TaskRun to serve must come from a run directory")
        path = Path(run.run_dir)
        name = path.resolve().name
        if name in models:
            raise ValueError(
                f"`run`: two runs are named {name!r} ({models[name].path} and {path}); "
                "model names are the directories' names, so rename one directory"
            )
        run.model.eval()  # type: ignore[union-attr]  # load_run built it
        models[name] = ServedModel(name, run.task, run, path)
        log.info("serving %s (%s) from %s", name, run.task, path)
    return models


def describe(model: ServedModel) -> dict[str, Any]:
    """What ``GET /v1/models`` says of a model: its task, endpoint and what it accepts."""
    run: Any = model.run
    info: dict[str, Any] = {"name": model.name, "task": model.task}
    info["endpoint"] = ENDPOINTS[model.task]
    if model.task == "lm":
        accepts = {"input": "text", "level": run.data_config.level, "vocab_size": len(run.vocab)}
    elif model.task == "translate":
        accepts = {"input": "text", "source_vocab_size": len(run.src_vocab)}
    elif model.task == "forecast":
        cols = run.scaling.columns
        accepts = {
            "input": "series",
            "columns": [*cols["target"], *cols["past"]],
            "targets": list(cols["target"]),
            "input_len": run.config.input_len,
            "horizon": run.config.horizon,
            "intervals": bool(run.config.gaussian),
            "csv_only": bool(cols["future"]),  # calendar or known-future columns need times
        }
    else:
        enc = run.encoder
        accepts = {"input": "text" if enc.kind == "text" else "series",
                   "labels": list(run.labels.names)}  # fmt: skip
        if enc.kind != "text":
            accepts["features"] = enc.input_size
    info["accepts"] = accepts
    return info
