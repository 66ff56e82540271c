"""``make_rnn``: the recurrent layer by name, the one way rnnkit's task models build theirs.

The names are the rows of :mod:`rnnkit.nn.registry` (``LAYERS`` is its compatibility view);
a new cell is a new row there, never a change here.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.nn.registry import LAYERS, OPTIONS, check_cell_options, get_cell

__all__ = ["LAYERS", "make_rnn"]


def make_rnn(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    dropout: float = 0.0,
    bidirectional: bool = False,
    batch_first: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """A recurrent layer chosen by name.

    Args:
        cell: a name in :func:`rnnkit.nn.registry.cell_names` (case-insensitive).
        input_size: I; hidden_size: H; num_layers: L.
        dropout, bidirectional, batch_first: as torch.nn; dropout acts between layers, so
            with ``num_layers=1`` it is set to 0 (torch.nn would warn that it does nothing).
        **kwargs: passed on to the layer (``bias``, ``impl``, ``device``, ``dtype``, and the
            options of :data:`rnnkit.nn.registry.OPTIONS` the cell supports, e.g.
            ``proj_size`` for LSTM; an unsupported option set is a ``ValueError``).

    Returns:
        The layer, called as ``layer(x (T, B, I), state) -> (output (T, B, D·H), state)``;
        the state is ``h (L·D, B, H)`` or ``LSTMState(h, c)``.
    """
    kind = get_cell(cell)
    check_cell_options(cell, {k: v for k, v in kwargs.items() if k in OPTIONS})
    for option in set(OPTIONS) - kind.supports:
        kwargs.pop(option, None)  # unset (checked above): proj_size=0 is fine for every cell
    clash = sorted(set(kind.fixed) & set(kwargs))
    if clash:
        raise ValueError(f"cell={cell!r} fixes {clash}; do not pass them again")
    if num_layers == 1:
        dropout = 0.0
    return kind.layer(
        input_size,
        hidden_size,
        num_layers,
        dropout=dropout,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **kind.fixed,
        **kwargs,
    )
