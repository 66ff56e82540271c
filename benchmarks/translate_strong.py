"""The "strong" translation preset on fra.txt, trained for a wall-clock budget and scored.

Trains the strong preset (English->French, every pair up to 15 tokens, no prefix filter)
for ``--max-time`` seconds, then decodes the test split with greedy search and with beam 5
and reports corpus BLEU (sacreBLEU, 13a) and chrF as :func:`rnnkit.tasks.translate.evaluate`
computes them, plus the machine's load average (the CPU may be shared).

    .venv/bin/python benchmarks/translate_strong.py --max-time 1500 --eval-limit 2000

``--eval-limit N`` scores the first N pairs of the (deterministic, seeded) test split;
0 scores all of it. RNNKIT_DATA_DIR defaults to /work/shared/data.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("RNNKIT_DATA_DIR", "/work/shared/data")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402
from rnnkit.tasks.translate import evaluate, train  # noqa: E402


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-time", type=float, default=1500.0, help="training seconds")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-limit", type=int, default=2000, help="first N test pairs; 0: all")
    p.add_argument("--reverse", action="store_true", help="French->English")
    p.add_argument("--keep", default=None, help="keep the run directory here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    limit = args.eval_limit or None
    loads = {"start": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.keep or tmp) / "strong"
        t0 = time.perf_counter()
        fit = train("strong", str(run), reverse=args.reverse, max_time=args.max_time,
                    progress=False)  # fmt: skip
        train_wall = time.perf_counter() - t0
        loads["after training"] = _load()
        greedy = evaluate(str(run), method="greedy", attention_plots=0, limit=limit)
        beam = evaluate(str(run), method="beam", beam_size=5, attention_plots=0, limit=limit)
        loads["after evaluation"] = _load()
    batch = load_preset("translate", "strong")["translate"]["batch_size"]
    epochs_done = fit["step"] * batch / fit["train_pairs"]  # ~, batches are length-bucketed
    test_note = f"{greedy['pairs']}" + (
        f" (first {limit} of {fit['test_pairs']})" if limit and limit < fit["test_pairs"] else ""
    )
    header = [
        "train pairs", "test pairs", "steps", "epochs", "train s", "val ppl",
        "BLEU greedy", "BLEU beam 5", "chrF greedy", "chrF beam 5", "test ppl",
    ]  # fmt: skip
    row = [
        fit["train_pairs"], test_note, fit["step"], f"{epochs_done:.2f}",
        f"{fit['elapsed']:.0f}", f"{fit.get('val_perplexity', float('nan')):.2f}",
        f"{greedy['bleu']:.1f}", f"{beam['bleu']:.1f}", f"{greedy['chrf']:.1f}",
        f"{beam['chrf']:.1f}", f"{beam['perplexity']:.2f}",
    ]  # fmt: skip
    direction = "fr-en" if args.reverse else "en-fr"
    print(f"strong preset, {direction}, threads {args.threads}, budget {args.max_time:.0f} s, "
          f"train wall {train_wall:.0f} s, eval {greedy['seconds']:.0f} s greedy + "
          f"{beam['seconds']:.0f} s beam")  # fmt: skip
    print("load average (1/5/15 min): " + "; ".join(f"{k} {v}" for k, v in loads.items()))
    print(table(header, [row]))


if __name__ == "__main__":
    main()
