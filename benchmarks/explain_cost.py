"""The cost of `rnnkit explain report`: seconds and peak memory on two language-model runs.

Trains (or reuses) two runs: the demo preset (char LSTM 2 x 256 on the Python docs,
``--max-steps 200``) and the PTB-small preset (word LSTM 2 x 200, V = 10,000,
``--max-steps 20``: the cost of explaining does not depend on how well it was trained).
Each report is then written in a fresh child process, which measures the seconds of
loading the run and of ``write_report`` (gradients, gates, neurons with their figures) and
its peak resident memory (``resource.getrusage``, ru_maxrss) before and after the report.
tracemalloc is not used: it sees Python objects only, not torch's tensors, which are the
memory here. Prints a markdown table.

    nice -n 5 python benchmarks/explain_cost.py [--root /tmp/explain-cost] [--threads 1]

Offline, point ``RNNKIT_DATA_DIR`` at a folder holding the data sets (``ptb/``); a run that an
earlier attempt left short of its steps is resumed, a finished one reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RUNS = {
    "demo": ["--preset", "demo", "--max-steps", "200"],
    "ptb-small": ["--preset", "ptb-small", "--max-steps", "20"],
}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(run: str, out: str, threads: int) -> None:
    """Measure one report in this process; print one JSON line."""
    import torch

    torch.set_num_threads(threads)
    from rnnkit.explain.report import write_report
    from rnnkit.tasks.run import load_run

    start = time.perf_counter()
    task = load_run(run)
    loaded, rss_loaded = time.perf_counter() - start, _rss_mib()
    start = time.perf_counter()
    write_report(task, out)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in Path(out).iterdir()) / 2**20
    params = sum(p.numel() for p in task.model.parameters())
    row = {"load_s": loaded, "report_s": seconds, "rss_loaded": rss_loaded}
    print(json.dumps({**row, "rss_peak": _rss_mib(), "out_mib": size, "params": params}))


def _trained_steps(run: Path) -> int:
    """Steps in the run's last checkpoint (0 when it has none)."""
    state = run / "last" / "trainer.json"
    return json.loads(state.read_text())["step"] if state.is_file() else 0


def _train(run: Path, flags: list[str]) -> None:
    """Train the run, resume it when an earlier attempt stopped short, reuse it when done."""
    target = int(flags[flags.index("--max-steps") + 1])
    started = (run / "config.json").is_file()
    if started and _trained_steps(run) >= target:
        return
    train = [sys.executable, "-m", "rnnkit.cli.main", "lm", "train", *flags]
    resume = ["--resume", "true"] if started and _trained_steps(run) > 0 else []
    command = [*train, *resume, "--run-dir", str(run), "--device", "cpu"]
    subprocess.run(command, check=True, stdout=sys.stderr)  # stdout: the table alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/tmp/explain-cost")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("RUN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.threads)
        return
    root = Path(args.root)
    rows = []
    for name, flags in RUNS.items():
        run = root / name
        _train(run, flags)
        me = [sys.executable, __file__, "--threads", str(args.threads)]
        done = subprocess.run(
            [*me, "--child", str(run), str(root / f"{name}-explain")],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            f"| {name} | {r['params']:,} | {r['load_s']:.1f} | {r['report_s']:.1f} | "
            f"{r['rss_loaded']:.0f} | {r['rss_peak']:.0f} | {r['out_mib']:.1f} |"
        )
    print(f"`explain report` cost ({args.threads} torch thread(s), CPU, batch 8)\n")
    cols = ("run", "parameters", "load s", "report s", "RSS after load MiB", "peak RSS MiB")
    print("| " + " | ".join([*cols, "files MiB"]) + " |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
