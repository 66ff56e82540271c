"""The vanishing-gradient experiment: every registered cell on long-dependency tasks.

Two synthetic tasks whose answer depends on the first steps of a long sequence:

- **adding** (Hochreiter & Schmidhuber 1997, experiment 4; Le, Jaitly & Hinton 2015): each
  step is a pair (value ~ U(0, 1), marker). Two markers are 1: one in the first 10 % of the
  steps, one anywhere in the first half; the target is the sum of the two marked values,
  read at the last step. Nothing after T/2 carries information, so a network must carry
  the values over at least T/2 steps. The trivial baseline predicts 1 (the mean):
  MSE = Var(u1 + u2) = 1/6 ≈ 0.167; "solved" is MSE <= half of that.
- **copy** (copy memory, Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016), here in its
  smallest form: one symbol out of 8 at the first step, blanks after it, recalled at the
  last step (chance 1/8). Not in the default run: with one symbol the tanh RNN recalls it
  over 50 steps (measured, docs/explain.md), so at a budget of minutes it does not separate
  the cells; the textbook version (10 symbols) needs thousands of steps. ``--tasks copy``
  runs it.

A small network (input -> one recurrent layer of ``hidden_size`` -> linear) of each cell is
trained with Adam (``lr``, gradient norm clipped to 1) for ``steps`` steps at each length
(``scan_steps`` for cells that run step by step in Python, 5-10x slower per step: the
layer-norm cells' explicit scan, the sLSTM); the table records the final figure on 256
held-out sequences against the baseline, and the gradient-norm ratio
``||dL/dh_1|| / ||dL/dh_T||`` of the loss at the end, at initialisation and after training
(:mod:`rnnkit.explain.gradients`; for the xLSTM cells, whose ``h_t`` is a read-out of their
memory, the ratio is of the memory, ``||dL/dc_1|| / ||dL/dc_T||``).

Initialisation. Every cell starts from its layer's own initialisation (torch's default for
the classic cells, the paper's for the newer ones), except the forget gate of the LSTM kinds
(the cells whose layer is :class:`~rnnkit.nn.LSTM`, layer-normed or not, or
:class:`~rnnkit.nn.MinLSTM`), set by ``forget_init``:

- ``"chrono"`` (default; Tallec & Ollivier 2018, "Can recurrent neural networks warp
  time?"): forget bias ``b_f ~ log U(1, T - 1)`` per unit and input bias ``-b_f``, so the
  cell starts out remembering over up to T steps.
- ``"one"``: forget bias 1 (Gers et al. 2000; Jozefowicz et al. 2015), the common default.
- ``"default"``: torch's initialisation (forget bias ~ U(-1/sqrt(H), 1/sqrt(H))).

Measured (docs/explain.md): with ``"one"`` the LSTM stays at the baseline on the adding
problem at T = 50 for 1,500 steps (with batch 128: 500 steps), ``"default"`` for 600 steps,
although ``"one"`` solves T = 10 in ~250 steps; a forget gate of sigmoid(1) = 0.73 still
shrinks the memory by 0.73^25 ≈ 4e-4 over the 25 steps that separate the second marker
from the end. With ``"chrono"`` it solves T = 100 in 400 steps. The GRU needs no such help here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.explain.gradients import flow_table, probed_backward, ratios
from rnnkit.explain.probe import recurrent_layers
from rnnkit.explain.vanishing_verdict import textbook_cells, verdict
from rnnkit.nn import LSTM, MinLSTM, make_rnn
from rnnkit.nn.registry import CELLS, cell_names

__all__ = [
    "DEFAULT_TASKS",
    "FORGET_INITS",
    "TASKS",
    "VanishingResult",
    "distinct_cells",
    "init_forget_gate",
    "make_batch",
    "run_vanishing",
    "textbook_cells",
    "verdict",
]

log = logging.getLogger(__name__)

TASKS = ("adding", "copy")
DEFAULT_TASKS = ("adding",)
FORGET_INITS = ("chrono", "one", "default")
COPY_SYMBOLS, COPY_K = 8, 1
ADDING_BASELINE = 1.0 / 6.0  # Var(u1 + u2) for u ~ U(0, 1): the MSE of always answering 1


def make_batch(
    task: str, length: int, batch: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """One batch: ``x (T, B, I)`` and the target (adding: ``(B,)``; copy: ``(K, B)`` ids).

    Adding: I = 2 (value, marker). Copy: I = S + 2 one-hot (symbols, blank, recall cue).
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}, got {task!r}")
    if task == "adding":
        if length < 2:
            raise ValueError(f"the adding problem needs `length` >= 2, got {length}")
        values = torch.rand(length, batch, generator=generator)
        first = torch.randint(0, max(1, length // 10), (batch,), generator=generator)
        second = torch.randint(0, max(1, length // 2), (batch,), generator=generator)
        second = torch.where(second == first, (first + 1) % length, second)
        marks = torch.zeros(length, batch)
        cols = torch.arange(batch)
        marks[first, cols] = 1.0
        marks[second, cols] = 1.0
        target = values[first, cols] + values[second, cols]  # (B,)
        return torch.stack([values, marks], -1), target  # (T, B, 2)
    if length < 2 * COPY_K + 1:
        raise ValueError(f"the copy task needs `length` >= {2 * COPY_K + 1}, got {length}")
    symbols = torch.randint(0, COPY_SYMBOLS, (COPY_K, batch), generator=generator)
    ids = torch.full((length, batch), COPY_SYMBOLS)  # blank
    ids[:COPY_K] = symbols
    ids[-COPY_K:] = COPY_SYMBOLS + 1  # the recall cue
    return F.one_hot(ids, COPY_SYMBOLS + 2).float(), symbols  # (T, B, S + 2)


class _Net(nn.Module):
    def __init__(self, cell: str, task: str, hidden: int) -> None:
        super().__init__()
        inputs, outputs = (2, 1) if task == "adding" else (COPY_SYMBOLS + 2, COPY_SYMBOLS)
        self.task = task
        self.rnn = make_rnn(cell, inputs, hidden)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)  # (T, B, H)
        if self.task == "adding":
            return self.head(out[-1]).squeeze(-1)  # (B,)
        return self.head(out[-COPY_K:])  # (K, B, S)


def init_forget_gate(
    layer: nn.Module, mode: str, length: int, generator: torch.Generator | None = None
) -> bool:
    """Set the forget-gate bias of an LSTM-kind layer (LSTM, layer-norm LSTM, minLSTM).

    Both keep the input gate in bias block 0 and the forget gate in block 1 (LSTM: i, f,
    g, o; minLSTM: i, f, h). ``mode``: "chrono" (``b_f ~ log U(1, length - 1)``, input bias
    ``-b_f``; Tallec & Ollivier 2018), "one" (forget bias 1; Gers et al. 2000), "default"
    (leave torch's). ``bias_hh``'s blocks are zeroed so that the sum is the bias set.

    Returns whether the layer has a forget gate (False: nothing changed).
    """
    if mode not in FORGET_INITS:
        raise ValueError(f"`forget_init` must be one of {FORGET_INITS}, got {mode!r}")
    if mode == "default" or not isinstance(layer, LSTM | MinLSTM):
        return False
    h = layer.hidden_size
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("bias_hh"):
                p[0 if mode == "chrono" else h : 2 * h].zero_()
            elif name.startswith("bias_ih"):
                if mode == "one":
                    p[h : 2 * h] = 1.0
                    continue
                span = float(max(length - 2, 0))
                forget = torch.log1p(torch.rand(h, generator=generator) * span)  # (H,)
                p[h : 2 * h] = forget
                p[:h] = -forget
    return True


def distinct_cells(cells: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The registered cells (or ``cells``) without aliases: ``(names, skipped aliases)``.

    Two names with the same layer class and fixed arguments (``rnn`` and ``rnn_tanh``) are
    one network; the first name alphabetically is kept.
    """
    names = list(cells) if cells else cell_names()
    unknown = sorted(set(names) - set(cell_names()))
    if unknown:
        raise ValueError(f"`cells` must be registered cells {cell_names()}, got {unknown}")
    seen: dict[tuple, str] = {}
    kept, skipped = [], []
    for name in names:
        kind = CELLS[name]
        key = (kind.layer, tuple(sorted(kind.fixed.items())))
        if key in seen:
            skipped.append(f"{name} (same network as {seen[key]})")
        else:
            seen[key] = name
            kept.append(name)
    return kept, skipped


def _loss(net: _Net, x: Tensor, y: Tensor) -> Tensor:
    pred = net(x)
    if net.task == "adding":
        return F.mse_loss(pred, y)
    return F.cross_entropy(pred.flatten(0, 1), y.flatten())


def _score(net: _Net, x: Tensor, y: Tensor) -> float:
    """Adding: MSE; copy: accuracy of the recalled symbols."""
    with torch.no_grad():
        pred = net(x)
        if net.task == "adding":
            return float(F.mse_loss(pred, y))
        return float((pred.argmax(-1) == y).float().mean())


def _ratio(net: _Net, x: Tensor, y: Tensor) -> float:
    if not recurrent_layers(net):  # a cell the probe does not know yet: no ratio to show
        return float("nan")
    record, _ = probed_backward(net, lambda m: _loss(m, x, y))
    return float(ratios(flow_table(record))["ratio"].iloc[0])


@dataclass(frozen=True)
class _Budget:
    steps: int
    batch: int
    hidden: int
    lr: float
    forget_init: str
    seed: int


def _one(task: str, cell: str, length: int, b: _Budget) -> dict:
    gen = torch.Generator().manual_seed(b.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(b.seed)
        net = _Net(cell, task, b.hidden)
    gated = init_forget_gate(net.rnn, b.forget_init, length, gen)
    probe_x, probe_y = make_batch(task, length, 64, torch.Generator().manual_seed(b.seed + 1))
    test_x, test_y = make_batch(task, length, 256, torch.Generator().manual_seed(b.seed + 2))
    ratio_init = _ratio(net, probe_x, probe_y)
    opt = torch.optim.Adam(net.parameters(), lr=b.lr)
    start = time.perf_counter()
    net.train()
    for _ in range(b.steps):
        x, y = make_batch(task, length, b.batch, gen)
        loss = _loss(net, x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - start
    net.eval()
    value = _score(net, test_x, test_y)
    if task == "adding":
        metric, baseline, solved = "mse", ADDING_BASELINE, value <= 0.5 * ADDING_BASELINE
    else:
        chance = 1.0 / COPY_SYMBOLS
        metric, baseline, solved = "accuracy", chance, value >= chance + 0.5 * (1 - chance)
    return {
        "task": task,
        "cell": cell,
        "init": f"forget {b.forget_init}" if gated else "default",
        "length": length,
        "steps": b.steps,
        "metric": metric,
        "value": value,
        "baseline": baseline,
        "solved": bool(solved),
        "ratio_init": ratio_init,
        "ratio_trained": _ratio(net, probe_x, probe_y),
        "train_seconds": seconds,
    }


@dataclass
class VanishingResult:
    """The experiment's table (one row per task, cell and length) and its verdict.

    ``table`` columns: task, cell, init, length, steps, metric (mse / accuracy), value,
    baseline, solved, ratio_init, ratio_trained (``||dL/dh_1|| / ||dL/dh_T||``),
    train_seconds. ``notes``: aliases skipped and the budget of the scan-path cells.
    """

    table: pd.DataFrame
    verdict: str
    notes: list[str]


def run_vanishing(
    *,
    tasks: Sequence[str] = DEFAULT_TASKS,
    cells: Sequence[str] | None = None,
    lengths: Sequence[int] = (10, 50, 100),
    steps: int = 400,
    scan_steps: int = 150,
    hidden_size: int = 32,
    batch_size: int = 32,
    lr: float = 1e-2,
    forget_init: str = "chrono",
    seed: int = 0,
) -> VanishingResult:
    """Train every cell on every task and length; see the module doc.

    Args:
        tasks: some of :data:`TASKS`; cells: registered cell names (default: all, aliases
            once, see :func:`distinct_cells`).
        lengths: sequence lengths T; steps: Adam steps per run (the budget); scan_steps:
            the steps of cells whose layer runs step by step in Python (slower per step:
            the explicit scan, or a layer with no parallel form).
        hidden_size, batch_size, lr: of each run; forget_init: one of
            :data:`FORGET_INITS` for the LSTM kinds; seed: data and initialisation.
    """
    bad = sorted(set(tasks) - set(TASKS))
    if bad or not tasks:
        raise ValueError(f"`tasks` must be some of {TASKS}, got {list(tasks)}")
    for name, value in (("steps", steps), ("scan_steps", scan_steps)):
        if value < 1:
            raise ValueError(f"`{name}` must be >= 1, got {value}")
    if forget_init not in FORGET_INITS:
        raise ValueError(f"`forget_init` must be one of {FORGET_INITS}, got {forget_init!r}")
    names, aliases = distinct_cells(cells)
    notes = [f"not run twice: {', '.join(aliases)}"] if aliases else []
    unprobed = [c for c in names if not recurrent_layers(make_rnn(c, 2, 2))]
    if unprobed:
        notes.append(
            f"{', '.join(unprobed)}: rnnkit.explain.probe does not know these layers yet: "
            "trained and scored, but no gradient ratio (nan)"
        )
    scan = [c for c in names if _slow(c)]
    if scan and scan_steps != steps:
        notes.append(
            f"{', '.join(scan)} run step by step in Python (about 5-10x slower per step): "
            f"{scan_steps} steps instead of {steps}; a failure there may be the budget"
        )
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these tiny networks run fastest on one thread; restored below
    try:
        for task in tasks:
            for length in lengths:
                for cell in names:
                    n = scan_steps if cell in scan else steps
                    budget = _Budget(n, batch_size, hidden_size, lr, forget_init, seed)
                    rows.append(_one(task, cell, int(length), budget))
                    _log_row(rows[-1])
    finally:
        torch.set_num_threads(threads)
    table = pd.DataFrame(rows)
    return VanishingResult(table, verdict(table), notes)


def _slow(cell: str) -> bool:
    """Whether the cell's layer runs step by step in Python: the explicit scan (layer-norm
    cells), or a layer whose ``modes`` have no parallel form (the sLSTM)."""
    layer = make_rnn(cell, 2, 2)
    path = getattr(layer, "forward_path", None)
    if path is not None:
        return path() == "scan"
    modes = getattr(layer, "modes", None)
    return modes is not None and not {"parallel", "chunkwise"} & set(modes)


def _log_row(row: dict) -> None:
    log.info(
        "%s T=%d %s: %s %.3f (baseline %.3f), ratio %.2e -> %.2e, %.1f s",
        row["task"],
        row["length"],
        row["cell"],
        row["metric"],
        row["value"],
        row["baseline"],
        row["ratio_init"],
        row["ratio_trained"],
        row["train_seconds"],
    )
