"""Where a run's exports live, and whether a cached one is still current.

``rnnkit export --run DIR --format F`` writes ``DIR/export/F/`` unless ``--out`` is given;
``--backend F`` of the task verbs uses that directory, exporting (again) when it is
missing or older than the run's best weights.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from rnnkit.tasks.run import TaskRun
from rnnkit.train.checkpoint import resolve_checkpoint

__all__ = ["FORMATS", "default_dir", "ensure_export", "export_run", "read_manifest"]

log = logging.getLogger(__name__)

FORMATS = ("onnx", "numpy")


def default_dir(run_dir: str | os.PathLike[str], format: str) -> Path:
    """``run_dir/export/<format>``."""
    return Path(run_dir) / "export" / format


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The export's ``manifest.json``; ``FileNotFoundError`` naming it when absent."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; export the run first (`rnnkit export`)")
    return json.loads(path.read_text(encoding="utf-8"))


def export_run(task: TaskRun, format: str, out: str | os.PathLike[str]) -> Path:
    """Export a loaded run's network into ``out`` as ``format`` (onnx or numpy)."""
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}")
    assert task.model is not None
    if format == "onnx":
        from rnnkit.export.onnx_export import export_onnx

        return export_onnx(task.model, out, task.task)
    from rnnkit.export.numpy_bundle import export_numpy

    return export_numpy(task.model, out, task.task)


def _stale(directory: Path, run_dir: Path) -> bool:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return True
    weights = resolve_checkpoint(run_dir, "best") / "model.safetensors"
    return weights.is_file() and weights.stat().st_mtime > manifest.stat().st_mtime


def ensure_export(task: TaskRun, format: str, directory: str | os.PathLike[str] | None) -> Path:
    """An export of ``task`` (loaded from its run directory) as ``format``: ``directory`` if
    given (used as it is), else ``run_dir/export/<format>``, (re-)exported when missing or
    older than the best weights."""
    if directory is not None:
        read_manifest(directory)  # a clear error when it is not an export
        return Path(directory)
    if task.run_dir is None:
        raise ValueError("`--backend` needs a run loaded from its directory (`--run`)")
    target = default_dir(task.run_dir, format)
    if _stale(target, Path(task.run_dir)):
        log.info("exporting %s as %s into %s", task.run_dir, format, target)
        export_run(task, format, target)
    return target
