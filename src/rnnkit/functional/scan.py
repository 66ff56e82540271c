"""The time scan: run any cell (see :mod:`rnnkit.functional.cells`) over a sequence.

Flax/Equinox style: one loop, ``reverse=`` and per-sequence ``lengths=``. Padded steps leave
the state unchanged and give a zero output, so the returned state is each row's last valid
step; with ``reverse=True`` each row starts at its own last valid step, as PyTorch's packed
bidirectional layers do. Reversal with lengths is nothing more than running time backwards
while padded steps carry the state: :func:`scan` does it step by step, and
:func:`scan_whole` does it for runners that take the whole sequence at once (the parallel
minGRU/minLSTM scans) by flipping the time axis. Stacking and bidirectional layers are
composition on top (see :mod:`rnnkit.functional.layers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["Cell", "scan", "scan_whole", "state_output", "valid_mask"]

Cell = Callable[..., Any]
"""A pure step ``(state, x_t, **per_step) -> state`` (see :mod:`rnnkit.functional.cells`)."""

WholeRun = Callable[[Tensor, Tensor | None, Tensor | None], Tensor]
"""``run(x (T, B, ·), h0 (B, H) or None, valid (T, B, 1) or None) -> h (T, B, H)``: forward
in time, the state carried unchanged over invalid steps."""


def state_output(state: Any) -> Tensor:
    """The output of a step: the state itself (Tensor) or its first field (``h`` of a tuple)."""
    return state if isinstance(state, Tensor) else state[0]


def valid_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """``(T, B, 1)`` bool, True where step t is within row b's ``lengths[b]`` steps."""
    valid = torch.arange(steps, device=device).unsqueeze(1) < lengths.to(device)  # (T, B)
    return valid.unsqueeze(-1)  # (T, B, 1)


def _select(mask: Tensor, new: Any, old: Any) -> Any:
    """``new`` where ``mask (B, 1)`` is True else ``old``, field by field for tuple states."""
    if isinstance(new, Tensor):
        return torch.where(mask, new, old)
    return type(new)(*(torch.where(mask, n, o) for n, o in zip(new, old, strict=True)))


def _steps(per_step: Mapping[str, Tensor] | None) -> list[dict[str, Tensor]] | None:
    """``{name: (T, B, ·)}`` -> per step ``{name: (B, ·)}`` (unbind: one stack in backward)."""
    if not per_step:
        return None
    names, parts = list(per_step), [v.unbind(0) for v in per_step.values()]
    return [dict(zip(names, p, strict=True)) for p in zip(*parts, strict=True)]


def scan(
    cell: Cell,
    x: Tensor,
    state: Any,
    *,
    reverse: bool = False,
    lengths: Tensor | None = None,
    per_step: Mapping[str, Tensor] | None = None,
) -> tuple[Tensor, Any]:
    """Run ``cell`` over the time axis of ``x``.

    Args:
        cell: a pure step ``(state, x_t, **per_step_t) -> state``.
        x: ``(T, B, ·)``, time-major (often the input already projected by ``W_ih``).
        state: the initial state, a Tensor ``(B, H)`` or a NamedTuple of ``(B, ·)`` Tensors.
        reverse: run from the last step to the first (outputs stay in time order).
        lengths: ``(B,)`` integer valid lengths (``1 <= lengths <= T``; not checked here, the
            layers check them), or None when every row has all T steps.
        per_step: ``{name: (T, B, ·)}`` further inputs, step t's slices passed to the cell by
            keyword (zoneout masks; no concatenation onto ``x``).

    Returns:
        ``(outputs, state)``: ``outputs (T, B, H)`` (zero at padded steps) and the final
        state (each row's last valid step; the state after step 0 with ``reverse``).
    """
    steps = x.size(0)
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    # unbind, not x[t]: its backward is ONE stack of the step gradients, where T selects would
    # each scatter into a fresh (T, B, ·) zero tensor (quadratic in T).
    xs = x.unbind(0)  # T x (B, ·)
    extra = _steps(per_step)
    shortest = longest = steps
    if lengths is not None:
        valid = valid_mask(lengths, steps, x.device)  # (T, B, 1)
        # One host sync up front: steps before min(lengths) need no masking at all, steps at
        # or after max(lengths) change nothing and are skipped.
        pair = torch.stack([lengths.min(), lengths.max()]).tolist()
        shortest, longest = (int(v) for v in pair)
    kept: list[Tensor | None] = []  # None: a step past every row's end, zero output
    for t in order:
        if t >= longest:
            kept.append(None)
            continue
        new = cell(state, xs[t]) if extra is None else cell(state, xs[t], **extra[t])
        state = new if t < shortest else _select(valid[t], new, state)
        kept.append(state_output(state))
    if longest < steps:  # steps past every row's end output zeros
        zero = torch.zeros_like(state_output(state))
        kept = [zero if o is None else o for o in kept]
    if reverse:
        kept.reverse()
    out = torch.stack(kept)  # type: ignore[arg-type]  # (T, B, H)
    if shortest < steps:
        out = torch.where(valid, out, 0.0)  # zero outputs at padded steps
    return out, state


def scan_whole(
    run: WholeRun,
    x: Tensor,
    h0: Tensor | None,
    *,
    reverse: bool = False,
    lengths: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`scan`'s contract for a runner that takes the whole sequence at once.

    ``run(x, h0, valid) -> h (T, B, H)`` runs forward in time and carries the state over
    steps where ``valid (T, B, 1)`` is False. Reverse flips the time axis: a short row's
    padding then comes first and carries ``h0``, so each row starts at its last valid step.

    Returns:
        ``(outputs (T, B, H), final (B, H))`` as :func:`scan`.
    """
    valid = None if lengths is None else valid_mask(lengths, x.size(0), x.device)
    if reverse:
        x = x.flip(0)
        valid = None if valid is None else valid.flip(0)
    h = run(x, h0, valid)  # (T, B, H)
    final = h[-1]  # padded steps carry: the last row is each row's last valid state
    if valid is not None:
        h = torch.where(valid, h, 0.0)
    return (h.flip(0) if reverse else h), final
