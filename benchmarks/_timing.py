"""Timing helpers shared by the benchmark scripts (they print tables; nothing here asserts)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

__all__ = ["mean_sd", "measure", "measure_interleaved", "table"]


def measure(fn: Callable[[], object], *, repeat: int = 20, warmup: int = 3) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_interleaved(
    fns: dict[str, Callable[[], object]], *, repeat: int = 20, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per function, calling them round-robin so machine noise hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def mean_sd(values: Sequence[float], digits: int = 1) -> str:
    """``"mean ± sample sd"`` of ``values`` to ``digits`` places (the mean alone for one)."""
    text = f"{statistics.mean(values):.{digits}f}"
    return text + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (so the README can quote the output as it is)."""

    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
