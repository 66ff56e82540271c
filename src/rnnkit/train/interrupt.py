"""Stopping a run cleanly on SIGTERM or Ctrl-C, and the RNG scope of a fit.

:class:`StopSignals` turns SIGTERM and SIGINT into a flag while training runs; the trainer
looks at it at each step boundary, writes ``last/`` and raises :class:`TrainingInterrupted`.
A second Ctrl-C while the checkpoint is being written only sets the flag again, so the
write completes (it is atomic anyway).

:func:`rng_scope` runs a fit with its own global RNG streams: python ``random``, numpy's
legacy global RNG and torch's (CPU and the CUDA device in use) are saved, seeded for the
run, and put back afterwards, so a caller's random state is the same after ``fit`` as
before it, while the run itself stays repeatable from its seed.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

__all__ = ["StopSignals", "TrainingInterrupted", "rng_scope"]

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving ``last/``.

    Attributes:
        signal_name: ``"SIGTERM"`` or ``"SIGINT"``.
        step: the training steps done (the checkpoint's step).
        checkpoint: the ``last/`` directory written, or None without a run directory.
    """

    def __init__(self, signal_name: str, step: int, checkpoint: Path | None) -> None:
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint
        where = (
            f"checkpoint saved in {checkpoint}; continue with the same command and `--resume true`"
            if checkpoint is not None
            else "no run directory, so nothing was saved"
        )
        super().__init__(f"interrupted by {signal_name} at step {step}; {where}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (multiprocessing, DDP tracebacks)
        return type(self), (self.signal_name, self.step, self.checkpoint)


class StopSignals:
    """While entered, SIGTERM and SIGINT set :attr:`received` instead of killing the process.

    A second signal while a checkpoint is being written (inside :meth:`saving`) is ignored
    with a warning, so the write completes; a second one at any other time raises
    ``KeyboardInterrupt`` at once (the way out of a step that hangs). Only in the main
    thread (Python delivers signals there); elsewhere it does nothing. The previous handlers
    are restored on exit.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = SIGNALS) -> None:
        self.signals = signals
        self.received: str | None = None
        self._saving = False
        self._previous: dict[signal.Signals, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            log.warning("%s received: saving a checkpoint at the end of this step", name)
            self.received = name
        elif self._saving:
            log.warning("%s received again: still writing the checkpoint, please wait", name)
        else:
            raise KeyboardInterrupt(f"{name} received twice: stopped without a checkpoint")

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Mark a checkpoint write: repeated signals must not break it off."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


@contextlib.contextmanager
def rng_scope(seed: int | None, device: torch.device) -> Iterator[None]:
    """Fork the global RNGs for the block, seeding them with ``seed`` (None: leave them as
    they are, e.g. for a resume that restores them); restore the caller's on exit."""
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG user code may use
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            if seed is not None:
                random.seed(seed)
                np.random.seed(seed % 2**32)  # noqa: NPY002
                torch.manual_seed(seed)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
