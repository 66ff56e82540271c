"""Tiny Shakespeare char LM with every registered cell at an equal wall-clock budget.

Each distinct registered cell (``rnnkit.nn.registry.cell_names()``; a name that is the same
layer as another, rnn_tanh = rnn, runs once) trains the ``shakespeare`` preset (2 layers,
embedding 128, dropout 0.2, Adam 2e-3, clip 1, bptt 100, batch 32) with its H chosen so the
whole model has the parameter count closest to ``--params`` (printed), for ``--budget``
seconds of wall-clock training on 1 torch thread, no validation during training; then the
validation loss (nats/char) of the last weights. Per cell this is

    rnnkit lm train --preset shakespeare --cell X --hidden_size H --max_time S

run in-process (the Python API of the same run life cycle). One seed (0). A wall-clock
budget on a shared machine is only as equal as the load: the load average is printed.

    nice -n 10 python benchmarks/lm_cells.py --budget 45
    python benchmarks/lm_cells.py --budget 120 --cells lstm mlstm slstm rglru
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.models import LanguageModel  # noqa: E402
from rnnkit.tasks.lm import TextLM  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402
from synthetic import distinct_cells  # noqa: E402

PRESET = "shakespeare"


def count(cell: str, hidden: int, vocab: int) -> int:
    """Parameters of the preset's LM with ``cell`` and H = ``hidden``."""
    model_cfg, _ = TextLM.configs(PRESET, {"cell": cell, "hidden_size": hidden}, None)
    return sum(p.numel() for p in LanguageModel(vocab, model_cfg).parameters())


def pick_hidden(cell: str, target: int, vocab: int) -> tuple[int, int]:
    """The H (a multiple of 4, so the xLSTM's 4 heads divide it) whose model has the
    parameter count closest to ``target``, and that count."""
    lo, hi = 1, 256  # H = 4 * k, k in [lo, hi]
    while lo < hi:  # the smallest k with count >= target
        mid = (lo + hi) // 2
        if count(cell, 4 * mid, vocab) >= target:
            hi = mid
        else:
            lo = mid + 1
    options = [(abs(count(cell, 4 * k, vocab) - target), 4 * k) for k in {max(lo - 1, 1), lo}]
    hidden = min(options)[1]
    return hidden, count(cell, hidden, vocab)


def run_cell(cell: str, hidden: int, args: argparse.Namespace) -> dict[str, float]:
    run_dir = Path(args.run_root) / cell
    shutil.rmtree(run_dir, ignore_errors=True)
    lm = TextLM.create(PRESET, model={"cell": cell, "hidden_size": hidden}, seed=args.seed)
    train = {
        **load_preset("lm", PRESET)["train"],
        "max_time": args.budget,
        "eval_every": None,
        "progress": False,
        "seed": args.seed,
    }
    result = lm.fit(run_dir, train)
    start = time.monotonic()
    valid = lm.evaluate("valid")
    return {
        "loss": valid["loss"],
        "steps": int(result["step"]),
        "eval_s": time.monotonic() - start,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=None, help="default: every registered cell")
    p.add_argument("--budget", type=float, default=45.0, help="wall-clock training seconds")
    p.add_argument("--params", type=int, default=150_000, help="target parameter count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-root", default="runs/bench-lm-cells")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    cells = args.cells or distinct_cells()
    vocab = len(TextLM.create(PRESET, model={"hidden_size": 4}).vocab)
    load = os.getloadavg()[0]
    print(f"Tiny Shakespeare char LM, preset {PRESET}, {args.budget:g} s wall-clock training "
          f"per cell, 1 thread, target {args.params} parameters, seed {args.seed}, "
          f"V = {vocab}, torch {torch.__version__}, load {load:.1f}")  # fmt: skip
    rows = []
    for cell in cells:
        hidden, n = pick_hidden(cell, args.params, vocab)
        r = run_cell(cell, hidden, args)
        print(f"  {cell:8s} H {hidden:4d} params {n:7d} steps {r['steps']:5d} "
              f"val {r['loss']:.3f} nats/char", flush=True)  # fmt: skip
        rows.append([cell, hidden, f"{n:,}", r["steps"], f"{r['loss']:.3f}"])
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(table(["cell", "H", "params", "steps", "val loss (nats/char)"], rows))


if __name__ == "__main__":
    main()
