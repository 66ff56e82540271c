"""Forward+backward time of rnnkit.nn layers vs torch.nn, as ratios measured in the same run.

    python benchmarks/layers.py            # the three standard configurations, CPU
    python benchmarks/layers.py --quick    # a fast smoke run (small sizes, few repeats)
    python benchmarks/layers.py --device cuda
    python benchmarks/layers.py --threads 1   # on a shared machine: oversubscribed OpenMP
                                              # threads make every timing meaningless

For each cell (LSTM, GRU, RNN) and size, three callables run round-robin (interleaved, so
machine noise hits all alike, with the order rotated every round): torch.nn, rnnkit with
``impl="auto"`` (the fused kernel) and rnnkit with ``impl="scan"``. Each call is one forward
and one backward of ``output.sum()`` in train mode with the same weights. Prints a Markdown
table of median times and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rnnkit.nn  # noqa: E402
from _timing import measure_interleaved, table  # noqa: E402

# (T, B, H, L); the input size I equals H
SIZES = [(35, 20, 200, 2), (35, 20, 650, 2), (100, 64, 256, 1)]
QUICK_SIZES = [(10, 4, 32, 2)]
CELLS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN"}


def step_fn(layer: torch.nn.Module, x: torch.Tensor, device: str):
    """One forward+backward of ``layer`` on ``x``, synchronised on CUDA."""

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def rotating_interleaved(fns: dict, repeat: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per callable; round r starts at callable r mod n, so no callable always
    runs right after the same other one (allocator/cache carry-over stays fair)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        order = names[r % len(names) :] + names[: r % len(names)]
        one = measure_interleaved({n: fns[n] for n in order}, repeat=1, warmup=0)
        for name, seconds in one.items():
            samples[name].append(seconds)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def bench(cell: str, size: tuple[int, int, int, int], device: str, repeat: int) -> list:
    steps, batch, hidden, layers = size
    torch.manual_seed(0)
    ref = getattr(torch.nn, cell)(hidden, hidden, layers, device=device)
    auto = getattr(rnnkit.nn, cell)(hidden, hidden, layers, device=device, impl="auto")
    scan = getattr(rnnkit.nn, cell)(hidden, hidden, layers, device=device, impl="scan")
    auto.load_state_dict(ref.state_dict())
    scan.load_state_dict(ref.state_dict())
    x = torch.randn(steps, batch, hidden, device=device)  # (T, B, I)
    fns = {n: step_fn(m, x, device) for n, m in (("torch", ref), ("auto", auto), ("scan", scan))}
    if repeat <= 0:  # adaptive: about `budget` seconds of torch calls, at least 21 rounds
        start = time.perf_counter()
        fns["torch"]()
        repeat = min(201, max(21, int(-repeat / (time.perf_counter() - start))))
    times = rotating_interleaved(fns, repeat)
    ms = {k: v * 1e3 for k, v in times.items()}
    return [
        cell,
        f"T={steps} B={batch} H={hidden} L={layers}",
        ms["torch"],
        ms["auto"],
        ms["auto"] / ms["torch"],
        ms["scan"],
        ms["scan"] / ms["torch"],
        repeat,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed rounds (default: ~6 s of torch calls)"
    )
    parser.add_argument("--cells", default="LSTM,GRU,RNN", help="comma-separated subset")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else SIZES
    repeat = args.repeat or (3 if args.quick else -6)  # negative: a time budget in seconds
    rows = [
        bench(cell, size, args.device, repeat) for size in sizes for cell in args.cells.split(",")
    ]
    header = [
        "cell",
        "size",
        "torch ms",
        "auto ms",
        "auto/torch",
        "scan ms",
        "scan/torch",
        "rounds",
    ]
    threads = torch.get_num_threads()
    print(f"device={args.device} torch={torch.__version__} threads={threads} (median times)")
    print(table(header, rows))


if __name__ == "__main__":
    main()
