"""The onnxruntime backend: a run's network replaced by its exported ONNX graphs.

>>> # lm = TextLM.load("runs/demo"); lm.model = load(lm)   # generation now runs on ORT
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from torch import nn

from rnnkit.export.adapters import adapter_for
from rnnkit.export.cache import ensure_export, read_manifest
from rnnkit.tasks.run import TaskRun

__all__ = ["EXTRA_HINT", "load", "onnxruntime"]

EXTRA_HINT = "onnxruntime is not installed; install the export extra: pip install rnnkit[export]"


def onnxruntime() -> Any:
    """The ``onnxruntime`` module, or an ImportError naming the extra to install."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(EXTRA_HINT) from err
    return ort


def load(task: TaskRun, directory: str | os.PathLike[str] | None = None) -> nn.Module:
    """A drop-in for ``task.model`` that runs the ONNX export (made or refreshed first, see
    :func:`rnnkit.export.cache.ensure_export`) on onnxruntime's CPU provider."""
    ort = onnxruntime()
    assert task.model is not None
    path = ensure_export(task, "onnx", directory)
    manifest = read_manifest(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about the tracer's leftover shape hints
    sessions = {
        name: ort.InferenceSession(
            str(path / g["file"]), options, providers=["CPUExecutionProvider"]
        )
        for name, g in manifest["graphs"].items()
    }

    def run(graph: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
        names = manifest["graphs"][graph]["inputs"]
        return sessions[graph].run(None, dict(zip(names, inputs, strict=True)))

    return adapter_for(task.model, run, manifest)
