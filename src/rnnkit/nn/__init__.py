"""rnnkit.nn: recurrent layers drop-in for ``torch.nn``, plus ``lengths=`` and a readable scan.

- :mod:`~rnnkit.nn.rnn`: ``RNN``, ``LSTM``, ``GRU`` (``impl="auto" | "fused" | "scan"``);
- :mod:`~rnnkit.nn.cells`: ``RNNCell``, ``LSTMCell``, ``GRUCell``;
- :mod:`~rnnkit.nn.minrnn`: ``MinGRU``, ``MinLSTM`` (Feng et al. 2024, parallel scan);
- :mod:`~rnnkit.nn.slstm`, :mod:`~rnnkit.nn.mlstm`: ``SLSTM``, ``MLSTM`` (xLSTM, Beck et al.
  2024); :mod:`~rnnkit.nn.rglru`: ``RGLRU`` (Hawk, De et al. 2024);
- :mod:`~rnnkit.nn.registry`: the one table of cell kinds (``register_cell``, ``cell_names``);
- :mod:`~rnnkit.nn.factory`: ``make_rnn(cell, input_size, hidden_size, ...)`` by name;
- :mod:`~rnnkit.nn.spec`: ``RecurrentSpec``, a recurrent stack declared once for every model;
- :mod:`~rnnkit.nn.regularization`: the dropout kinds, zoneout and weight drop options;
- :mod:`~rnnkit.nn.attention`: additive (Bahdanau), dot and general (Luong) attention.
"""

from rnnkit.functional.cells import LSTMState
from rnnkit.nn.attention import AdditiveAttention, DotAttention, GeneralAttention, make_attention
from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.factory import LAYERS, make_rnn
from rnnkit.nn.minrnn import MinGRU, MinLSTM
from rnnkit.nn.mlstm import MLSTM
from rnnkit.nn.registry import CELLS, cell_names, register_cell, unregister_cell
from rnnkit.nn.rglru import RGLRU
from rnnkit.nn.rnn import GRU, LSTM, RNN
from rnnkit.nn.slstm import SLSTM
from rnnkit.nn.spec import RecurrentSpec

__all__ = [
    "AdditiveAttention",
    "CELLS",
    "RecurrentSpec",
    "cell_names",
    "register_cell",
    "unregister_cell",
    "DotAttention",
    "GeneralAttention",
    "make_attention",
    "GRU",
    "LAYERS",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "LSTMState",
    "MinGRU",
    "MinLSTM",
    "MLSTM",
    "RGLRU",
    "SLSTM",
    "RNNCell",
    "make_rnn",
]
