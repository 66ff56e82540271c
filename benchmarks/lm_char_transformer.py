"""Tiny Shakespeare, char level: rnnkit's recurrent preset vs a small GPT at equal wall time.

The GPT is written here in plain PyTorch from nanoGPT's description of its CPU run
(``train_shakespeare_char`` with ``--n_layer=4 --n_head=4 --n_embd=128 --block_size=64
--batch_size=12 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0``): pre-LayerNorm
blocks, causal self-attention, a 4x GELU MLP, learned positions, the token embedding tied to
the head, no biases; AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on 2-D weights only),
gradient clip 1.0, 100 warm-up iterations then cosine to 1e-4 at iteration 2000, random
12 x 64 batches. nanoGPT reports about 1.88 validation loss after 2,000 iterations.

One process: (a) the GPT trains ``--iters`` iterations (or until ``--budget`` seconds) on
``--threads`` torch threads; its training wall time is W. (b) rnnkit's ``--preset`` trains for
at most W seconds through the normal run life cycle (``TextLM.fit`` with ``max_time`` = W, no
validation during training; a preset's own ``max_steps`` may end it sooner). (c) Both are
scored on the whole validation split with the same metric, mean nats per character. Both use
the preset's corpus and split; for the Tiny Shakespeare presets that is ``input.txt`` cut by
position: the first 89% of the characters for training, the next 10% for validation, the last
1% for test, one character vocabulary built on train. rnnkit reads the validation text as the
preset's ``eval_batch_size`` contiguous streams with the state carried
(``TextLM.evaluate``); the GPT reads it in non-overlapping blocks of 64 characters (each
character sees 0-63 characters of context, as in nanoGPT's training and evaluation), and
again with a sliding window (stride 32: each scored character sees at least 32). nanoGPT's
own estimate (mean loss of ``--eval-iters`` random 12 x 64 validation batches) is printed for
reference. Process CPU seconds are printed beside wall seconds: on a shared machine they show
whether the two phases got the same CPU.

    nice -n 10 python benchmarks/lm_char_transformer.py --threads 1
    python benchmarks/lm_char_transformer.py --iters 100 --preset shakespeare   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.tasks.lm import TextLM  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402

__all__ = ["GPT", "GPTConfig", "block_loss", "main"]


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class SelfAttention(nn.Module):
    """Causal multi-head self-attention: ``x: (B, T, C) -> (B, T, C)``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)  # 3 x (B, T, C)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """``x + attn(ln(x))``, then ``x + mlp(ln(x))`` (pre-LayerNorm)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=False)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=False)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False),
            nn.GELU(),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A decoder-only transformer: token ids ``(B, T)`` -> logits ``(B, T, V)``, T <= block."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=False)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying
        for name, p in self.named_parameters():
            if p.dim() == 2:  # N(0, 0.02); residual projections scaled by 1/sqrt(2 L)
                std = (
                    0.02 / math.sqrt(2 * cfg.n_layer)
                    if name.endswith(("proj.weight", "2.weight"))
                    else 0.02
                )
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: Tensor) -> Tensor:
        t = idx.size(1)
        if t > self.cfg.block_size:
            raise ValueError(
                f"`idx` has {t} positions, the model takes at most {self.cfg.block_size}"
            )
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t, device=idx.device)))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)


def lr_at(
    it: int, lr: float = 1e-3, min_lr: float = 1e-4, warmup: int = 100, decay: int = 2000
) -> float:
    """nanoGPT's schedule: linear warm-up, then cosine from ``lr`` to ``min_lr`` at ``decay``."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * (it - warmup) / (decay - warmup))) * (
        lr - min_lr
    )


def random_batch(
    ids: Tensor, batch: int, block: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``batch`` random windows of ``ids``: inputs and next-token targets, both ``(B, T)``."""
    start = torch.randint(len(ids) - block, (batch,), generator=gen)
    x = torch.stack([ids[i : i + block] for i in start.tolist()])
    y = torch.stack([ids[i + 1 : i + 1 + block] for i in start.tolist()])
    return x, y


def train_gpt(model: GPT, train: Tensor, args: argparse.Namespace) -> dict[str, float]:
    """nanoGPT's loop (no evaluation inside): iterations, wall and process CPU seconds."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    block = model.cfg.block_size
    model.train()
    start, cpu = time.monotonic(), time.process_time()
    it = 0
    while it < args.iters and time.monotonic() - start < args.budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(it, decay=args.iters)
        x, y = random_batch(train, 12, block, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # (B*T, V) vs (B*T,)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        it += 1
    return {"steps": it, "wall": time.monotonic() - start, "cpu": time.process_time() - cpu}


@torch.no_grad()
def block_loss(model: GPT, ids: Tensor, stride: int | None = None) -> float:
    """Mean nats per token of ``ids (N,)`` read in windows of the block size T.

    ``stride=None`` (= T): non-overlapping blocks, every position scored. A smaller stride
    slides the window by ``stride`` and scores only each window's last ``stride`` positions
    (the first window scores all), so every scored token after the first window sees at
    least ``T - stride`` tokens. Tokens after the last full window are not scored.
    """
    model.eval()
    block = model.cfg.block_size
    stride = stride or block
    windows = (len(ids) - 1 - block) // stride + 1
    idx = (torch.arange(windows) * stride)[:, None] + torch.arange(block)  # (W, T)
    total, count = 0.0, 0
    for first in range(0, windows, 256):
        rows = idx[first : first + 256]  # (w, T)
        nll = F.cross_entropy(model(ids[rows]).transpose(1, 2), ids[rows + 1], reduction="none")
        if first == 0:
            total, count = float(nll[0].sum()), block  # the first window: every position
            nll = nll[1:]
        scored = nll[:, block - stride :]  # (w, stride)
        total, count = total + float(scored.sum()), count + scored.numel()
    return total / count


@torch.no_grad()
def nanogpt_estimate(model: GPT, ids: Tensor, iters: int, seed: int) -> float:
    """nanoGPT's estimate: the mean loss of ``iters`` random 12 x T batches of ``ids``."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(iters):
        x, y = random_batch(ids, 12, model.cfg.block_size, gen)
        losses.append(float(F.cross_entropy(model(x).flatten(0, 1), y.flatten())))
    return sum(losses) / len(losses)


def train_rnnkit(lm: TextLM, seconds: float, args: argparse.Namespace) -> dict[str, float]:
    """The preset trained for ``seconds`` by the run life cycle, no validation until the end
    (``eval_every`` beyond the run: no per-epoch evaluation either): steps, the training wall
    seconds (metrics.csv's time at the last step), and the process CPU seconds of the whole
    ``fit`` (which ends with one validation and one test pass)."""
    run_dir = Path(args.run_root) / args.preset
    shutil.rmtree(run_dir, ignore_errors=True)
    train = {
        **load_preset("lm", args.preset)["train"],
        "max_time": seconds,
        "eval_every": 10**9,
        "progress": False,
        "seed": args.seed,
        "log_every": 1,
    }
    start, cpu = time.monotonic(), time.process_time()
    result = lm.fit(run_dir, train)
    cpu, total = time.process_time() - cpu, time.monotonic() - start
    with open(run_dir / "metrics.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    return {"steps": int(result["step"]), "wall": float(rows[-1]["time"]), "cpu": cpu,
            "total": total}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads for both models")
    p.add_argument("--budget", type=float, default=float("inf"), help="GPT training seconds cap")
    p.add_argument("--iters", type=int, default=2000, help="GPT iterations (the cosine length)")
    p.add_argument("--preset", default="shakespeare-fast", help="rnnkit lm preset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-iters", type=int, default=20, help="batches of nanoGPT's estimate")
    p.add_argument("--run-root", default="runs/bench-lm-char-transformer")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    load_before = os.getloadavg()
    # the preset's corpus and split (tinyshakespeare, char) for both models
    lm = TextLM.create(args.preset, seed=args.seed)
    if lm.data_config.level != "char":
        raise ValueError(f"`--preset` must be a char-level preset, got {args.preset!r}")
    splits = lm.corpus.splits
    torch.manual_seed(args.seed)
    gpt = GPT(GPTConfig(vocab_size=len(lm.vocab)))
    g = train_gpt(gpt, splits["train"], args)
    g["loss"], g["stride"] = block_loss(gpt, splits["valid"]), block_loss(gpt, splits["valid"], 32)
    estimate = nanogpt_estimate(gpt, splits["valid"], args.eval_iters, args.seed)
    r = train_rnnkit(lm, g["wall"], args)
    cpu = time.process_time()
    r["loss"] = lm.evaluate("valid")["loss"]
    # fit's CPU less its closing validation and test passes (the test split costs its share)
    evals = (time.process_time() - cpu) * (1 + splits["test"].numel() / splits["valid"].numel())
    r["cpu"] -= evals
    load_after = os.getloadavg()
    loads = [" ".join(f"{x:.1f}" for x in load) for load in (load_before, load_after)]
    print(f"Tiny Shakespeare, char level (rnnkit split: train {splits['train'].numel():,}, "
          f"valid {splits['valid'].numel():,} chars, V = {len(lm.vocab)}), torch "
          f"{torch.__version__}, {args.threads} thread(s), seed {args.seed}, load average "
          f"(1/5/15 min) {loads[0]} before, {loads[1]} after")  # fmt: skip
    print(f"GPT, nanoGPT's estimate ({args.eval_iters} random 12 x 64 validation batches): "
          f"{estimate:.3f}; rnnkit's fit() took {r['total']:.1f} s wall in all")  # fmt: skip
    n_gpt = sum(q.numel() for q in gpt.parameters())  # the tied weight once
    n_rnn = sum(q.numel() for q in lm.model.parameters())
    rows = [
        ["GPT 4x4x128, blocks of 64", n_gpt, g["steps"], g["wall"], g["cpu"], g["loss"]],
        ["GPT, same weights, stride 32", n_gpt, g["steps"], g["wall"], g["cpu"], g["stride"]],
        [f"rnnkit `{args.preset}`", n_rnn, r["steps"], r["wall"], r["cpu"], r["loss"]],
    ]
    rows = [[m, f"{n:,}", k, f"{w:.1f}", f"{c:.1f}", f"{v:.3f}"] for m, n, k, w, c, v in rows]
    print(table(["model", "params", "steps", "wall s", "CPU s", "val nats/char"], rows))
    print("(rnnkit's CPU s: fit()'s process CPU less its closing validation and test passes)")


if __name__ == "__main__":
    main()
