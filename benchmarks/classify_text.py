"""Sentence classification with the CLI defaults on rt-polarity and TREC, beside Kim 2014.

    .venv/bin/python benchmarks/classify_text.py [--seeds 0 1 2] [--sets rt-polarity trec]

Each run is the command a new user types, ``rnnkit classify train --data NAME --seed S``
(the ``default`` preset, random embeddings), in a subprocess on one CPU thread
(``OMP_NUM_THREADS=1``, i.e. ``torch.set_num_threads(1)``). Test accuracy is read from the
run's ``test.json``:

- ``rt-polarity`` (Pang & Lee 2005, Kim 2014's MR): no official split, so the task's own
  stratified hold-out is used -- 10% test, then 10% of the rest for validation, both drawn
  with ``--seed`` (so each seed also draws a different test set). Kim 2014 reports 10-fold
  cross-validation.
- ``trec`` (Li & Roth 2002, TREC-6): the official ``TREC_10.label`` test set (500
  questions); validation is 10% of ``train_5500.label``.
- ``trec-fine`` (``--data trec --fine-labels true``, 50 classes): a check on a label set the
  defaults were not tuned on. Kim 2014 has no TREC-50 figure.

Kim 2014 CNN-rand (random embeddings): MR 76.1, TREC 91.2; CNN-static (word2vec): MR 81.0,
TREC 92.8. Beside the published figures, CNN-rand itself runs in the same process on the
same splits (``benchmarks/kim_cnn_rand.py``: plain PyTorch at the paper's configuration,
one thread), alternating with rnnkit seed by seed, so both see the same machine load
(``--no-reference`` skips it). Data come from ../shared/data (RNNKIT_DATA_DIR). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kim_cnn_rand  # noqa: E402
from _timing import mean_sd, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))

# name -> (CLI arguments, Kim 2014 CNN-rand, Kim 2014 CNN-static), figures in %
SETS: dict[str, tuple[list[str], float | None, float | None]] = {
    "rt-polarity": (["--data", "rt-polarity"], 76.1, 81.0),
    "trec": (["--data", "trec"], 91.2, 92.8),
    "trec-fine": (["--data", "trec", "--fine-labels", "true"], None, None),
}


def run_cli(args: list[str], seed: int, extra: list[str]) -> dict[str, object]:
    """Test accuracy, seconds, steps and stop reason of one ``rnnkit classify train`` run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "rnnkit.cli.main", "classify", "train", *args]
        cmd += ["--run-dir", str(run), "--seed", str(seed), *extra]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed (exit {done.returncode}):\n"
                f"{done.stdout[-1000:]}\n{done.stderr[-2000:]}"
            )
        acc = json.loads((run / "test.json").read_text())["accuracy"]
        val = json.loads((run / "val.json").read_text())["accuracy"]
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("trained ")), "")
    steps = line.split()[1] if line else "?"
    stop = line.partition("(")[2].partition(")")[0]
    found = next((ln for ln in done.stdout.splitlines() if " words found in " in ln), "")
    out = {"acc": 100 * acc, "val": 100 * val, "s": seconds, "steps": steps, "stop": stop}
    return {**out, "coverage": found} if found else out  # with --embeddings: its coverage line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=["rt-polarity", "trec"], choices=list(SETS))
    parser.add_argument("--max-time", type=float, default=None, help="seconds per run (cap)")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the same-run CNN-rand reference"
    )
    args = parser.parse_args()
    extra = [] if args.max_time is None else ["--max-time", str(args.max_time)]
    torch.set_num_threads(1)  # the reference runs in this process, on one thread as rnnkit
    rows = []
    for name in args.sets:
        cli, rand, static = SETS[name]
        runs, refs = [], []
        for seed in args.seeds:  # alternating: rnnkit, then the reference, seed by seed
            runs.append(run_cli(cli, seed, extra))
            print(f"{name} seed {seed}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
            if rand is not None and not args.no_reference:
                refs.append(kim_cnn_rand.run(name, seed, epochs=25))
                print(f"{name} seed {seed} CNN-rand: {json.dumps(refs[-1])}", file=sys.stderr)
        rows.append(
            [
                name,
                mean_sd([float(r["acc"]) for r in runs]),  # type: ignore[arg-type]
                " / ".join(f"{float(r['acc']):.1f}" for r in runs),  # type: ignore[arg-type]
                mean_sd([float(r["val"]) for r in runs]),  # type: ignore[arg-type]
                mean_sd([r["acc"] for r in refs]) if refs else "-",
                " / ".join(f"{r['acc']:.1f}" for r in refs) if refs else "-",
                "-" if rand is None else f"{rand:.1f}",
                "-" if static is None else f"{static:.1f}",
                " / ".join(str(r["steps"]) for r in runs),
                ", ".join(sorted({str(r["stop"]) for r in runs})),
                f"{np.mean([float(r['s']) for r in runs]):.0f}",  # type: ignore[arg-type]
            ]
        )
    header = ["set", "test acc. %", "per seed", "val acc. %", "CNN-rand here", "per seed"]
    header += ["Kim CNN-rand", "Kim CNN-static", "steps", "stopped by", "s / run"]
    print(table(header, rows))
    print(f"\nseeds {args.seeds}; one CPU thread per run; mean ± sample sd over seeds")


if __name__ == "__main__":
    main()
