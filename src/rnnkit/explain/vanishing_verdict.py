"""The verdict of the vanishing experiment: does the tanh RNN fail where the gated cells succeed?

The two sides of the textbook statement (Hochreiter & Schmidhuber 1997; Bengio et al. 1994)
are read from the cell registry, not listed: :func:`textbook_cells`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.nn.registry import CELLS

__all__ = ["textbook_cells", "verdict"]


def textbook_cells(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The two sides of the textbook statement among ``names``, read from the registry.

    Returns ``(tanh, gated)``: the cells whose layer is :class:`rnnkit.nn.RNN` with tanh (the
    Elman RNN of the textbooks), and the classic gated cells, whose layer is
    :class:`rnnkit.nn.LSTM` or :class:`rnnkit.nn.GRU` with nothing fixed (no layer norm).
    Names not registered are in neither.
    """
    tanh, gated = [], []
    for name in names:
        kind = CELLS.get(name)
        if kind is None:
            continue
        if kind.layer is RNN and kind.fixed.get("nonlinearity", "tanh") == "tanh":
            tanh.append(name)
        elif kind.layer in (LSTM, GRU) and not kind.fixed:
            gated.append(name)
    return tanh, gated


def verdict(table: pd.DataFrame) -> str:
    """Plain sentences, per task and length: whether the tanh RNN fails where the gated
    cells succeed (the cells on each side named from the table, see
    :func:`textbook_cells`), and how the other cells did."""
    lines = []
    for (task, length), g in table.groupby(["task", "length"], sort=False):
        by = g.set_index("cell")
        tanh, gated = textbook_cells(list(by.index))
        if not (tanh and gated):
            continue
        solved = {c: bool(by.loc[c, "solved"]) for c in by.index}
        tanh_ok, gated_ok = any(solved[c] for c in tanh), all(solved[c] for c in gated)
        sides = f"the tanh RNN ({', '.join(tanh)}) and the gated cells ({', '.join(gated)})"
        if not tanh_ok and gated_ok:
            head = (
                f"REPRODUCED - the tanh RNN ({', '.join(tanh)}) fails where the gated cells "
                f"({', '.join(gated)}) succeed"
            )
        elif tanh_ok and gated_ok:
            head = f"all of {sides} succeed - too short to separate them"
        elif not tanh_ok and not any(solved[c] for c in gated):
            head = f"NOT reproduced - none of {sides} succeeds at this budget (more --steps)"
        else:
            who = ", ".join(c for c in tanh + gated if solved[c])
            head = f"NOT cleanly reproduced - of {sides} only {who} succeed(s)"
        others = [c for c in by.index if c not in tanh + gated]
        won = [c for c in others if solved[c]]
        lost = [c for c in others if not solved[c]]
        rest = f"; other cells: solved {', '.join(won) or 'none'}" if others else ""
        rest += f", failed {', '.join(lost)}" if lost else ""
        grad = ", ".join(
            f"{c} {_fmt(by.loc[c, 'ratio_init'])} -> {_fmt(by.loc[c, 'ratio_trained'])}"
            for c in tanh + gated
        )
        lines.append(
            f"{task} T={length}: {head}{rest}\n"
            f"  ratio ||dL/dh_1||/||dL/dh_T|| {grad} (at init -> trained)"
        )
    return "\n".join(lines) or "no rows of both the tanh RNN and the gated cells to compare"


def _fmt(v: float) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1e}"
