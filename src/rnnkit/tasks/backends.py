"""``--backend torch|onnx|numpy`` of the predicting verbs: one registry, imported by name.

The exported runtimes live above the tasks (``rnnkit.export``); the tasks reach them only
through this table of ``"module:function"`` strings, as :data:`rnnkit.tasks.run.TASKS`, so
a task never imports ``rnnkit.export``. A runtime's ``load(task)`` returns a drop-in for
``task.model`` (exporting into ``run_dir/export/<backend>`` first when that is missing or
older than the weights), and the verb runs on as with torch.
"""

from __future__ import annotations

import importlib

from rnnkit.tasks.run import TaskRun

__all__ = ["BACKENDS", "runtime"]

BACKENDS: dict[str, str | None] = {
    "torch": None,
    "onnx": "rnnkit.export.runtime_onnx:load",
    "numpy": "rnnkit.export.runtime_numpy:load",
}
"""Backend name -> ``"module:function"`` of its loader (None: the torch network itself)."""


def runtime(run: TaskRun, backend: str = "torch") -> TaskRun:
    """``run`` with its network replaced by ``backend``'s runtime (torch: unchanged)."""
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {list(BACKENDS)}, got {backend!r}")
    target = BACKENDS[backend]
    if target is None:
        return run
    module, _, name = target.partition(":")
    run.model = getattr(importlib.import_module(module), name)(run)
    return run
