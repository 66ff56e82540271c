"""The Time Machine, char level, at d2l's setting: a plain-PyTorch d2l run vs rnnkit's preset.

d2l (current edition, "Deep Recurrent Neural Networks", concise implementation) trains a
2-layer GRU with 32 hidden units on one-hot characters: ``d2l.TimeMachine(batch_size=1024,
num_steps=32)``, ``RNNLM(..., lr=2)`` (plain SGD), ``Trainer(max_epochs=100,
gradient_clip_val=1)``. Its data: the book lowercased with every run of non-letters
replaced by one space, cut into characters (vocabulary: 26 letters, space, ``<unk>``);
every overlapping window of 33 characters is an example (input 32, target shifted by one);
the first 10,000 windows are training examples (shuffled, minibatches of 1,024, the state
starts at zero in each) and the next 5,000 the validation examples. So d2l uses only the
first ~15,000 characters of the book, and one "epoch" visits each training character about
32 times (once per window position). The chapter shows the perplexity curve but states no
number.

This script (a) preprocesses the book that way into a temporary folder with d2l's train
and validation characters as ``tm.train.txt`` / ``tm.valid.txt`` (plus the next 5,033
characters as ``tm.test.txt``, which rnnkit requires and d2l does not use), (b) trains a
plain-PyTorch equivalent of d2l's loop, written from the chapter, (c) trains rnnkit's
``timemachine-d2l`` preset on those files with d2l's model, lr, clip and epochs, and
(d) a stronger rnnkit configuration (the ``timemachine`` preset: LSTM 2x256, Adam).

rnnkit reads text as B contiguous streams in BPTT windows with the state carried, so an
rnnkit epoch is one pass over the 10,033 training characters (batch 32 x 32 steps, about
10 steps) where d2l's epoch is 10 steps of 1,024 windows: same epochs and steps, 32 times
fewer characters per step. A 1,024-stream batch cannot be formed from 10,033 characters,
so the table also has an rnnkit row with ``--budget-factor`` times the epochs (32 would be
d2l's token budget; the default 8 is a quarter of it, to fit in ~10 CPU minutes).

Validation perplexity is reported two ways for every model: "d2l windows" (d2l's own
measure: each 32-character validation window from a zero state, mean cross-entropy over all
its targets) and "stream" (rnnkit's measure: 10 streams, 32-step windows, state carried).

    python benchmarks/lm_timemachine.py            # about 10 minutes on a loaded 2-core CPU
    python benchmarks/lm_timemachine.py --epochs 5 --budget-factor 0 --strong-epochs 5  # smoke
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.data.streams import CorpusStream  # noqa: E402
from rnnkit.tasks.lm import TextLM  # noqa: E402

NUM_STEPS, NUM_TRAIN, NUM_VAL, BATCH, LR, CLIP, EPOCHS = 32, 10_000, 5_000, 1024, 2.0, 1.0, 100


def d2l_preprocess(text: str) -> str:
    """d2l's TimeMachine._preprocess: runs of non-letters -> one space, then lowercase."""
    return re.sub("[^A-Za-z]+", " ", text).lower()


def write_splits(text: str, folder: Path) -> dict[str, str]:
    """d2l's train and validation characters as rnnkit split files; returns the texts."""
    n_train_chars = NUM_TRAIN + NUM_STEPS + 1  # windows 0..9999 cover chars 0..10032
    val_end = NUM_TRAIN + NUM_VAL + NUM_STEPS + 1  # windows 10000..14999
    splits = {
        "train": text[:n_train_chars],
        "valid": text[NUM_TRAIN:val_end],
        "test": text[val_end : val_end + NUM_VAL + NUM_STEPS + 1],  # rnnkit needs one
    }
    for name, part in splits.items():
        (folder / f"tm.{name}.txt").write_text(part, encoding="utf-8")
    return splits


def write_full_book(text: str, folder: Path) -> None:
    """The same validation and test characters; train on the rest of the book."""
    val_end = NUM_TRAIN + NUM_VAL + NUM_STEPS + 1
    test_end = val_end + NUM_VAL + NUM_STEPS + 1
    folder.mkdir()
    (folder / "tm.train.txt").write_text(text[:NUM_TRAIN] + " " + text[test_end:], "utf-8")
    (folder / "tm.valid.txt").write_text(text[NUM_TRAIN:val_end], encoding="utf-8")
    (folder / "tm.test.txt").write_text(text[val_end:test_end], encoding="utf-8")


class D2LGRULM(nn.Module):
    """d2l's RNNLM around its GRU: one-hot inputs -> nn.GRU(V, 32, 2) -> Linear(32, V)."""

    def __init__(self, vocab_size: int, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.GRU(vocab_size, hidden, layers)
        self.linear = nn.Linear(hidden, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        """x: (T, B) ids -> logits (T, B, V), state (L, B, H)."""
        one_hot = F.one_hot(x, self.vocab_size).float()  # (T, B, V)
        out, state = self.rnn(one_hot, state)  # (T, B, H)
        return self.linear(out), state


def windows(ids: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """d2l's examples: rows ``ids[i : i + 33]`` for i in [start, start + count) -> (N, 33)."""
    return torch.stack([ids[i : i + NUM_STEPS + 1] for i in range(start, start + count)])


@torch.no_grad()
def ppl_windows(model: nn.Module, win: torch.Tensor) -> float:
    """d2l's validation measure: every window from a zero state, mean CE over all targets."""
    model.eval()
    total = 0.0
    for b in range(0, win.size(0), BATCH):
        chunk = win[b : b + BATCH].t()  # (33, B)
        logits, _ = model(chunk[:-1])  # (32, B, V)
        total += F.cross_entropy(logits.flatten(0, 1), chunk[1:].flatten(), reduction="sum").item()
    return math.exp(total / (win.size(0) * NUM_STEPS))


@torch.no_grad()
def ppl_stream(model: nn.Module, ids: torch.Tensor, streams: int = 10) -> float:
    """rnnkit's validation measure: ``streams`` contiguous rows, 32-step windows, state kept."""
    model.eval()
    n = (ids.numel() - 1) // streams
    x_all = ids[: n * streams].view(streams, n).t()  # (N, B)
    y_all = ids[1 : n * streams + 1].view(streams, n).t()  # (N, B)
    total, state = 0.0, None
    for i in range(0, n, NUM_STEPS):
        logits, state = model(x_all[i : i + NUM_STEPS], state)  # (T, B, V)
        y = y_all[i : i + NUM_STEPS]
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
    return math.exp(total / (n * streams))


def run_plain(train_win: torch.Tensor, vocab_size: int, epochs: int) -> tuple[D2LGRULM, float]:
    """d2l's loop: shuffled minibatches of 1,024 windows, zero state, SGD, global-norm clip."""
    torch.manual_seed(0)
    model = D2LGRULM(vocab_size)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(train_win.size(0)).split(BATCH):
            batch = train_win[idx].t()  # (33, B)
            logits, _ = model(batch[:-1])  # (32, B, V)
            loss = F.cross_entropy(logits.flatten(0, 1), batch[1:].flatten())
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
    return model, time.perf_counter() - start


def run_rnnkit(preset: str, folder: Path, train: dict, data: dict):
    lm = TextLM.create(preset, data={"data": str(folder), **data}, seed=0)
    start = time.perf_counter()
    lm.fit(None, {"progress": False, "seed": 0, **train})
    return lm, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="d2l's max_epochs: 100")
    parser.add_argument("--strong-epochs", type=int, default=100)
    parser.add_argument(
        "--budget-factor",
        type=int,
        default=8,
        help="extra rnnkit row with this many times d2l's epochs (32 = d2l's token budget; "
        "0: no row)",
    )
    parser.add_argument("--book-epochs", type=int, default=5, help="full-book row's epochs")
    parser.add_argument(
        "--rows",
        default="plain,d2l,budget,strong,book",
        help="which rows to run (comma-separated; book: the timemachine preset trained on "
        "the whole book except the validation and test characters)",
    )
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    wanted = set(args.rows.split(","))
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    raw = Path(os.environ["RNNKIT_DATA_DIR"], "timemachine", "timemachine.txt").read_text()
    text = d2l_preprocess(raw)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        splits = write_splits(text, folder)
        # One vocabulary for the plain model, as d2l (built on the whole book: 28 tokens).
        chars = ["<unk>", *sorted(set(text))]
        index = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([index[c] for c in text])
        train_win = windows(ids, 0, NUM_TRAIN)
        val_win = windows(ids, NUM_TRAIN, NUM_VAL)
        val_ids = ids[NUM_TRAIN : NUM_TRAIN + NUM_VAL + NUM_STEPS + 1]

        if "plain" in wanted:
            plain, secs = run_plain(train_win, len(chars), args.epochs)
            steps = args.epochs * math.ceil(NUM_TRAIN / BATCH)
            rows.append(
                [
                    "plain PyTorch, d2l's loop (batch 1024 random windows)",
                    args.epochs,
                    steps,
                    f"{NUM_TRAIN * NUM_STEPS * args.epochs:,}",
                    ppl_windows(plain, val_win),
                    ppl_stream(plain, val_ids),
                    f"{secs:.0f}",
                ]
            )
            print("plain done", rows[-1], flush=True)

        def rnnkit_row(label: str, preset: str, train: dict, data: dict, where=folder) -> None:
            lm, secs = run_rnnkit(preset, where, train, data)
            v = lm.vocab
            # rnnkit's vocabulary is built on its train split; map d2l ids through the chars.
            remap = torch.tensor([v.encode([c])[0] if c != "<unk>" else v.unk_id for c in chars])
            dc = lm.data_config
            per_epoch = len(CorpusStream(lm.corpus.splits["train"], dc.batch_size, dc.bptt))
            epochs = train["epochs"]
            rows.append(
                [
                    label,
                    epochs,
                    per_epoch * epochs,
                    f"{per_epoch * epochs * dc.batch_size * dc.bptt:,}",
                    ppl_windows(lm.model, remap[val_win]),
                    ppl_stream(lm.model, remap[val_ids]),
                    f"{secs:.0f}",
                ]
            )
            check = lm.evaluate("valid")["perplexity"]
            print(label, rows[-1], f"(TextLM.evaluate valid: {check:.3f})", flush=True)

        d2l_data = {"bptt": NUM_STEPS, "batch_size": 32}
        d2l_train = {"optimizer": "sgd", "lr": LR, "clip_norm": CLIP, "epochs": args.epochs}
        if "d2l" in wanted:
            label = "rnnkit timemachine-d2l (32 streams x 32 steps)"
            rnnkit_row(label, "timemachine-d2l", d2l_train, d2l_data)
        if args.budget_factor and "budget" in wanted:
            epochs = args.epochs * args.budget_factor
            budget = {**d2l_train, "epochs": epochs, "eval_every": 100_000}
            label = f"rnnkit timemachine-d2l, {args.budget_factor}x the epochs"
            rnnkit_row(label, "timemachine-d2l", budget, d2l_data)
        if "strong" in wanted:
            strong = {"epochs": args.strong_epochs}
            rnnkit_row("rnnkit timemachine preset (LSTM 2x256, Adam)", "timemachine", strong, {})
        if "book" in wanted:
            write_full_book(text, folder / "book")
            label = "rnnkit timemachine preset, trained on the rest of the book"
            book = {"epochs": args.book_epochs}
            rnnkit_row(label, "timemachine", book, {}, where=folder / "book")
        assert len(splits["valid"]) == NUM_VAL + NUM_STEPS + 1
    print(
        f"\nThe Time Machine (d2l preprocessing: letters and spaces, lowercase; train = its "
        f"first {NUM_TRAIN + NUM_STEPS + 1:,} chars, validation = the next windows, "
        f"{NUM_VAL:,} x {NUM_STEPS}), GRU 2x32 one-hot/embedding, SGD lr {LR:g}, clip {CLIP:g}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads. d2l's chapter "
        "plots the curve and states no perplexity."
    )
    print(
        table(
            [
                "program",
                "epochs",
                "steps",
                "train tokens seen",
                "val ppl (d2l windows)",
                "val ppl (stream)",
                "train s",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
