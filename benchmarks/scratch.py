"""One training step (forward + backward) of rnnkit.scratch vs torch's fused CPU LSTM.

Run: ``python benchmarks/scratch.py`` (options: ``--threads``, ``--repeat``, ``--T``, ``--B``,
``--H``, ``--layers``). ``--threads N`` pins both torch and NumPy's BLAS to N threads (it
must be set before NumPy loads, so the script imports NumPy and torch after parsing).
Prints a Markdown table: median milliseconds of each, measured interleaved in the same run,
and the ratio scratch / torch (1.0 = as fast; the target is <= 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402


def steps(T: int, B: int, H: int, L: int, dtype: str):
    """(scratch step, torch step) closures on the same weights and data."""
    import numpy as np
    import torch

    from rnnkit.scratch import LSTM

    rng = np.random.default_rng(0)
    net = LSTM(H, H, L, dtype=getattr(np, dtype), rng=rng)
    tnet = torch.nn.LSTM(H, H, L, dtype=getattr(torch, dtype))
    tnet.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
    x = rng.standard_normal((T, B, H)).astype(dtype)  # (T, B, I) with I = H
    dy = rng.standard_normal((T, B, H)).astype(dtype)  # gradient of the loss w.r.t. y
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)

    def scratch_step() -> None:
        net.zero_grad()
        y, _ = net.forward(x)
        net.backward(dy)

    def torch_step() -> None:
        tnet.zero_grad()
        y, _ = tnet(xt)
        y.backward(dyt)

    return scratch_step, torch_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--T", type=int, default=35)
    ap.add_argument("--B", type=int, default=20)
    ap.add_argument("--H", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="0: the libraries' defaults")
    args = ap.parse_args()
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for dtype in ("float64", "float32"):
        s, t = steps(args.T, args.B, args.H, args.layers, dtype)
        ms = measure_interleaved({"scratch": s, "torch": t}, repeat=args.repeat)
        rows.append(
            [dtype, 1e3 * ms["scratch"], 1e3 * ms["torch"], f"{ms['scratch'] / ms['torch']:.2f}x"]
        )
    print(
        f"LSTM T={args.T} B={args.B} I=H={args.H} L={args.layers}, forward+backward, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__} "
        f"(BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}), "
        f"{os.cpu_count()} CPUs\n"
    )
    print(table(["dtype", "scratch ms", "torch fused ms", "scratch / torch"], rows))


if __name__ == "__main__":
    main()
