"""``make_rnn``: the recurrent layer by name, the one way rnnkit's task models build theirs.

A small table from name to (layer class, fixed keyword arguments); new cells (issue 9:
"mingru", "minlstm", layer-norm variants) are new rows.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.nn.minrnn import MinGRU, MinLSTM
from rnnkit.nn.rnn import GRU, LSTM, RNN

__all__ = ["LAYERS", "make_rnn"]

# name -> (layer class, keyword arguments the name fixes)
LAYERS: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "rnn": (RNN, {"nonlinearity": "tanh"}),
    "rnn_tanh": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "lstm_ln": (LSTM, {"layer_norm": True}),  # Ba et al. 2016, see rnnkit.functional.ln_cells
    "gru_ln": (GRU, {"layer_norm": True}),
    "mingru": (MinGRU, {}),
    "minlstm": (MinLSTM, {}),
}


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
        cell: one of ``LAYERS`` ("rnn"/"rnn_tanh", "rnn_relu", "lstm", "gru"; case-insensitive).
        input_size: I; hidden_size: H; num_layers: L.
        dropout, bidirectional, batch_first: as torch.nn; dropout acts between layers, so
            with ``num_layers=1`` it is set to 0 (torch.nn would warn that it does nothing).
        **kwargs: passed on to the layer (``bias``, ``proj_size`` (LSTM only), ``impl``,
            ``device``, ``dtype``).

    Returns:
        The layer, called as ``layer(x (T, B, I), state) -> (output (T, B, D·H), state)``;
        the state is ``h (L·D, B, H)`` or ``LSTMState(h, c)``.
    """
    key = cell.lower() if isinstance(cell, str) else cell
    if key not in LAYERS:
        raise ValueError(f"`cell` must be one of {sorted(LAYERS)}, got {cell!r}")
    layer, fixed = LAYERS[key]
    if kwargs.get("proj_size") and layer is not LSTM:
        raise ValueError(
            f"`proj_size` is only for LSTM, got proj_size={kwargs['proj_size']} with cell={cell!r}"
        )
    if layer is not LSTM:
        kwargs.pop("proj_size", None)  # proj_size=0 is accepted for every name
    clash = sorted(set(fixed) & set(kwargs))
    if clash:
        raise ValueError(f"cell={cell!r} fixes {clash}; do not pass them again")
    if num_layers == 1:
        dropout = 0.0
    return layer(
        input_size,
        hidden_size,
        num_layers,
        dropout=dropout,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **fixed,
        **kwargs,
    )
