"""rnnkit.functional: pure cell steps and the time scan, on torch tensors.

- :mod:`~rnnkit.functional.cells`: ``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``,
  ``gru_cell`` and ``LSTMState`` (the cell protocol is documented there);
- :mod:`~rnnkit.functional.scan`: ``scan(cell, x, state, *, reverse, lengths)``;
- :mod:`~rnnkit.functional.layers`: ``scan_layers``, stacked/bidirectional composition.
"""

from rnnkit.functional.cells import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from rnnkit.functional.layers import MODES, CellWeights, dropout_between_layers, scan_layers
from rnnkit.functional.scan import Cell, scan, state_output

__all__ = [
    "MODES",
    "Cell",
    "CellWeights",
    "LSTMState",
    "dropout_between_layers",
    "gru_cell",
    "lstm_cell",
    "rnn_relu_cell",
    "rnn_tanh_cell",
    "scan",
    "scan_layers",
    "state_output",
]
