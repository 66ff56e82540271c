"""Tiny Shakespeare, char level: the ``shakespeare`` preset trained for a wall-clock budget.

Trains rnnkit's ``shakespeare`` preset (char LSTM 2x512, embedding 128, dropout 0.2, Adam
2e-3, clip 1, bptt 100, batch 32; last 10% of the text for validation, 1% for test) for
``--budget`` seconds of training (default 600: the issue's "10 minutes of CPU training"),
then prints the validation loss of the best checkpoint in nats and bits per character,
how far training got, the machine's load average, and a sample. The figure depends on how
much CPU the run gets: on a shared machine report the load with it.

    python benchmarks/lm_shakespeare.py                  # 10 minutes
    python benchmarks/lm_shakespeare.py --budget 60      # a quick look
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.lm import TextLM  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds")
    parser.add_argument("--run-dir", default="runs/bench-shakespeare")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--prompt", default="ROMEO:\n")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    shutil.rmtree(args.run_dir, ignore_errors=True)
    load_before = os.getloadavg()
    lm = TextLM.create("shakespeare", seed=0)
    train = {
        **load_preset("lm", "shakespeare")["train"],
        "max_time": args.budget,
        "progress": False,
    }
    result = lm.fit(args.run_dir, train)  # leaves the best checkpoint loaded
    load_after = os.getloadavg()
    valid = lm.evaluate("valid")
    steps = int(result["step"])
    dc = lm.data_config
    print(
        f"Tiny Shakespeare, char level, preset shakespeare, {args.budget:.0f} s budget, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min), "
        f"{os.cpu_count()} CPUs"
    )
    print(
        table(
            [
                "steps",
                "chars trained on",
                "epochs",
                "val loss (nats)",
                "val bits/char",
                "val ppl",
                "test bits/char",
            ],
            [
                [
                    steps,
                    f"{steps * dc.batch_size * dc.bptt:,}",
                    f"{steps * dc.batch_size * dc.bptt / lm.corpus.splits['train'].numel():.2f}",
                    valid["loss"],
                    valid["loss"] / math.log(2),
                    valid["perplexity"],
                    result["test_bits_per_token"],
                ]
            ],
        )
    )
    sample = lm.generate(args.prompt, 300, temperature=0.8, seed=0)[0]
    print(f"\nsample (temperature 0.8, seed 0):\n{sample}")


if __name__ == "__main__":
    main()
