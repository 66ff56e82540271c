"""Forward+backward time of LSTMs with issue 9's options vs the fused plain LSTM, same run.

    python benchmarks/beyond_layers.py --threads 1       # the three sizes, CPU
    python benchmarks/beyond_layers.py --quick           # a smoke run
    python benchmarks/beyond_layers.py --device cuda

Variants (all ``rnnkit.nn.LSTM``, train mode, same weights, I = H): ``fused`` (plain, the
fused kernel: the baseline), ``layer_norm`` (scan), ``recurrent_dropout=0.25`` (scan),
``zoneout_h=zoneout_c=0.1`` (scan), ``weight_drop=0.5`` + locked dropout between layers
(fused, masks outside the kernel). Each call is one forward and one backward of
``output.sum()``; the callables run round-robin with the order rotated every round. Prints a
Markdown table of median times and the ratio to the fused plain LSTM.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402
from rnnkit.nn import LSTM  # noqa: E402

# (T, B, H, L); the input size I equals H
SIZES = [(35, 20, 200, 2), (35, 20, 650, 2), (100, 64, 256, 1)]
QUICK_SIZES = [(10, 4, 32, 2)]
VARIANTS: dict[str, dict] = {
    "fused": {},
    "layer_norm": {"layer_norm": True},
    "recurrent_dropout": {"recurrent_dropout": 0.25},
    "zoneout": {"zoneout_h": 0.1, "zoneout_c": 0.1},
    "weight_drop+locked": {"weight_drop": 0.5, "dropout": 0.3, "dropout_kind": "locked"},
}


def step_fn(layer: torch.nn.Module, x: torch.Tensor, device: str):
    def run() -> None:
        layer.zero_grad(set_to_none=True)
        out, _ = layer(x)
        out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    return run


def bench(size: tuple[int, int, int, int], device: str, seconds: float) -> list[list]:
    steps, batch, hidden, layers = size
    torch.manual_seed(0)
    base = LSTM(hidden, hidden, layers, device=device)
    x = torch.randn(steps, batch, hidden, device=device)
    fns = {}
    paths = {}
    for name, kwargs in VARIANTS.items():
        if layers == 1 and "dropout" in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("dropout", "dropout_kind")}
        layer = LSTM(hidden, hidden, layers, device=device, **kwargs)
        layer.load_state_dict(base.state_dict(), strict=False)  # LN gains stay 1
        fns[name] = step_fn(layer, x, device)
        paths[name] = layer.forward_path()
    for fn in fns.values():  # warm up
        fn()
        fn()
    names = list(fns)
    samples: dict[str, list[float]] = {n: [] for n in names}
    start, r = time.perf_counter(), 0
    while time.perf_counter() - start < seconds or r < 3:
        order = names[r % len(names) :] + names[: r % len(names)]
        for n, s in measure_interleaved({n: fns[n] for n in order}, repeat=1, warmup=0).items():
            samples[n].append(s)
        r += 1
    med = {n: sorted(v)[len(v) // 2] for n, v in samples.items()}
    label = f"T={steps} B={batch} H={hidden} L={layers}"
    return [
        [label, n, paths[n], med[n] * 1e3, med[n] / med["fused"], len(samples[n])] for n in names
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=20.0, help="time budget per size")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else SIZES
    seconds = 1.0 if args.quick else args.seconds
    rows = [row for size in sizes for row in bench(size, args.device, seconds)]
    threads = torch.get_num_threads()
    print(f"device={args.device} torch={torch.__version__} threads={threads} (median times)")
    print(table(["size", "variant", "path", "ms", "/ fused", "rounds"], rows))


if __name__ == "__main__":
    main()
