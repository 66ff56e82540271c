"""Kim (2014) CNN-rand in plain PyTorch, on the splits rnnkit's text benchmark uses.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kim_cnn_rand.py \
        [--sets trec rt-polarity] [--seeds 0 1 2] [--epochs 25] [--threads 1]

The reference that benchmarks/classify_text.py compares rnnkit's defaults with, run here at
the published configuration instead of quoted only: Kim, "Convolutional Neural Networks for
Sentence Classification" (EMNLP 2014), CNN-rand, written from the paper's description with
``torch.nn`` only (no rnnkit model). Published CNN-rand test accuracy: MR 76.1 (10-fold
cross-validation), TREC 91.2 (official 500-question test set).

Configuration (paper sections 2 and 3.1): 300-d word vectors drawn from U[-0.25, 0.25] and
trained; convolutions of widths 3, 4, 5 with 100 feature maps each, ReLU, max-over-time
pooling; dropout 0.5 on the concatenated 300-d vector; a linear softmax layer whose weight
rows are rescaled to l2 norm 3 whenever a step leaves them longer; mini-batches of 50;
Adadelta (rho 0.95, eps 1e-6, lr 1.0); 25 epochs; the test accuracy reported is the one at
the epoch of best validation accuracy (the first such epoch).

Data: ``rnnkit.data.classify_sources.load_data`` with the ``default`` preset's fractions, so
the sets are those of ``rnnkit classify train --data NAME --seed S``: TREC's official test
set and 10% of train_5500 for validation; rt-polarity (Kim's MR) a stratified 10% test and
10% of the rest for validation, both drawn with the seed.

Tokens: letters, digits and apostrophes make words; the clitics 's 've 're 'd 'll 'm n't are
split off; ( ) , ! ? are tokens of their own; every other character separates tokens (as
Kim's preprocessing blanks it). Lowercased for MR; TREC keeps its case.

Deviations from the paper:
- Vocabulary: every word of the training split. A word seen only in validation or test
  maps to one UNK vector, random and never trained. Kim built the vocabulary over all the
  data, giving each unseen word its own untrained random vector: for random embeddings the
  two carry the same information (none).
- Padding: each mini-batch is padded with zero vectors to its longest sentence, plus 4 on
  either side (widest filter - 1), instead of to the corpus's longest sentence; only the
  count of all-padding windows differs.
- MR is one seeded 80/10/10 split per seed, not 10-fold cross-validation.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import mean_sd, table  # noqa: E402

__all__ = ["KimCNN", "encode", "fit", "max_norm_", "run", "tokenize", "vocabulary"]

logger = logging.getLogger(__name__)

PUBLISHED = {"rt-polarity": 76.1, "trec": 91.2}  # Kim 2014 CNN-rand, test accuracy %
PAD, UNK = 0, 1
_OTHER = re.compile(r"[^A-Za-z0-9'(),!?]")  # characters that only separate tokens
_CLITIC = re.compile(r"(?i)(n't|'s|'ve|'re|'d|'ll|'m)\b")
_MARK = re.compile(r"([(),!?])")


def tokenize(text: str, *, lower: bool) -> list[str]:
    """Words, split-off clitics (``'s``, ``n't``, ...) and ( ) , ! ? of ``text``."""
    text = _MARK.sub(r" \1 ", _CLITIC.sub(r" \1", _OTHER.sub(" ", text)))
    words = text.lower().split() if lower else text.split()
    return [w for w in words if w.strip("'")]  # a lone quote mark is no word


def vocabulary(sentences: Sequence[Sequence[str]]) -> dict[str, int]:
    """``{word: id}`` of every word in ``sentences``; ids 0 (padding) and 1 (UNK) reserved."""
    vocab: dict[str, int] = {}
    for words in sentences:
        for w in words:
            vocab.setdefault(w, len(vocab) + 2)
    return vocab


def encode(sentences: Sequence[Sequence[str]], vocab: dict[str, int], pad: int) -> torch.Tensor:
    """Token ids ``(B, pad + T + pad)``, ``T`` the longest sentence: ``pad`` zeros in front,
    zeros after each sentence; words not in ``vocab`` are UNK."""
    longest = max(1, *(len(s) for s in sentences))
    ids = torch.zeros(len(sentences), longest + 2 * pad, dtype=torch.long)
    for i, words in enumerate(sentences):
        row = [vocab.get(w, UNK) for w in words]
        ids[i, pad : pad + len(row)] = torch.tensor(row, dtype=torch.long)
    return ids


class KimCNN(nn.Module):
    """Embedding -> convolutions of several widths -> ReLU -> max over time -> dropout -> linear.

    Args:
        vocab_size: V, ids included (0 is padding, a zero vector never trained).
        num_classes: C.
        embed_dim, widths, maps, dropout: Kim's 300, (3, 4, 5), 100, 0.5.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 300,
        widths: Sequence[int] = (3, 4, 5),
        maps: int = 100,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        with torch.no_grad():
            self.embed.weight.uniform_(-0.25, 0.25)
            self.embed.weight[PAD].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, maps, w) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(maps * len(widths), num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) with T >= the widest filter -> logits (B, C)."""
        x = self.embed(ids).transpose(1, 2)  # (B, E, T): channels first for Conv1d
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]  # each (B, maps)
        return self.out(self.dropout(torch.cat(pooled, dim=1)))  # (B, C)


def max_norm_(weight: torch.Tensor, s: float = 3.0) -> None:
    """Rescale, in place, each row of ``weight`` (C, F) whose l2 norm exceeds ``s`` to ``s``."""
    with torch.no_grad():
        norms = weight.norm(dim=1, keepdim=True)  # (C, 1)
        weight.mul_(torch.clamp(s / norms.clamp_min(1e-12), max=1.0))


def accuracy(model: KimCNN, ids: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """Share of rows of ``ids`` (N, T) whose argmax logit is ``labels`` (N,), in eval mode."""
    model.eval()
    with torch.no_grad():
        hits = sum(
            int((model(ids[i : i + batch]).argmax(1) == labels[i : i + batch]).sum())
            for i in range(0, len(ids), batch)
        )
    return hits / max(1, len(ids))


def fit(
    model: KimCNN,
    train: tuple[list[list[str]], torch.Tensor],
    evals: dict[str, tuple[torch.Tensor, torch.Tensor]],
    *,
    vocab: dict[str, int],
    epochs: int = 25,
    batch: int = 50,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train with Adadelta and the max-norm constraint; ``[{name: accuracy}]`` per epoch.

    ``train`` is (tokenised sentences, labels (N,)); ``evals`` maps a name to (ids (N, T),
    labels (N,)), scored after every epoch.
    """
    sentences, labels = train
    pad = max(c.kernel_size[0] for c in model.convs) - 1
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(sentences), generator=gen).tolist()
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            ids = encode([sentences[i] for i in rows], vocab, pad)  # (b, T)
            loss = nn.functional.cross_entropy(model(ids), labels[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            max_norm_(model.out.weight)
        history.append({name: accuracy(model, *data) for name, data in evals.items()})
        logger.info("epoch %d: %s", epoch + 1, history[-1])
    return history


def run(name: str, seed: int, epochs: int) -> dict[str, float]:
    """Test accuracy % at the best validation epoch, that epoch, and seconds of one run."""
    from rnnkit.data.classify_sources import load_data

    start = time.perf_counter()
    tr, va, te = load_data(name, val_fraction=0.1, test_fraction=0.1, min_val=10, seed=seed)
    if va is None or te is None:
        raise ValueError(f"{name}: expected validation and test sets, got none")
    lower = name != "trec"  # Kim keeps TREC's case
    classes = sorted(set(tr.labels or []))
    torch.manual_seed(seed)  # the model's initial weights and dropout masks
    sets = {
        k: ([tokenize(t, lower=lower) for t in d.items], d.labels)
        for k, d in {"train": tr, "val": va, "test": te}.items()
    }
    vocab = vocabulary(sets["train"][0])
    model = KimCNN(len(vocab) + 2, len(classes))
    pad = max(c.kernel_size[0] for c in model.convs) - 1
    y = {
        k: torch.tensor([classes.index(c) for c in labels or []]) for k, (_, labels) in sets.items()
    }
    evals = {k: (encode(sets[k][0], vocab, pad), y[k]) for k in ("val", "test")}
    history = fit(
        model, (sets["train"][0], y["train"]), evals, vocab=vocab, epochs=epochs, seed=seed
    )
    best = max(range(len(history)), key=lambda e: (history[e]["val"], -e))
    return {
        "acc": 100 * history[best]["test"],
        "val": 100 * history[best]["val"],
        "epoch": best + 1,
        "s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["trec", "rt-polarity"], choices=PUBLISHED)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.sets:
        runs = []
        for seed in args.seeds:
            runs.append(run(name, seed, args.epochs))
            print(
                f"{name} seed {seed}: " + ", ".join(f"{k} {v:.1f}" for k, v in runs[-1].items()),
                flush=True,
            )
        rows.append(
            [
                name,
                mean_sd([r["acc"] for r in runs]),
                " / ".join(f"{r['acc']:.1f}" for r in runs),
                mean_sd([r["val"] for r in runs]),
                " / ".join(str(r["epoch"]) for r in runs),
                f"{PUBLISHED[name]:.1f}",
                f"{np.mean([r['s'] for r in runs]):.0f}",
            ]
        )
    header = ["set", "test acc. %", "per seed", "val acc. %", "best epoch", "Kim CNN-rand"]
    print(table(header + ["s / run"], rows))
    print(
        f"\nseeds {args.seeds}; {args.epochs} epochs; {args.threads} thread(s); "
        "mean ± sample sd over seeds"
    )


if __name__ == "__main__":
    main()
