"""Series classification with the CLI defaults on four UEA/UCR sets, beside 1-NN DTW and
InceptionTime.

    .venv/bin/python benchmarks/classify_ucr.py [--seeds 0 1 2] [--jobs 2] [--max-time S]

Each run is exactly the command a new user types, ``rnnkit classify train --data NAME``
(the ``series`` preset: MiniRocket; ``--preset lstm-fcn`` runs the recurrent model), one
thread per run (``--jobs`` runs side by side), several seeds;
nothing is tuned per set and the official ``_TEST.ts`` split is only read for this table
(checkpoints are chosen on a hold-out of the training file). Reports the mean ± sample sd
of the test accuracy, each seed's figure, the steps taken, why training stopped and the
CPU and wall seconds a run took. 1-NN DTW (dependent multivariate DTW, full window) is
computed here for the two short multivariate sets (it reproduces the UEA archive's DTW_D
figures); for ACSF1 and PLAID (hundreds of thousands of pairs of up to 1,460 steps) the
UCR archive's published full-window figures are quoted. InceptionTime: Fawaz et al. 2019
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import mean_sd, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))

# name -> InceptionTime test accuracy (Fawaz et al. 2019), None where not published there
SETS = {"ACSF1": 0.92, "PLAID": 0.944, "JapaneseVowels": None, "BasicMotions": None}
SHORT = ("JapaneseVowels", "BasicMotions")  # 1-NN DTW computed here
# 1-NN DTW, full window, of the UCR archive's published results (too costly here for these)
PUBLISHED_DTW = {"ACSF1": 0.64, "PLAID": 0.84}


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
    train, test = split.train.items, split.test.items
    if train[0].shape[1] == 1:  # univariate: z-normalised, as the UCR archive results are
        train, test = znormalize(train), znormalize(test)
    return dtw_1nn(train, split.train.labels, test, split.test.labels, None)


def run_cli(
    name: str,
    seed: int,
    max_time: float | None,
    log: Path | None = None,
    preset: str | None = None,
) -> dict[str, object]:
    """Test accuracy, wall and CPU seconds, steps and stop reason of one default run.

    ``log``: append the result there as a JSON line (a stopped benchmark keeps its runs).
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "rnnkit.cli.main", "classify", "train", "--data", name]
        cmd += ["--run-dir", str(run), "--seed", str(seed)]
        cmd += [] if max_time is None else ["--max-time", str(max_time)]
        cmd += [] if preset is None else ["--preset", preset]
        out, err = Path(tmp) / "out.txt", Path(tmp) / "err.txt"
        start = time.perf_counter()
        with out.open("w") as fo, err.open("w") as fe:
            proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.read_text()[-2000:]}")
        acc = json.loads((run / "test.json").read_text())["accuracy"]
        lines = out.read_text().splitlines()
        line = next(
            (ln for ln in lines if ln.startswith(("trained ", "fitted "))), "trained ? steps"
        )
    result = {
        "set": name,
        "seed": seed,
        "acc": acc,
        "wall": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "preset": preset or "defaults",
        "steps": line.split()[1] if line.startswith("trained ") else "0",
        "stop": line.partition("(")[2].partition(")")[0].partition(";")[0],
    }
    if log is not None:
        with log.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return result


def _row(name: str, runs: list[dict[str, object]]) -> list[str]:
    accs = np.array([r["acc"] for r in runs], dtype=float)
    mean = mean_sd(accs.tolist(), digits=3)
    if name in SHORT:
        dtw = f"{dtw_figure(name):.3f}"
    else:
        dtw = f"{PUBLISHED_DTW[name]:.3f}*"
    inception = SETS.get(name)
    return [
        name,
        mean,
        " ".join(f"{a:.3f}" for a in accs),
        dtw,
        "-" if inception is None else f"{inception:.3f}",
        "/".join(str(r["steps"]) for r in runs),
        ", ".join(sorted({str(r["stop"]) for r in runs})),
        f"{np.mean([r['cpu'] for r in runs]):.0f}",
        f"{np.mean([r['wall'] for r in runs]):.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-time", type=float, default=None, help="seconds per run cap")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each)")
    parser.add_argument("--preset", default=None, help="a preset instead of the defaults")
    parser.add_argument("--log", type=Path, default=None, help="append each run here (JSON lines)")
    parser.add_argument("--table-from", type=Path, default=None, help="print a --log's table")
    args = parser.parse_args()
    start = time.perf_counter()
    jobs = [(name, seed) for name in args.sets for seed in args.seeds]
    if args.table_from is not None:  # no training: the runs a --log holds
        runs = [json.loads(line) for line in args.table_from.read_text().splitlines()]
        done = {(r["set"], r["seed"]): r for r in runs}
        jobs = [job for job in jobs if job in done]
        args.seeds = sorted({seed for _, seed in jobs})
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = pool.map(
                lambda job: run_cli(*job, args.max_time, args.log, args.preset), jobs
            )
            done = dict(zip(jobs, results, strict=True))
    rows = [
        _row(name, [done[(name, s)] for s in args.seeds if (name, s) in done])
        for name in args.sets
        if any((name, s) in done for s in args.seeds)
    ]
    who = f"--preset {args.preset}" if args.preset else "defaults"
    header = ["set", f"rnnkit {who} (mean ± sd)", "per seed", "1-NN DTW", "InceptionTime"]
    header += ["steps", "stopped by", "CPU s / run", "wall s / run"]
    print(table(header, rows))
    cap = "no --max-time" if args.max_time is None else f"--max-time {args.max_time:g} s"
    print(
        f"\nseeds {args.seeds}; {cap}; one CPU thread per run, {args.jobs} at once; "
        f"total wall {time.perf_counter() - start:.0f} s. * published (UCR archive, full window)"
    )


if __name__ == "__main__":
    main()
