"""PTB word LM: the ``awd-ptb`` preset (AWD-LSTM recipe) vs ``ptb-small``, same CPU budget.

Both presets train in this process one after the other, each for ``--budget`` seconds of
wall-clock time (TrainConfig.max_time) with their own optimiser settings, validating every
``--eval-every`` steps; the table reports validation and test perplexity (best checkpoint)
and the steps done. AWD-LSTM's published 57.3 test perplexity (Merity et al. 2018, 24M
parameters) takes 500 epochs plus fine-tuning on a GPU (days); a CPU budget of minutes shows
only the start of training, where the larger, heavily regularised model is expected to lag.

    RNNKIT_DATA_DIR=/path/with/ptb python benchmarks/lm_awd.py --budget 600 --threads 1
    python benchmarks/lm_awd.py --budget 60 --max-train-tokens 200000   # a quick look
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.lm import TextLM  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402


def run(preset: str, budget: float, eval_every: int, max_tokens: int | None) -> list:
    lm = TextLM.create(preset, seed=0)
    if max_tokens:  # a shorter training split for quick looks (valid/test stay whole)
        lm.corpus.splits["train"] = lm.corpus.splits["train"][:max_tokens]
    params = sum(p.numel() for p in lm.model.parameters())
    train = {
        **load_preset("lm", preset)["train"],
        "epochs": None,
        "max_time": budget,
        "eval_every": eval_every,
        "progress": False,
        "seed": 0,
    }
    with tempfile.TemporaryDirectory() as run_dir:
        result = lm.fit(run_dir, train)
    valid = lm.evaluate("valid")
    return [
        preset,
        f"{params / 1e6:.1f}M",
        budget,
        result.get("step", result.get("steps", "?")),
        valid["perplexity"],
        result["test_perplexity"],
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per preset")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between validations")
    parser.add_argument("--max-train-tokens", type=int, default=None, help="cut the train split")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [
        run(p, args.budget, args.eval_every, args.max_train_tokens)
        for p in ("ptb-small", "awd-ptb")
    ]
    print(f"torch={torch.__version__} threads={torch.get_num_threads()}")
    print(table(["preset", "params", "budget s", "steps", "valid ppl", "test ppl"], rows))


if __name__ == "__main__":
    main()
