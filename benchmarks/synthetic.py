"""The synthetic tasks that tell recurrent cells apart: every registered cell, equal parameter
count, equal CPU-time budget per run, exact accuracy on held-out batches.

    nice -n 10 python benchmarks/synthetic.py --budget 20                 # every cell and task
    python benchmarks/synthetic.py --budget 30 --tasks mqar parity --cells lstm mlstm slstm
    python benchmarks/synthetic.py --quick                                # smoke run

Tasks (generated on the fly, rnnkit.data.synthetic): MQAR (Arora et al. 2023), selective
copying (Gu & Dao 2023), parity (state tracking; judged at the last step), the adding
problem (|error| < 0.04). Each model is embedding (or Linear for the adding problem's two
floats) -> a 2-layer stack of the cell -> Linear, with H chosen per cell so the whole model
has the parameter count closest to ``--params`` (printed). Each run trains with Adam
(``--lr``, clip 1.0, batch ``--batch``) until its *process CPU time* reaches ``--budget``
seconds (1 torch thread, so machine load slows a run but does not shorten its budget), then
is scored on ``--eval`` fresh sequences from a fixed seed. Prints one Markdown table:
accuracy per task and cell, with the papers' qualitative findings in the last row.
Cells registered twice under two names (rnn, rnn_tanh) run once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table  # noqa: E402
from rnnkit.data import synthetic as syn  # noqa: E402
from rnnkit.nn import RecurrentSpec  # noqa: E402
from rnnkit.nn.registry import cell_names, get_cell  # noqa: E402

EMBED = 32  # E: embedding / input projection width, the same for every cell


@dataclass(frozen=True)
class Task:
    """A synthetic task as the runner sees it."""

    make: Callable[[int, torch.Generator], syn.SyntheticBatch]
    vocab: int  # input ids (0: float inputs, the adding problem)
    outputs: int  # classes (1: regression)
    what: str  # how it is set up, for the printout
    paper: str  # the papers' qualitative finding


TASKS: dict[str, Task] = {
    "mqar": Task(
        lambda b, g: syn.mqar(b, num_pairs=8, num_keys=16, num_values=16, generator=g),
        33,
        33,
        "8 pairs, 8 queries, 16 keys, 16 values (T = 24)",
        "matrix memory recalls: mLSTM solves it where LSTM fails (Beck et al. 2024, synthetic "
        "tasks); Hawk (RG-LRU) trails attention on retrieval (De et al. 2024)",
    ),  # fmt: skip
    "selective_copy": Task(
        lambda b, g: syn.selective_copy(b, length=32, num_tokens=4, vocab=8, generator=g),
        10,
        10,
        "4 of 8 tokens among 32 steps, then 4 markers (T = 36)",
        "input-dependent (selective) gating solves it, time-invariant linear recurrences "
        "do not (Mamba Table 1)",
    ),  # fmt: skip
    "parity": Task(
        lambda b, g: syn.parity(b, length=32, generator=g),
        2,
        2,
        "32 bits, running parity; judged at the last step",
        "state tracking: sLSTM (and LSTM) track it, mLSTM and other linear recurrences "
        "do not (Beck et al. 2024, formal languages)",
    ),  # fmt: skip
    "adding": Task(
        lambda b, g: syn.adding(b, length=50, generator=g),
        0,
        1,
        "T = 50, |error| < 0.04",
        "LSTM solves it (Hochreiter & Schmidhuber 1997); vanilla RNNs struggle at long T",
    ),  # fmt: skip
}


class Net(nn.Module):
    """Embedding (or Linear) -> recurrent stack -> Linear: ``x (T, B[, 2])`` -> ``(T, B, O)``."""

    def __init__(self, spec: RecurrentSpec, vocab: int, outputs: int, shift: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, EMBED) if vocab else nn.Linear(2, EMBED)
        self.shift = shift
        self.rnn = spec.build(2 * EMBED if shift else EMBED)
        self.head = nn.Linear(spec.output_size, outputs)

    def forward(self, x: Tensor) -> Tensor:
        e = self.embed(x)  # (T, B, E)
        if self.shift:  # [e_t; e_{t-1}]: a width-2 causal convolution's view of the input
            e = torch.cat([e, F.pad(e, (0, 0, 0, 0, 1, 0))[:-1]], dim=-1)  # (T, B, 2E)
        out, _ = self.rnn(e)  # (T, B, H)
        return self.head(out)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sized(cell: str, task: Task, target: int, layers: int, shift: bool = False) -> tuple[Net, int]:
    """The model with the hidden size whose parameter count is closest to ``target``."""

    def build(h: int) -> Net:
        spec = RecurrentSpec(cell=cell, hidden_size=h, num_layers=layers)
        return Net(spec, task.vocab, task.outputs, shift)

    lo, hi = 1, 1024  # count grows with H: bisect for the last H at or under the target
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(build(mid)) <= target else (lo, mid - 1)
    # then the nearest count around it: the xLSTM cells' default heads (4, 2 or 1, whichever
    # divides H) make their count jump between neighbouring H
    best = min(range(max(lo - 4, 1), lo + 5), key=lambda h: abs(count(build(h)) - target))
    return build(best), best


def loss_and_score(task_name: str, net: Net, batch: syn.SyntheticBatch) -> tuple[Tensor, float]:
    """Training loss and exact accuracy of ``net`` on ``batch``."""
    out = net(batch.inputs)  # (T, B, O)
    if task_name == "adding":
        pred = out[-1, :, 0]  # (B,)
        return F.mse_loss(pred, batch.targets), syn.adding_accuracy(pred, batch.targets)
    loss = F.cross_entropy(out.flatten(0, 1), batch.targets.flatten(), ignore_index=syn.IGNORE)
    if task_name == "parity":  # judged at the last step: the whole sequence's parity
        return loss, syn.token_accuracy(out[-1:], batch.targets[-1:])
    return loss, syn.token_accuracy(out, batch.targets)


def run(task_name: str, cell: str, args: argparse.Namespace) -> dict[str, object]:
    """Train one cell on one task for the CPU budget; score it on held-out data."""
    task = TASKS[task_name]
    torch.manual_seed(args.seed)
    net, hidden = sized(cell, task, args.params, args.layers, args.shift)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    data = torch.Generator().manual_seed(args.seed)
    start, steps = time.process_time(), 0
    while time.process_time() - start < args.budget:
        loss, _ = loss_and_score(task_name, net, task.make(args.batch, data))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        steps += 1
    net.eval()
    with torch.no_grad():
        held_out = torch.Generator().manual_seed(10_000 + args.seed)
        _, acc = loss_and_score(task_name, net, task.make(args.eval, held_out))
    return {"acc": acc, "H": hidden, "params": count(net), "steps": steps}


def distinct_cells() -> list[str]:
    """Every registered cell, once per (layer class, fixed arguments)."""
    seen, out = set(), []
    for name in cell_names():
        kind = get_cell(name)
        key = (kind.layer, tuple(sorted(kind.fixed.items())))
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--cells", nargs="+", default=None, help="default: every registered cell")
    p.add_argument("--budget", type=float, default=20.0, help="CPU seconds per cell and task")
    p.add_argument("--params", type=int, default=20_000, help="target parameter count")
    p.add_argument("--layers", type=int, default=2, help="recurrent layers L")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval", type=int, default=1024, help="held-out sequences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--shift", action="store_true",
        help="feed [e_t; e_(t-1)] (the previous token too, as the papers' short causal "
        "convolution would) instead of e_t",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="0.5 s budget, 3 cells")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cells = args.cells or distinct_cells()
    if args.quick:
        args.budget, args.eval, cells = 0.5, 64, args.cells or ["lstm", "mlstm", "rglru"]
    print(f"budget {args.budget:g} CPU s per run, 1 thread, target {args.params} parameters, "
          f"L = {args.layers}, E = {EMBED}, batch {args.batch}, Adam lr {args.lr:g}, "
          f"eval {args.eval} sequences, shift {args.shift}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name in args.tasks:
        print(f"- {name}: {TASKS[name].what}")
    results: dict[tuple[str, str], dict[str, object]] = {}
    for cell in cells:
        for name in args.tasks:
            results[cell, name] = r = run(name, cell, args)
            print(f"  {cell:8s} {name:15s} acc {r['acc']:.3f}  H {r['H']:4d}  params "
                  f"{r['params']}  steps {r['steps']}", flush=True)  # fmt: skip
    header = ["cell", *(f"{t} acc (H, steps)" for t in args.tasks)]
    rows = [
        [cell, *(f"{results[cell, t]['acc']:.2f} ({results[cell, t]['H']}, "
                 f"{results[cell, t]['steps']})" for t in args.tasks)]
        for cell in cells
    ]  # fmt: skip
    rows.append(["papers", *(TASKS[t].paper for t in args.tasks)])
    print(table(header, rows))


if __name__ == "__main__":
    main()
