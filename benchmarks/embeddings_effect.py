"""What pretrained word vectors do for sentence classification: random vs ``--embeddings``.

    .venv/bin/python benchmarks/embeddings_effect.py --vectors VECTORS [--seeds 0 1 2]
        [--sets trec rt-polarity] [--freeze] [--max-steps N] [--max-time S]

Each run is ``rnnkit classify train --data NAME --seed S`` with the text classifier's
default settings (the ``default`` preset and its step budget, early stopping on validation
accuracy), run the way :mod:`classify_text` runs it (a subprocess on one CPU thread, test
accuracy from the run's ``test.json``; same splits: TREC-6's official test set,
rt-polarity's seeded stratified hold-out). The rows differ in one thing only:

- ``random``: the embedding table starts random (the default);
- ``vectors``: ``--embeddings VECTORS``, trained on (fine-tuned);
- ``vectors, frozen`` (with ``--freeze``): ``--embeddings VECTORS --freeze-embeddings true``.

Every row runs with ``--embedding-dim`` set to the file's dimension, so the networks are the
same size (without ``--embedding-dim`` an ``--embeddings`` run takes the file's dimension,
the random one the preset's). ``--max-steps`` / ``--max-time`` cap every run alike. The
coverage column is the share of the training vocabulary found in the file (seed 0's run).
Prints a Markdown table (mean ± sample sd over seeds).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from rnnkit.data.word_vectors import load_vectors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import mean_sd, table  # noqa: E402
from classify_text import SETS, run_cli  # noqa: E402

TEXT_SETS = ("trec", "rt-polarity", "trec-fine")


def _coverage(line: str) -> str:
    """``"81.2%"`` from a coverage line ``... words found in FILE (81.2%, ...)``."""
    found = re.search(r"\((\d+(?:\.\d+)?)%", line.partition(" words found in ")[2])
    return f"{found.group(1)}%" if found else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", required=True, help="word2vec text/binary or GloVe file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=["trec", "rt-polarity"], choices=TEXT_SETS)
    parser.add_argument("--freeze", action="store_true", help="also a frozen-vectors row")
    parser.add_argument("--max-steps", type=int, default=None, help="steps per run (cap)")
    parser.add_argument("--max-time", type=float, default=None, help="seconds per run (cap)")
    args = parser.parse_args()
    vectors = str(Path(args.vectors).resolve())
    dim = load_vectors(vectors, limit=1).dim
    budget = ["--embedding-dim", str(dim)]
    budget += [] if args.max_steps is None else ["--max-steps", str(args.max_steps)]
    budget += [] if args.max_time is None else ["--max-time", str(args.max_time)]
    variants = {"random": [], "vectors": ["--embeddings", vectors]}
    if args.freeze:
        variants["vectors, frozen"] = ["--embeddings", vectors, "--freeze-embeddings", "true"]
    rows = []
    for name in args.sets:
        cli = SETS[name][0]
        for variant, flags in variants.items():
            runs = [run_cli(cli, seed, [*budget, *flags]) for seed in args.seeds]
            for seed, r in zip(args.seeds, runs, strict=True):
                print(f"{name} {variant} seed {seed}: {json.dumps(r)}", file=sys.stderr)
            acc = [float(r["acc"]) for r in runs]  # type: ignore[arg-type]
            rows.append([
                name, variant, mean_sd(acc), " / ".join(f"{a:.1f}" for a in acc),
                mean_sd([float(r["val"]) for r in runs]),  # type: ignore[arg-type]
                _coverage(str(runs[0].get("coverage", ""))),
                " / ".join(str(r["steps"]) for r in runs),
            ])  # fmt: skip
    header = ["set", "embeddings", "test acc. %", "per seed", "val acc. %", "coverage", "steps"]
    print(table(header, rows))
    print(
        f"\nvectors: {args.vectors} (dim {dim}); seeds {args.seeds}; embedding_dim {dim} in "
        "every row; one CPU thread per run; mean ± sample sd over seeds"
    )


if __name__ == "__main__":
    main()
