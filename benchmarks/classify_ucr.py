"""Series classification with the CLI defaults on four UEA/UCR sets, beside 1-NN DTW and
InceptionTime.

    .venv/bin/python benchmarks/classify_ucr.py [--max-time 300] [--seeds 0 1] [--dtw-long]

Each run is the command a new user types, ``rnnkit classify train --data NAME`` (the
``series`` preset: LSTM-FCN on z-normalised series, early stopping on validation accuracy),
plus ``--max-time`` so the table fits a shared CPU, on one thread. Test accuracy is on the
official ``_TEST.ts`` split. 1-NN DTW (dependent multivariate DTW, full window;
univariate series z-normalised) is computed here with a vectorised NumPy DTW for the short sets;
``--dtw-long`` adds ACSF1 with a 10% Sakoe-Chiba window (about a minute); PLAID's 288k
pairs of up to 1,344 steps are too costly here. InceptionTime: Fawaz et al. 2019
(univariate UCR results; the multivariate sets are not in that table).
Data come from ../shared/data (RNNKIT_DATA_DIR). Prints a Markdown table.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))

# name -> InceptionTime test accuracy (Fawaz et al. 2019), None where not published there
SETS = {"ACSF1": 0.92, "PLAID": 0.944, "JapaneseVowels": None, "BasicMotions": None}
SHORT = ("JapaneseVowels", "BasicMotions")


def dtw_1nn(train: list, train_y: list, test: list, test_y: list, window: float | None) -> float:
    """Accuracy of 1-NN under DTW (squared-error cost, dependent over channels).

    Vectorised over all (test, train) pairs: one padded grid per pair, filled row by row;
    a pair's distance is read at its own (length_a, length_b) corner, which padding never
    reaches. ``window``: Sakoe-Chiba band as a fraction of the length (None: full).
    """
    la, lb = np.array([len(s) for s in test]), np.array([len(s) for s in train])
    t1, t2 = la.max(), lb.max()
    a = np.zeros((len(test), t1, test[0].shape[1]))
    b = np.zeros((len(train), t2, train[0].shape[1]))
    for i, s in enumerate(test):
        a[i, : len(s)] = s
    for i, s in enumerate(train):
        b[i, : len(s)] = s
    band = None if window is None else max(1, int(window * max(t1, t2)))
    best = np.full(len(test), np.inf)
    pred = np.zeros(len(test), dtype=int)
    for k in range(len(train)):  # one training series against every test series at a time
        prev = np.full((len(test), t2 + 1), np.inf)
        prev[:, 0] = 0.0
        dist = np.full(len(test), np.inf)
        for i in range(t1):
            cost = ((a[:, i, None, :] - b[k][None]) ** 2).sum(-1)  # (N_test, T2)
            cur = np.full((len(test), t2 + 1), np.inf)
            lo, hi = (0, t2) if band is None else (max(0, i - band), min(t2, i + band + 1))
            for j in range(lo, hi):
                cur[:, j + 1] = cost[:, j] + np.minimum(
                    np.minimum(prev[:, j], prev[:, j + 1]), cur[:, j]
                )
            ends = la == i + 1
            dist[ends] = cur[ends, lb[k]]
            prev = cur
        closer = dist < best
        best[closer], pred[closer] = dist[closer], k
    return float(np.mean(np.array(train_y)[pred] == np.array(test_y)))


def dtw_figure(name: str) -> float:
    from rnnkit.data.classify_sources import split_data
    from rnnkit.data.series_norm import znormalize

    split = split_data(name, val_fraction=0.0)
    assert split.test is not None
    window = None if name in SHORT else 0.1
    train, test = split.train.items, split.test.items
    if train[0].shape[1] == 1:  # univariate: z-normalised, as the UCR archive results are
        train, test = znormalize(train), znormalize(test)
    return dtw_1nn(train, split.train.labels, test, split.test.labels, window)


def run_cli(name: str, seed: int, max_time: float) -> tuple[float, float, str]:
    """Test accuracy, seconds and the stop reason of ``rnnkit classify train --data name``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "rnnkit.cli.main", "classify", "train", "--data", name]
        cmd += ["--run-dir", str(run), "--seed", str(seed), "--max-time", str(max_time)]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        acc = json.loads((run / "test.json").read_text())["accuracy"]
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("trained ")), "")
    return acc, seconds, line.partition("(")[2].partition(")")[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-time", type=float, default=300.0, help="seconds per training run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--dtw-long", action="store_true", help="also 1-NN DTW on ACSF1")
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        accs, secs, stops = [], [], []
        for seed in args.seeds:
            acc, seconds, stop = run_cli(name, seed, args.max_time)
            accs.append(acc)
            secs.append(seconds)
            stops.append(stop)
        dtw = "-"
        if name in SHORT or (args.dtw_long and name == "ACSF1"):
            dtw = f"{dtw_figure(name):.3f}"
        mean = f"{np.mean(accs):.3f}" + (f" ± {np.std(accs):.3f}" if len(accs) > 1 else "")
        inception = SETS.get(name)
        rows.append(
            [
                name,
                mean,
                dtw,
                "-" if inception is None else f"{inception:.3f}",
                ", ".join(sorted(set(stops))),
                f"{np.mean(secs):.0f}",
            ]
        )
    header = ["set", "rnnkit defaults", "1-NN DTW", "InceptionTime", "stopped by", "s / run"]
    print(table(header, rows))
    print(f"\nseeds {args.seeds}; --max-time {args.max_time:g} s per run, one CPU thread")


if __name__ == "__main__":
    main()
