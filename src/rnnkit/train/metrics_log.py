"""Where figures go: ``metrics.csv`` (always), TensorBoard (if asked and installed), a tqdm bar.

``metrics.csv`` is wide: ``step, epoch, split, time`` then one column per figure
(``train_loss``, ``lr``, ``grad_norm``, ``items_per_s``, ``val_loss`` ...); a row has the
figures of its split, the rest empty. Rows are appended and flushed; when a new column
appears, the whole file is rewritten atomically with the wider header. On resume the rows
written after the checkpoint (work the crash threw away) are dropped, so a resumed run's
file equals an uninterrupted one's.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from rnnkit.metrics.csv_log import read_metrics_csv

from .checkpoint import atomic_write

__all__ = ["MetricsLog", "ProgressBar", "TensorBoardWriter", "draw_loss", "read_metrics_csv"]

log = logging.getLogger(__name__)

BASE_COLUMNS = ["step", "epoch", "split", "time"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


class MetricsLog:
    """Append-only wide CSV of metric rows (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = list(BASE_COLUMNS)

    def restore(self, upto_step: int) -> None:
        """Load the existing file, keeping rows with ``step <= upto_step``; rewrite it."""
        if self.path is None or not self.path.is_file():
            return
        rows = [r for r in read_metrics_csv(self.path) if r["step"] <= upto_step]
        self.rows = rows
        for row in rows:
            self.columns += [k for k in row if k not in self.columns]
        self._rewrite()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        new = [k for k in row if k not in self.columns]
        if new or not self.path.is_file():
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow([_cell(row.get(c)) for c in self.columns])

    def _rewrite(self) -> None:
        assert self.path is not None
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_cell(row.get(c)) for c in self.columns])
        atomic_write(self.path, buf.getvalue().encode("utf-8"))


class TensorBoardWriter:
    """Scalars to TensorBoard; a warning and a no-op when the package is missing."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.writer: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning(
                "tensorboard=True but the `tensorboard` package is not installed "
                "(pip install 'rnnkit[tensorboard]'); metrics still go to metrics.csv"
            )
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    @property
    def active(self) -> bool:
        return self.writer is not None

    def add(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key not in BASE_COLUMNS and isinstance(value, (int, float)):
                self.writer.add_scalar(key.replace("_", "/", 1), value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class ProgressBar:
    """A tqdm bar over one epoch (quiet off a terminal or when ``enabled`` is False)."""

    def __init__(self, enabled: bool | None, total: int | None, initial: int, desc: str) -> None:
        on = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Any = None
        self._last = time.monotonic()
        if on:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=False
            )

    def update(self, postfix: dict[str, Any], items: float = 0.0) -> None:
        """One step done: show ``postfix`` and the step's ``items`` per second (only timed
        when there is a bar: the training loop pays nothing otherwise)."""
        if self.bar is None:
            return
        now = time.monotonic()
        rate = items / max(now - self._last, 1e-9)
        self._last = now
        shown = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()}
        self.bar.set_postfix({**shown, "items/s": f"{rate:.0f}"}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def draw_loss(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Draw ``loss.png`` from metric rows; a failure is a warning (it must never lose a run)."""
    if not rows:
        return
    try:
        from rnnkit.viz.curves import plot_loss

        plot_loss(rows, path)
    except Exception as e:
        log.warning("could not draw %s: %s", Path(path).name, e)
