"""PTB word-level LM: rnnkit's ``ptb-small`` preset vs a plain-PyTorch word LM in one run.

The plain-PyTorch side is written from the documented configuration of PyTorch's
``word_language_model`` example (2-layer LSTM, 200 units, bptt 35, batch 20, dropout 0.2,
plain SGD lr 20 divided by 4 when validation does not improve, gradient clip 0.25, eval
batch 10, 6 epochs; published test perplexity 117.6 for that configuration). Both train on
the same machine in the same process, one after the other, and the table reports test
perplexity and training throughput (tokens/s) as a ratio.

    python benchmarks/lm_ptb.py                 # the full 6 epochs (about 2 x 10-20 CPU minutes)
    python benchmarks/lm_ptb.py --epochs 1 --max-batches 200   # a quick look
    python benchmarks/lm_ptb.py --throughput-only --rounds 10  # speed only
    python benchmarks/lm_ptb.py --throughput-only --threads 1 --rounds 3 --steps 10  # short

The throughput table has a row per speed ingredient (``--variants``): the chunked output
layer, the adaptive softmax, bf16 autocast, adaptive + bf16, each as a ratio to the plain
loop's tokens/s in the same alternating rounds.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.data.streams import CorpusStream  # noqa: E402
from rnnkit.models.language_model import LanguageModel, LMConfig  # noqa: E402
from rnnkit.tasks.lm import LMDataConfig, TextLM, lm_step, load_corpus  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402
from rnnkit.train import TrainConfig, Trainer  # noqa: E402
from rnnkit.train.device import cpu_bf16_supported  # noqa: E402

PUBLISHED_TEST_PPL = 117.6


class PlainWordLM(nn.Module):
    """Embedding -> nn.LSTM -> dropout -> Linear, as the example's RNNModel (untied)."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: torch.Tensor, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def _batchify(ids: torch.Tensor, bsz: int) -> torch.Tensor:
    n = ids.numel() // bsz
    return ids[: n * bsz].view(bsz, n).t().contiguous()  # (N // B, B)


def _evaluate(model: PlainWordLM, data: torch.Tensor, bptt: int) -> float:
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            t = min(bptt, data.size(0) - 1 - i)
            x, y = data[i : i + t], data[i + 1 : i + 1 + t]
            logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    return total / count


def _train_steps(model: PlainWordLM, train: torch.Tensor, lr: float, max_batches: int | None):
    """One epoch (or ``max_batches`` windows) of the example's loop; returns tokens seen."""
    bptt, clip, tokens, hidden = 35, 0.25, 0, None
    model.train()
    for b, i in enumerate(range(0, train.size(0) - 1, bptt)):
        if max_batches is not None and b >= max_batches:
            break
        t = min(bptt, train.size(0) - 1 - i)
        x, y = train[i : i + t], train[i + 1 : i + 1 + t]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
        tokens += y.numel()
    return tokens


def run_plain(splits: dict[str, torch.Tensor], ntoken: int, epochs: int, max_batches: int | None):
    torch.manual_seed(0)
    lr = 20.0
    model = PlainWordLM(ntoken, 200, 200, 2, 0.2)
    train = _batchify(splits["train"], 20)
    val, test = _batchify(splits["valid"], 10), _batchify(splits["test"], 10)
    best, best_state = math.inf, None
    for epoch in range(epochs):
        start = time.perf_counter()
        _train_steps(model, train, lr, max_batches)
        val_loss = _evaluate(model, val, 35)
        print(
            f"plain epoch {epoch + 1}: lr {lr:g}, valid ppl {math.exp(val_loss):.2f}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            lr /= 4.0
    model.load_state_dict(best_state)
    return math.exp(_evaluate(model, test, 35))


# throughput rows: name -> (LMConfig fields over ptb-small's, precision)
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "rnnkit ptb-small": ({}, "fp32"),
    "chunked output": ({"output_layer": "chunked"}, "fp32"),
    "adaptive softmax": ({"output_layer": "adaptive"}, "fp32"),
    "bf16": ({}, "bf16"),
    "adaptive + bf16": ({"output_layer": "adaptive"}, "bf16"),
}


def throughput(
    splits: dict[str, torch.Tensor], ntoken: int, rounds: int, steps: int, names: list[str]
) -> tuple[dict[str, float], float]:
    """Training tokens/s of each variant in ``names`` and of the plain loop, in alternating
    rounds of ``steps`` windows (plain, then each variant, ``rounds`` times: same noise)."""
    preset = load_preset("lm", "ptb-small")
    base = {**preset["train"], "epochs": None, "max_steps": steps, "progress": False}
    stream = CorpusStream(splits["train"], 20, 35)
    runs = {}
    for name in names:
        fields, precision = VARIANTS[name]
        torch.manual_seed(0)
        model = LanguageModel(ntoken, LMConfig.from_dict({**preset["model"], **fields}))
        runs[name] = (model, TrainConfig.from_dict({**base, "precision": precision}))
    plain = PlainWordLM(ntoken, 200, 200, 2, 0.2)
    train = _batchify(splits["train"], 20)
    seconds = dict.fromkeys(names, 0.0)
    t_plain = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        _train_steps(plain, train, 20.0, steps)
        t_plain += time.perf_counter() - start
        for name, (model, cfg) in runs.items():
            start = time.perf_counter()
            Trainer(model, cfg, lm_step).fit(stream)
            seconds[name] += time.perf_counter() - start
    tokens = rounds * steps * 35 * 20
    return {name: tokens / t for name, t in seconds.items()}, tokens / t_plain


def _bf16_note() -> str:
    if cpu_bf16_supported():
        return "bf16: native on this CPU"
    return "bf16 rows ran in fp32: this CPU has no native bfloat16 (the trainer falls back)"


def run_rnnkit(epochs: int, max_batches: int | None, run_dir: Path):
    lm = TextLM.create("ptb-small", seed=0)
    train_cfg = {**load_preset("lm", "ptb-small")["train"], "epochs": epochs, "progress": False}
    if max_batches is not None:
        train_cfg.update(max_steps=max_batches * epochs, epochs=epochs)
    return lm.fit(run_dir, train_cfg)["test_perplexity"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--max-batches", type=int, default=None, help="per epoch (quick look)")
    parser.add_argument("--run-dir", default="runs/bench-ptb-small")
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds")
    parser.add_argument(
        "--steps", type=int, default=20, help="training windows per throughput round"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--throughput-only", action="store_true", help="only the alternating-rounds speed table"
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated throughput rows among: {', '.join(VARIANTS)}",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    corpus = load_corpus(LMDataConfig(data="ptb", level="word", eval_batch_size=10))
    shutil.rmtree(args.run_dir, ignore_errors=True)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    if not args.throughput_only and "rnnkit ptb-small" not in names:
        names.insert(0, "rnnkit ptb-small")
    speeds, plain_tps = throughput(corpus.splits, len(corpus.vocab), args.rounds, args.steps, names)
    print(f"throughput: plain {plain_tps:.0f} tok/s, " + ", ".join(
        f"{name} {tps:.0f}" for name, tps in speeds.items()), flush=True)  # fmt: skip
    if args.throughput_only:
        print(
            f"PTB word level, ptb-small model, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {args.rounds} alternating rounds of "
            f"{args.steps} windows; {_bf16_note()}"
        )
        rows = [["plain PyTorch", plain_tps, 1.0]]
        rows += [[name, tps, tps / plain_tps] for name, tps in speeds.items()]
        print(table(["program", "train tokens/s", "throughput ratio"], rows))
        return
    ours_tps = speeds["rnnkit ptb-small"]
    ours_ppl = run_rnnkit(args.epochs, args.max_batches, Path(args.run_dir))
    print(f"rnnkit ptb-small test ppl {ours_ppl:.2f}", flush=True)
    plain_ppl = run_plain(corpus.splits, len(corpus.vocab), args.epochs, args.max_batches)
    print(
        f"PTB word level, ptb-small, {args.epochs} epochs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; throughput from {args.rounds} alternating rounds "
        f"of {args.steps} training windows each"
    )
    print(
        table(
            ["program", "test ppl", "train tokens/s", "throughput ratio"],
            [
                ["published (word_language_model)", PUBLISHED_TEST_PPL, "-", "-"],
                ["plain PyTorch (same run)", plain_ppl, plain_tps, 1.0],
                ["rnnkit lm ptb-small", ours_ppl, ours_tps, ours_tps / plain_tps],
            ],
        )
    )


if __name__ == "__main__":
    main()
