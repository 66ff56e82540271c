"""Sequence-classification quality on real sets, beside published figures.

    .venv/bin/python benchmarks/classify_quality.py [--quick]

Sets: scikit-learn's 8x8 digits read row by row (if scikit-learn is installed),
JapaneseVowels (UEA .ts, official split) and TREC coarse (official 500-question test set).
Data come from ../shared/data (RNNKIT_DATA_DIR). Prints a Markdown table.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.classify import Classifier, load_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))

# name, data source, model options, epochs, published figure (source)
SETS = [
    (
        "digits 8x8 as rows",
        "digits",
        {"hidden_size": 64, "num_layers": 2, "embedding_dim": 32},
        25,
        "issue target: 2-layer LSTM well above 95%",
    ),
    (
        "JapaneseVowels",
        "JapaneseVowels",
        {"hidden_size": 64, "embedding_dim": 32, "bidirectional": True, "pooling": "mean"},
        40,
        "Kudo et al. 1999 (UCI): 94.1%",
    ),
    (
        "TREC (6 coarse)",
        "trec",
        {
            "hidden_size": 128,
            "embedding_dim": 128,
            "bidirectional": True,
            "pooling": "max",
            "dropout": 0.3,
        },
        8,
        "Kim 2014 CNN-rand: 91.2%; Zhou et al. 2015 C-LSTM: 94.6% (pretrained vectors)",
    ),
]


def run(name: str, source: str, model: dict, epochs: int, seed: int) -> tuple[float, float, float]:
    train, val, test = load_data(source, val_fraction=0.1, test_fraction=0.2, seed=seed)
    clf = Classifier(
        model,
        {"epochs": epochs, "lr": 3e-3, "device": "cpu", "seed": seed, "progress": False},
        batch_size=32,
        seed=seed,
    )
    torch.manual_seed(seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clf.fit(train, val, run_dir=Path(tmp) / "run")
    seconds = time.perf_counter() - start
    assert test is not None
    report = clf.evaluate(test)
    return report["accuracy"], report["macro_f1"], seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a quarter of the epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)  # small models on a shared CPU: one thread is fastest
    rows = []
    for name, source, model, epochs, published in SETS:
        epochs = max(1, epochs // 4) if args.quick else epochs
        try:
            acc, f1, seconds = run(name, source, model, epochs, args.seed)
        except ImportError as err:
            rows.append([name, "-", "-", "-", "-", f"skipped: {err}"])
            continue
        rows.append([name, f"{100 * acc:.1f}%", f"{f1:.3f}", epochs, f"{seconds:.0f}", published])
    print(table(["set", "test accuracy", "macro-F1", "epochs", "train s (CPU)", "published"], rows))


if __name__ == "__main__":
    main()
