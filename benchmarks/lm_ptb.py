"""PTB word LM: rnnkit presets vs a plain-PyTorch word LM, throughput and perplexity, one run.

The plain-PyTorch side is written from the documented configuration of PyTorch's
``word_language_model`` example (LSTM, bptt 35, batch 20, plain SGD lr 20 divided by 4 when
validation does not improve, gradient clip 0.25, eval batch 10; ``--tied`` shares the
decoder with the embedding). The small setting (2 x 200 units, dropout 0.2, 6 epochs) has a
published test perplexity of 117.6. Both sides train on the same machine in one process.

    python benchmarks/lm_ptb.py                 # ptb-small, the full 6 epochs, both loops
    python benchmarks/lm_ptb.py --epochs 1 --max-batches 200   # a quick look
    python benchmarks/lm_ptb.py --throughput-only --threads 1,2 --rounds 5 --steps 20
    python benchmarks/lm_ptb.py --throughput-only --shape medium --threads 1,2   # H=650, tied
    python benchmarks/lm_ptb.py --shape medium --preset ptb-medium-fast --max-time 1800 \\
        --no-plain-run --threads 2         # what fits in 60 CPU-minutes on 2 threads

The throughput table is measured in alternating rounds (plain loop, then each rnnkit row,
``--rounds`` times, so machine noise hits all alike) once per ``--threads`` entry. Its rows
(``--variants``) apply their fields over the ``--shape``'s preset (ptb-small: E=H=200,
untied, dropout 0.2; ptb-medium: E=H=650, 2 layers, dropout 0.5, tied): the preset as it is,
the chunked output layer, the adaptive softmax, bf16 autocast, adaptive + bf16; the full
run's ``--preset`` is a row of its own, built from its own model and train sections.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

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

PUBLISHED_TEST_PPL = {"small": 117.6}  # word_language_model's figure for this configuration
SHAPES = {"small": "ptb-small", "medium": "ptb-medium"}  # --shape -> the preset it takes
BPTT, BATCH, EVAL_BATCH, LR, CLIP = 35, 20, 10, 20.0, 0.25
PLAIN = "plain PyTorch"

# throughput rows: name -> (LMConfig fields over the shape's preset, precision);
# "preset" is that preset as it is (its row is labelled "rnnkit <preset>")
VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "preset": ({}, "fp32"),
    "chunked output": ({"output_layer": "chunked"}, "fp32"),
    "adaptive softmax": ({"output_layer": "adaptive"}, "fp32"),
    "bf16": ({}, "bf16"),
    "adaptive + bf16": ({"output_layer": "adaptive"}, "bf16"),
}

Row = tuple[dict[str, Any], dict[str, Any]]  # (LMConfig fields, TrainConfig fields)


class PlainWordLM(nn.Module):
    """Embedding -> nn.LSTM -> dropout -> Linear, as the example's RNNModel.

    ``tie=True`` is the example's ``--tied``: ``decoder.weight`` is ``encoder.weight`` (one
    tensor), which needs ``ninp == nhid``. ``x: (T, B)`` ids -> logits ``(T, B, V)``."""

    def __init__(
        self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float, tie: bool = False
    ) -> None:
        super().__init__()
        if tie and ninp != nhid:
            raise ValueError(f"`tie` needs `ninp` == `nhid`, got {ninp} and {nhid}")
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie:
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: torch.Tensor, hidden: Any) -> tuple[torch.Tensor, Any]:
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def plain_model(ntoken: int, shape: str) -> PlainWordLM:
    """The plain loop's model at ``shape``'s preset sizes (E, H, L, dropout, tying)."""
    if shape not in SHAPES:
        raise ValueError(f"`shape` must be one of {list(SHAPES)}, got {shape!r}")
    m = load_preset("lm", SHAPES[shape])["model"]
    return PlainWordLM(
        ntoken, m["embedding_dim"], m["hidden_size"], m["num_layers"], m["dropout"],
        tie=bool(m.get("tie_weights", False)),
    )  # fmt: skip


def _batchify(ids: torch.Tensor, bsz: int) -> torch.Tensor:
    n = ids.numel() // bsz
    return ids[: n * bsz].view(bsz, n).t().contiguous()  # (N // B, B)


def _evaluate(model: PlainWordLM, data: torch.Tensor) -> float:
    model.eval()
    total, count, hidden = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, BPTT):
            t = min(BPTT, data.size(0) - 1 - i)
            x, y = data[i : i + t], data[i + 1 : i + 1 + t]
            logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    return total / count


def _train_steps(
    model: PlainWordLM,
    train: torch.Tensor,
    lr: float,
    max_batches: int | None,
    deadline: float | None = None,
) -> int:
    """One epoch (or ``max_batches`` windows, or until ``time.monotonic() >= deadline``) of
    the example's loop on ``train (N, B)``; returns the tokens seen."""
    tokens, hidden = 0, None
    model.train()
    for b, i in enumerate(range(0, train.size(0) - 1, BPTT)):
        if max_batches is not None and b >= max_batches:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        t = min(BPTT, train.size(0) - 1 - i)
        x, y = train[i : i + t], train[i + 1 : i + 1 + t]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
        tokens += y.numel()
    return tokens


def run_plain(
    splits: dict[str, torch.Tensor],
    ntoken: int,
    shape: str,
    epochs: int,
    max_batches: int | None,
    max_time: float | None = None,
) -> float:
    """The example's training at ``shape``; test perplexity of its best-validation weights."""
    torch.manual_seed(0)
    lr, model = LR, plain_model(ntoken, shape)
    train = _batchify(splits["train"], BATCH)
    val, test = _batchify(splits["valid"], EVAL_BATCH), _batchify(splits["test"], EVAL_BATCH)
    best, best_state = math.inf, None
    deadline = None if max_time is None else time.monotonic() + max_time
    for epoch in range(epochs):
        start = time.perf_counter()
        _train_steps(model, train, lr, max_batches, deadline)
        val_loss = _evaluate(model, val)
        print(
            f"plain epoch {epoch + 1}: lr {lr:g}, valid ppl {math.exp(val_loss):.2f}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
        else:
            lr /= 4.0
        if deadline is not None and time.monotonic() >= deadline:
            break
    model.load_state_dict(best_state)
    return math.exp(_evaluate(model, test))


def throughput_rows(shape: str, names: list[str], preset: str | None = None) -> dict[str, Row]:
    """``{label: (model fields, train fields)}``: each of ``names`` (keys of VARIANTS) over
    ``shape``'s preset, then ``preset``'s own sections (skipped when the same label is there:
    the shape's preset as it is)."""
    base = SHAPES[shape]
    sections = load_preset("lm", base)
    rows: dict[str, Row] = {}
    for name in names:
        fields, precision = VARIANTS[name]
        label = f"rnnkit {base}" if name == "preset" else name
        rows[label] = (
            {**sections["model"], **fields},
            {**sections["train"], "precision": precision},
        )
    if preset is not None:
        own = load_preset("lm", preset)
        rows.setdefault(f"rnnkit {preset}", (own["model"], own["train"]))
    return rows


def _programs(train: torch.Tensor, ntoken: int, shape: str, rows: dict[str, Row], steps: int):
    """One ``() -> None`` per program, each training ``steps`` windows when called."""
    torch.manual_seed(0)
    plain = plain_model(ntoken, shape)
    batched = _batchify(train, BATCH)
    stream = CorpusStream(train, BATCH, BPTT)
    progs = {PLAIN: lambda: _train_steps(plain, batched, LR, steps)}
    for label, (model_fields, train_fields) in rows.items():
        torch.manual_seed(0)
        model = LanguageModel(ntoken, LMConfig.from_dict(model_fields))
        cfg = TrainConfig.from_dict(
            {**train_fields, "epochs": None, "max_steps": steps, "progress": False}
        )
        progs[label] = lambda m=model, c=cfg: Trainer(m, c, lm_step).fit(stream)
    return progs


def throughput(
    train: torch.Tensor,
    ntoken: int,
    rows: dict[str, Row],
    threads: list[int],
    rounds: int,
    steps: int,
    shape: str = "small",
) -> dict[int, dict[str, float]]:
    """Training tokens/s ``{threads: {PLAIN or row label: tokens/s}}``.

    Per thread count (``torch.set_num_threads``): fresh models, one untimed warm-up window
    each, then ``rounds`` alternating rounds of ``steps`` windows (plain, then each row:
    the same machine noise for all). ``train (N,)`` token ids; windows are BPTT x BATCH.
    Each rnnkit round builds a ``Trainer`` and calls ``fit``: its start-up cost is counted.
    """
    out: dict[int, dict[str, float]] = {}
    for n in threads:
        torch.set_num_threads(n)
        warm = _programs(train, ntoken, shape, rows, 1)
        for fn in warm.values():
            fn()
        progs = _programs(train, ntoken, shape, rows, steps)
        seconds = dict.fromkeys(progs, 0.0)
        for _ in range(rounds):
            for label, fn in progs.items():
                start = time.perf_counter()
                fn()
                seconds[label] += time.perf_counter() - start
        tokens = rounds * steps * BPTT * BATCH
        out[n] = {label: tokens / s for label, s in seconds.items()}
    return out


def machine_facts() -> str:
    """torch version, CPU capability, bf16 support and the load average, on one line."""
    bf16 = "native" if cpu_bf16_supported() else "not native (bf16 rows run in fp32)"
    return (
        f"torch {torch.__version__}, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, bf16 {bf16}, {os.cpu_count()} CPUs, "
        f"load average {_load()}"
    )


class _Once(logging.Filter):
    """Pass each distinct message once (the bf16 fallback warning comes with every fit)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        new = msg not in self.seen
        self.seen.add(msg)
        return new


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def throughput_table(speeds: dict[int, dict[str, float]]) -> str:
    """One Markdown table: a row per program, per thread count tokens/s, ratio to the plain
    loop and ms per training window."""
    header, labels = ["program"], list(next(iter(speeds.values())))
    for n in speeds:
        header += [f"tok/s {n}T", f"ratio {n}T", f"ms/window {n}T"]
    rows = []
    for label in labels:
        row: list[object] = [label]
        for per in speeds.values():
            tps = per[label]
            row += [round(tps), f"{tps / per[PLAIN]:.2f}", round(1000 * BPTT * BATCH / tps)]
        rows.append(row)
    return table(header, rows)


def _sizes(preset: str) -> tuple[Any, ...]:
    """The preset's (E, H, L, tied): what the plain loop's shape must match to compare."""
    m = load_preset("lm", preset)["model"]
    keys = ("embedding_dim", "hidden_size", "num_layers")
    return (*(m.get(k) for k in keys), bool(m.get("tie_weights", False)))


def run_rnnkit(
    preset: str, epochs: int | None, max_batches: int | None, max_time: float | None, run_dir: Path
) -> dict[str, Any]:
    """Train ``preset`` through rnnkit's run life cycle; its figures (``test_perplexity``,
    ``epoch``, ``step``, ``stopped``, ...)."""
    lm = TextLM.create(preset, seed=0)
    train_cfg = {**load_preset("lm", preset)["train"], "progress": False}
    if epochs is not None:
        train_cfg["epochs"] = epochs
    if max_batches is not None:
        train_cfg["max_steps"] = max_batches * train_cfg["epochs"]
    if max_time is not None:
        train_cfg["max_time"] = max_time
    return lm.fit(run_dir, train_cfg)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=list(SHAPES), default="small", help="throughput shapes")
    p.add_argument("--preset", default=None, help="the full run's preset (default: the shape's)")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--max-batches", type=int, default=None, help="per epoch (quick look)")
    p.add_argument("--max-time", type=float, default=None, help="full-run seconds (each side)")
    p.add_argument("--no-plain-run", action="store_true", help="skip the plain full run")
    p.add_argument("--run-dir", default=None, help="default: runs/bench-<preset>")
    p.add_argument("--rounds", type=int, default=5, help="throughput rounds")
    p.add_argument("--steps", type=int, default=20, help="training windows per round")
    p.add_argument("--threads", default=None, help="comma list, e.g. 1,2 (default: torch's)")
    p.add_argument("--throughput-only", action="store_true", help="only the speed table")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated throughput rows among: {', '.join(VARIANTS)}",
    )
    return p


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.variants.split(",") if n.strip()]
    base = SHAPES[args.shape]
    args.names = ["preset" if n == f"rnnkit {base}" else n for n in args.names]  # old name
    unknown = [n for n in args.names if n not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    try:
        args.thread_counts = [int(t) for t in (args.threads or "").split(",") if t.strip()]
    except ValueError:
        parser.error(f"--threads: expected a comma list of ints, got {args.threads!r}")
    if any(t <= 0 for t in args.thread_counts):
        parser.error(f"--threads: expected positive ints, got {args.threads!r}")
    args.thread_counts = args.thread_counts or [torch.get_num_threads()]
    args.full_preset = args.preset or base
    try:
        load_preset("lm", args.full_preset)
    except ValueError as err:
        parser.error(f"--preset: {err}")
    return args


def _full_run(args: argparse.Namespace, corpus: Any, speeds: dict[int, dict[str, float]]) -> None:
    """The full run of ``--preset`` (and, unless ``--no-plain-run``, the plain loop at the
    ``--shape``), then the table of test perplexity next to the first thread count's speed."""
    preset, first = args.full_preset, args.thread_counts[0]
    torch.set_num_threads(first)
    run_dir = Path(args.run_dir or f"runs/bench-{preset}")
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    result = run_rnnkit(preset, args.epochs, args.max_batches, args.max_time, run_dir)
    ours_ppl, wall = result["test_perplexity"], time.perf_counter() - start
    print(
        f"rnnkit {preset}: test ppl {ours_ppl:.2f} after epoch {result.get('epoch')}, step "
        f"{result.get('step')} (stopped: {result.get('stopped')}), {wall:.0f} s",
        flush=True,
    )
    epochs = args.epochs or load_preset("lm", preset)["train"]["epochs"]
    speed, ours = speeds[first], f"rnnkit {preset}"
    rows: list[list[object]] = []
    if args.shape in PUBLISHED_TEST_PPL:
        rows.append(["published (word_language_model)", PUBLISHED_TEST_PPL[args.shape], "-", "-"])
    if not args.no_plain_run:
        plain_ppl = run_plain(
            corpus.splits, len(corpus.vocab), args.shape, epochs, args.max_batches, args.max_time
        )
        plain_row = [plain_ppl, round(speed[PLAIN]), "1.00"]
        rows.append([f"plain PyTorch ({args.shape} shape, same run)", *plain_row])
    rows.append(
        [f"rnnkit lm {preset}", ours_ppl, round(speed[ours]), f"{speed[ours] / speed[PLAIN]:.2f}"]
    )
    budget = "" if args.max_time is None else f", at most {args.max_time:g} s of training"
    print(
        f"PTB word level, {preset}, {epochs} epochs{budget}, {first} threads; throughput from "
        f"{args.rounds} alternating rounds of {args.steps} windows at {args.shape} shapes"
    )
    print(table(["program", "test ppl", "train tokens/s", "throughput ratio"], rows))
    if _sizes(preset) != _sizes(SHAPES[args.shape]):
        print(f"note: {preset}'s sizes differ from the {args.shape} shape the plain loop ran at")


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.getLogger("rnnkit.train.device").addFilter(_Once())
    os.environ.setdefault(
        "RNNKIT_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared/data")
    )
    print(f"machine: {machine_facts()}", flush=True)
    corpus = load_corpus(LMDataConfig(data="ptb", level="word", eval_batch_size=EVAL_BATCH))
    own = args.full_preset if (args.preset or not args.throughput_only) else None
    rows = throughput_rows(args.shape, args.names, own)
    train = corpus.splits["train"]
    speeds = throughput(
        train, len(corpus.vocab), rows, args.thread_counts, args.rounds, args.steps, args.shape
    )
    print(
        f"PTB word level, {SHAPES[args.shape]} shapes, threads {args.thread_counts}, "
        f"{args.rounds} alternating rounds of {args.steps} windows ({BPTT} x {BATCH} tokens)"
    )
    print(throughput_table(speeds), flush=True)
    if not args.throughput_only:
        _full_run(args, corpus, speeds)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
