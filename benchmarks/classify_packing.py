"""Packing speed-up: time per training epoch, bucketed+packed vs padded batches, same run.

    .venv/bin/python benchmarks/classify_packing.py [--n 2000] [--repeat 3]

rt-polarity sentences (1 to ~60 tokens: widely varying lengths). Each variant trains the same
LSTM classifier for one epoch (forward, backward, Adam step); the variants are timed
interleaved so machine noise hits them alike. ``padded`` runs the RNN over the whole padded
grid (``packed=False``); ``packed`` runs a PackedSequence. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402
from rnnkit.data.bucketing import BucketLoader  # noqa: E402
from rnnkit.data.classification import InputEncoder, LabelMap, read_rt_polarity  # noqa: E402
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="sentences")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = read_rt_polarity(ROOT.parent / "shared" / "data" / "rt-polarity")
    gen = torch.Generator().manual_seed(0)
    data = data.subset(torch.randperm(len(data), generator=gen)[: args.n].tolist())
    enc = InputEncoder("text").fit(data)
    x = enc.encode(data)
    y, _ = LabelMap.fit(data.labels).encode(data.labels)
    lengths = [len(s) for s in x]
    cfg = ClassifierConfig(
        num_classes=2, vocab_size=enc.vocab_size, embedding_dim=64, hidden_size=args.hidden_size
    )
    torch.manual_seed(0)
    model = SequenceClassifier(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loaders = {
        "bucketed": BucketLoader(x, y, args.batch_size, bucket=True),
        "random": BucketLoader(x, y, args.batch_size, bucket=False),
    }

    def epoch(loader: BucketLoader, packed: bool) -> None:
        for batch in loader:
            loss = F.cross_entropy(model(batch.x, batch.lengths, packed=packed), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    variants = {
        "random batches, padded": (loaders["random"], False),
        "random batches, packed": (loaders["random"], True),
        "bucketed, padded": (loaders["bucketed"], False),
        "bucketed, packed": (loaders["bucketed"], True),
    }
    times = measure_interleaved(
        {k: (lambda v=v: epoch(*v)) for k, v in variants.items()}, repeat=args.repeat, warmup=1
    )
    base = times["random batches, padded"]
    rows = []
    for name, (loader, packed) in variants.items():
        st = loader.padding_stats()
        computed = st["valid_steps"] if packed else st["grid_steps"]
        rows.append(
            [
                name,
                f"{100 * st['padded_fraction']:.1f}%",
                int(computed),
                times[name],
                f"{base / times[name]:.2f}x",
            ]
        )
    print(
        f"rt-polarity, {len(x)} sentences, lengths {min(lengths)}-{max(lengths)} tokens, "
        f"LSTM H={args.hidden_size}, batch {args.batch_size}, {args.threads} thread(s)\n"
    )
    print(
        table(
            [
                "batching",
                "padded share of grid",
                "steps computed",
                "s / epoch",
                "speed-up vs random padded",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
