"""The time scan: run any cell (see :mod:`rnnkit.functional.cells`) over a sequence.

Flax/Equinox style: one loop, ``reverse=`` and per-sequence ``lengths=``. Padded steps leave
the state unchanged and give a zero output, so the returned state is each row's last valid
step; with ``reverse=True`` each row starts at its own last valid step, as PyTorch's packed
bidirectional layers do. Stacking and bidirectional layers are composition on top (see
:mod:`rnnkit.functional.layers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Cell", "scan", "state_output"]

Cell = Callable[[Any, Tensor], Any]
"""A pure step ``(state, x_t) -> state`` (see the protocol in :mod:`rnnkit.functional.cells`)."""


def state_output(state: Any) -> Tensor:
    """The output of a step: the state itself (Tensor) or its first field (``h`` of a tuple)."""
    return state if isinstance(state, Tensor) else state[0]


def _select(mask: Tensor, new: Any, old: Any) -> Any:
    """``new`` where ``mask (B, 1)`` is True else ``old``, field by field for tuple states."""
    if isinstance(new, Tensor):
        return torch.where(mask, new, old)
    return type(new)(*(torch.where(mask, n, o) for n, o in zip(new, old, strict=True)))


def scan(
    cell: Cell,
    x: Tensor,
    state: Any,
    *,
    reverse: bool = False,
    lengths: Tensor | None = None,
) -> tuple[Tensor, Any]:
    """Run ``cell`` over the time axis of ``x``.

    Args:
        cell: a pure step ``(state, x_t) -> state``.
        x: ``(T, B, ·)``, time-major (often the input already projected by ``W_ih``).
        state: the initial state, a Tensor ``(B, H)`` or a NamedTuple of ``(B, ·)`` Tensors.
        reverse: run from the last step to the first (outputs stay in time order).
        lengths: ``(B,)`` integer valid lengths (``1 <= lengths <= T``; not checked here, the
            layers check them), or None when every row has all T steps.

    Returns:
        ``(outputs, state)``: ``outputs (T, B, H)`` (zero at padded steps) and the final
        state (each row's last valid step; the state after step 0 with ``reverse``).
    """
    steps = x.size(0)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    # unbind, not x[t]: its backward is ONE stack of the step gradients, where T selects would
    # each scatter into a fresh (T, B, ·) zero tensor (quadratic in T).
    xs = x.unbind(0)  # T x (B, ·)
    outputs: list[Tensor] = []
    if lengths is None:
        for t in order:
            state = cell(state, xs[t])
            outputs.append(state_output(state))
        if reverse:
            outputs.reverse()
        return torch.stack(outputs), state  # (T, B, H)

    lengths = lengths.to(device=x.device)
    valid = torch.arange(steps, device=x.device).unsqueeze(1) < lengths  # (T, B)
    valid = valid.unsqueeze(-1)  # (T, B, 1)
    # One host sync up front: steps before min(lengths) need no masking at all, steps at or
    # after max(lengths) change nothing and are skipped.
    shortest, longest = (int(v) for v in torch.stack([lengths.min(), lengths.max()]).tolist())
    kept: list[Tensor | None] = []  # None: a step past every row's end, zero output
    for t in order:
        if t >= longest:
            kept.append(None)
            continue
        new = cell(state, xs[t])
        state = new if t < shortest else _select(valid[t], new, state)
        kept.append(state_output(state))
    if longest < steps:  # steps past every row's end output zeros
        zero = torch.zeros_like(state_output(state))
        kept = [zero if o is None else o for o in kept]
    outputs = kept
    if reverse:
        outputs.reverse()
    out = torch.stack(outputs)  # (T, B, H)
    if shortest < steps:
        out = torch.where(valid, out, 0.0)  # zero outputs at padded steps
    return out, state
