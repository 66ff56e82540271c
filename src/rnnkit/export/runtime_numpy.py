"""The NumPy backend: a run's network replaced by its bundle on the scratch engine."""

from __future__ import annotations

import os

from torch import nn

from rnnkit.export.adapters import adapter_for
from rnnkit.export.cache import ensure_export, read_manifest
from rnnkit.scratch.runtime import BundleRuntime
from rnnkit.tasks.run import TaskRun

__all__ = ["load"]


def load(task: TaskRun, directory: str | os.PathLike[str] | None = None) -> nn.Module:
    """A drop-in for ``task.model`` running the NumPy bundle (made or refreshed first, see
    :func:`rnnkit.export.cache.ensure_export`)."""
    assert task.model is not None
    path = ensure_export(task, "numpy", directory)
    runtime = BundleRuntime.load(path)
    return adapter_for(task.model, runtime.run, read_manifest(path))
