"""rnnkit.functional: pure cell steps and the time scan, on torch tensors.

- :mod:`~rnnkit.functional.cells`: ``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``,
  ``gru_cell`` (one step per kind, layer norm / recurrent dropout / zoneout as options) and
  ``LSTMState`` (the cell protocol is documented there);
- :mod:`~rnnkit.functional.scan`: ``scan(cell, x, state, *, reverse, lengths)``;
- :mod:`~rnnkit.functional.layers`: ``scan_layers`` and ``stack_layers``, the one
  stacked/bidirectional composition;
- :mod:`~rnnkit.functional.minrnn`: minGRU / minLSTM steps and parallel scans.
"""

from rnnkit.functional.cells import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from rnnkit.functional.layers import (
    MODES,
    CellOptions,
    CellWeights,
    dropout_between_layers,
    join_states,
    scan_layers,
    stack_layers,
)
from rnnkit.functional.scan import Cell, scan, scan_whole, state_output, valid_mask

__all__ = [
    "MODES",
    "Cell",
    "CellOptions",
    "CellWeights",
    "LSTMState",
    "dropout_between_layers",
    "gru_cell",
    "join_states",
    "lstm_cell",
    "rnn_relu_cell",
    "rnn_tanh_cell",
    "scan",
    "scan_layers",
    "scan_whole",
    "stack_layers",
    "state_output",
    "valid_mask",
]
