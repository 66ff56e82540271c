"""A batch of a run's own data and the loss to explain, for every task.

:func:`task_sample` reads a few examples the way the task itself reads them (the language
model's validation text, the classifier's source file, the forecaster's series, the
translator's validation pairs) and returns a :class:`Sample`: a closure that runs the task's
network on them and returns the loss whose gradient is followed back through time.

The loss is the task's own (:meth:`~rnnkit.tasks.run.TaskRun.step`), except for the
language model, where it is the cross-entropy at the *last* step of the window only: the
question is how much of the loss at the end reaches each earlier step, and the summed
per-step loss of a language model reaches every step directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.tasks.run import TaskRun

__all__ = ["Sample", "default_text", "task_sample"]

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """A batch bound to its loss: ``loss(model) -> scalar``; ``what`` says which loss."""

    loss: Callable[[nn.Module], Tensor]
    what: str
    batch: Any = None


def task_sample(task: TaskRun, batch_size: int = 8, steps: int | None = None) -> Sample:
    """A batch of ``task``'s own data (``batch_size`` rows; ``steps`` caps an lm window)."""
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
    reader = {
        "lm": _lm_sample,
        "classify": _classify_sample,
        "forecast": _forecast_sample,
        "translate": _translate_sample,
    }.get(task.task)
    if reader is None:
        raise ValueError(
            f"`task` must be an lm, classify, forecast or translate run, got {task.task!r}"
        )
    return reader(task, batch_size, steps)


def _lm_sample(task: Any, batch_size: int, steps: int | None) -> Sample:
    ids = task.corpus.splits["valid"]
    if ids.numel() < 4:
        ids = task.corpus.splits["train"]
    window = min(steps or task.data_config.bptt, ids.numel() // batch_size - 1)
    rows = min(batch_size, ids.numel() // (window + 1))
    if window < 2 or rows < 1:
        raise ValueError(f"the corpus is too short for a window (have {ids.numel()} tokens)")
    grid = ids[: rows * (window + 1)].view(rows, window + 1).t()  # (T+1, B)
    x, y = grid[:-1].contiguous(), grid[1:].contiguous()  # (T, B) each

    def loss(model: nn.Module) -> Tensor:
        logits, _ = model(x.to(_device(model)), None)  # (T, B, V)
        return F.cross_entropy(logits[-1], y[-1].to(logits.device))

    return Sample(loss, "cross-entropy of the last step's next token", (x, y))


_READ_KEYS = ("format", "text_column", "label_column", "delimiter", "fine_labels", "encoding")


def _classify_sample(task: Any, batch_size: int, steps: int | None) -> Sample:
    from rnnkit.data.bucketing import collate
    from rnnkit.data.classification import Examples
    from rnnkit.data.classify_sources import read_inputs

    info = task.data_info
    if "source" not in info:
        raise ValueError("the classify run records no data `source` in config.json")
    read = {k: info[k] for k in _READ_KEYS if info.get(k) is not None}
    examples = task._items(read_inputs(info["source"], **read))
    if examples.labels is None:
        raise ValueError("the classify run's data `source` has no labels to compute a loss")
    targets, kept = task.labels.encode(examples.labels, on_unknown="skip")  # (N',)
    if not kept:
        raise ValueError(f"no example of {info['source']} has a label the run was trained on")
    pick = kept[:batch_size]
    some = Examples(
        [examples.items[i] for i in pick], None, examples.kind, [examples.ids[i] for i in pick]
    )
    inputs = task.encoder.encode(some)
    batch = collate(inputs, targets[: len(inputs)], list(range(len(inputs))))

    def loss(model: nn.Module) -> Tensor:
        return task.step(model, batch._replace(x=batch.x.to(_device(model))), None).loss

    return Sample(loss, "the task's cross-entropy", batch)


def _forecast_sample(task: Any, batch_size: int, steps: int | None) -> Sample:
    from rnnkit.data.forecast_sources import load_source
    from rnnkit.data.windows import WindowDataset, collate_windows, window_origins

    source = task.data.get("source")
    if source is None:
        raise ValueError("the forecast run records no data `source` in config.json")
    series, _ = load_source(source)
    cfg = task.config
    target, past, future = task.scaling.arrays(series)
    origins = window_origins(0, len(series), input_len=cfg.input_len, horizon=cfg.horizon, stride=1)
    pick = np.linspace(0, len(origins) - 1, min(batch_size, len(origins))).astype(int)
    ds = WindowDataset(
        target, past, future, origins[pick], input_len=cfg.input_len, horizon=cfg.horizon
    )
    batch = collate_windows([ds[i] for i in range(len(ds))])

    def loss(model: nn.Module) -> Tensor:
        return task.step(model, batch, None).loss

    return Sample(loss, "the task's forecast loss", batch)


def _translate_sample(task: Any, batch_size: int, steps: int | None) -> Sample:
    from rnnkit.data.pair_splits import load_pair_splits

    pairs = task.pairs or load_pair_splits(task.data, task.files)
    split = next((s for s in ("val", "test", "train") if pairs.ids.get(s, ([],))[0]), None)
    if split is None:
        raise ValueError("the translate run's data has no pairs")
    batch = next(iter(pairs.loader(split, batch_size, shuffle=False)))

    def loss(model: nn.Module) -> Tensor:
        return task.step(model, batch, None).loss

    return Sample(loss, f"the task's sequence loss ({split} pairs)", batch)


def default_text(task: TaskRun) -> str:
    """An input of the run's own data: the lm's prompt, the first text or source sentence."""
    if task.task == "lm":
        return task.default_prompt()
    if task.task == "translate":
        from rnnkit.data.pair_splits import load_pair_splits

        pairs = task.pairs or load_pair_splits(task.data, task.files)
        return next(
            src for split in ("val", "test", "train") for src, _ in pairs.text.get(split, [])
        )
    from rnnkit.data.classify_sources import read_inputs

    return str(
        read_inputs(task.data_info["source"], format=task.data_info.get("format", "auto")).items[0]
    )


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
