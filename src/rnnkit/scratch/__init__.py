"""rnnkit.scratch: RNN, LSTM and GRU in NumPy with backprop through time written by hand.

Imports NumPy only (``safetensors.numpy`` when loading checkpoints), never torch, so a
trained model runs without torch and every gate and gradient is in plain sight.

>>> import numpy as np
>>> from rnnkit.scratch import LSTM
>>> lstm = LSTM(3, 5, num_layers=2, rng=np.random.default_rng(0))
>>> y, (h, c) = lstm.forward(np.ones((7, 2, 3)))   # x: (T, B, I)
>>> y.shape, h.shape
((7, 2, 5), (2, 2, 5))
>>> dx, dhx = lstm.backward(np.ones_like(y))       # BPTT; lstm.grads holds dW
"""

from rnnkit.scratch.bptt import truncated_bptt
from rnnkit.scratch.cells import CELLS, cell_backward, cell_forward
from rnnkit.scratch.gradcheck import gradcheck
from rnnkit.scratch.interop import (
    export_state_dict,
    load_safetensors,
    load_state_dict,
    save_safetensors,
)
from rnnkit.scratch.layers import GRU, LSTM, RNN, LSTMState, Recurrent
from rnnkit.scratch.minrnn import MinGRU, MinLSTM
from rnnkit.scratch.models import CharLM
from rnnkit.scratch.modules import Embedding, Linear, Module, cross_entropy, mse_loss
from rnnkit.scratch.optim import (
    SGD,
    Adagrad,
    Adam,
    clip_grad_norm,
    clip_grad_value,
    init_he,
    init_orthogonal,
    init_uniform,
    init_xavier,
)
from rnnkit.scratch.rglru import RGLRU
from rnnkit.scratch.slstm import SLSTM

__all__ = [
    "CELLS",
    "GRU",
    "LSTM",
    "RGLRU",
    "RNN",
    "SGD",
    "SLSTM",
    "Adagrad",
    "Adam",
    "CharLM",
    "Embedding",
    "LSTMState",
    "Linear",
    "MinGRU",
    "MinLSTM",
    "Module",
    "Recurrent",
    "cell_backward",
    "cell_forward",
    "clip_grad_norm",
    "clip_grad_value",
    "cross_entropy",
    "export_state_dict",
    "gradcheck",
    "init_he",
    "init_orthogonal",
    "init_uniform",
    "init_xavier",
    "load_safetensors",
    "load_state_dict",
    "mse_loss",
    "save_safetensors",
    "truncated_bptt",
]
