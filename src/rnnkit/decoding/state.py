"""Recurrent states for decoding: tile a batch for beams/samples and reorder it.

A state is a tensor, ``None``, or a (named) tuple / list of states (e.g. ``LSTMState(h, c)``
with ``h, c: (L * D, B, H)``). Every tensor in it has the batch on the same dimension
``dim`` (1 for rnnkit/torch RNN states, ``(L * D, B, H)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["State", "expand_state", "map_state", "reorder_state"]

State = Any  # torch.Tensor | None | tuple/NamedTuple/list of State


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """Apply ``fn`` to every tensor of ``state``, keeping its (named) tuple structure."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple
        return type(state)(*(map_state(s, fn) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(s, fn) for s in state)
    raise TypeError(
        f"`state` must be a tensor, None or a tuple/list of them, got {type(state).__name__}"
    )


def reorder_state(state: State, index: torch.Tensor, dim: int = 1) -> State:
    """Select batch entries ``index`` (``(B',)`` int64) along ``dim`` of every tensor."""
    return map_state(state, lambda t: t.index_select(dim, index.to(t.device)))


def expand_state(state: State, times: int, dim: int = 1) -> State:
    """Repeat each batch entry ``times`` times in place along ``dim``: ``B -> B * times``,
    entry ``b`` becoming entries ``b * times .. b * times + times - 1`` (beams of row ``b``)."""
    if times < 1:
        raise ValueError(f"`times` must be >= 1, got {times}")
    return map_state(state, lambda t: t.repeat_interleave(times, dim=dim))
