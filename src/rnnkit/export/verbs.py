"""``rnnkit export``: the CLI verb (a plain function; its docstring is the ``--help``)."""

from __future__ import annotations

from rnnkit.export.cache import FORMATS, default_dir, export_run
from rnnkit.tasks.run import load_run

__all__ = ["export"]


def export(run: str, format: str = "onnx", out: str | None = None, which: str = "best") -> str:
    """Export a trained run of any task as ONNX graphs or a NumPy bundle.

    Args:
        run: the run directory (written by `rnnkit <task> train`).
        format: onnx (graphs for onnxruntime: lengths and recurrent state as inputs and
            outputs; a translator gives an encoder and a decoder-step graph) or numpy (a
            bundle for rnnkit's NumPy engine, no torch needed).
        out: the export directory (default: RUN/export/FORMAT).
        which: the weights to export: best or last.
    """
    if format not in FORMATS:
        raise ValueError(f"`--format` must be one of {', '.join(FORMATS)}, got {format!r}")
    task = load_run(run, which)
    path = export_run(task, format, out if out is not None else default_dir(run, format))
    files = ", ".join(sorted(p.name for p in path.iterdir()))
    return f"exported {task.task} run {run} as {format} to {path}: {files}"
