"""Translation quality on fra.txt with the PyTorch tutorial's filter, measured in one run.

For English->French and French->English, trains the same encoder-decoder with and without
attention (same data, sizes, seed and time budget), then reports test BLEU (sacreBLEU, 13a)
with greedy decoding and with beam 5, chrF, test perplexity and the training time.

    .venv/bin/python benchmarks/translate_quality.py --max-time 150 --threads 2

The tutorial's filter: pairs under 10 tokens per side whose English side starts with
"i am", "he is", "she is", "you are", "we are", "they are" (or the contracted forms).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.translate import evaluate, train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tutorial", help="tutorial (filtered) or strong")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--max-time", type=float, default=150.0, help="training seconds per model")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--directions", default="en-fr,fr-en")
    p.add_argument("--attention", default="general,none")
    p.add_argument("--max-pairs", type=int, default=None)
    p.add_argument("--keep", default=None, help="keep the run directories here")
    p.add_argument("--eval-limit", type=int, default=None, help="score the first N test pairs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.keep or tmp
        for direction in args.directions.split(","):
            for attention in args.attention.split(","):
                run = Path(tmp) / f"{direction}-{attention}"
                t0 = time.perf_counter()
                fit = train(
                    args.preset, str(run), reverse=direction == "fr-en", attention=attention,
                    hidden_size=args.hidden, epochs=args.epochs, max_time=args.max_time,
                    max_pairs=args.max_pairs, progress=False,
                )  # fmt: skip
                wall = time.perf_counter() - t0
                lim = args.eval_limit
                greedy = evaluate(str(run), method="greedy", attention_plots=0, limit=lim)
                beam = evaluate(str(run), method="beam", beam_size=5, attention_plots=0, limit=lim)
                rows.append([
                    direction, attention, fit["train_pairs"], greedy["pairs"], fit["epoch"],
                    fit["step"], f"{fit['elapsed']:.0f}", f"{wall:.0f}", f"{greedy['bleu']:.1f}",
                    f"{beam['bleu']:.1f}", f"{beam['chrf']:.1f}", f"{beam['perplexity']:.2f}",
                ])  # fmt: skip
                print(rows[-1], file=sys.stderr, flush=True)
    header = [
        "direction", "attention", "train pairs", "test pairs", "epochs", "steps", "train s",
        "wall s", "BLEU greedy", "BLEU beam 5", "chrF beam 5", "test ppl",
    ]  # fmt: skip
    print(f"threads: {args.threads}, hidden {args.hidden}, budget {args.max_time:.0f} s/model")
    print(table(header, rows))


if __name__ == "__main__":
    main()
