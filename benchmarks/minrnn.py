"""Training speed (forward + backward) of MinGRU/MinLSTM vs torch.nn.GRU, measured in one run.

    python benchmarks/minrnn.py --threads 1                  # T = 128, 1024, 4096; L = 1, 2
    python benchmarks/minrnn.py --threads 2                  # every core of the 2-core machine
    python benchmarks/minrnn.py --threads 1 --steps 1024 --layers 1 --repeat 5
    python benchmarks/minrnn.py --quick                      # smoke run

Each callable is one forward and one backward of ``output.sum()`` (train mode, input
``(T, B, I)`` with I = H, no input gradient), called round-robin (interleaved) so machine
noise hits all alike. Prints a Markdown table of median seconds and the speed-up over the
fused ``torch.nn.GRU`` (oneDNN/ATen on CPU), with the thread count and the load average.
"MinGRU C" is the linear scan on the fused C kernel (rnnkit/csrc/minrnn.c, the default on
CPU), "torch ops" the same scan written with torch operations, "log" Heinsen's log-space scan.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402
from rnnkit.nn import MinGRU, MinLSTM  # noqa: E402


def step_fn(layer: torch.nn.Module, x: torch.Tensor):
    """One forward+backward of ``layer`` on ``x``."""

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)  # (T, B, H)
        out.sum().backward()

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--steps", type=int, nargs="+", default=[128, 1024, 4096], help="T values")
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2], help="L values")
    p.add_argument("--batch", type=int, default=16, help="B")
    p.add_argument("--hidden", type=int, default=256, help="H (= I)")
    p.add_argument("--repeat", type=int, default=5, help="measured rounds per size")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.layers, args.hidden, args.repeat = [32], [1], 16, 2
    B, H = args.batch, args.hidden
    rows = []
    for L in args.layers:
        for T in args.steps:
            torch.manual_seed(0)
            x = torch.randn(T, B, H)
            layers = {
                "torch GRU": torch.nn.GRU(H, H, L),
                "MinGRU C": MinGRU(H, H, L, scan="linear", mode="parallel", backend="c"),
                "MinGRU torch ops": MinGRU(
                    H, H, L, scan="linear", mode="parallel", backend="torch"
                ),
                "MinGRU log": MinGRU(H, H, L, scan="log", mode="parallel"),
                "MinLSTM C": MinLSTM(H, H, L, scan="linear", mode="parallel", backend="c"),
            }
            fns = {name: step_fn(layer, x) for name, layer in layers.items()}
            times = measure_interleaved(fns, repeat=args.repeat, warmup=1)
            base = times["torch GRU"]
            rows.append(
                [T, L, f"{base:.3f}"]
                + [f"{times[n]:.3f} ({base / times[n]:.1f}x)" for n in list(layers)[1:]]
            )
    header = ["T", "L", "torch GRU s"] + [f"{n} s (speed-up)" for n in list(layers)[1:]]
    print(table(header, rows))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\nB={B}, H=I={H}, threads={args.threads}, {os.cpu_count()} CPUs, "
        f"load average {load}, torch {torch.__version__}, median of {args.repeat} rounds"
    )


if __name__ == "__main__":
    main()
