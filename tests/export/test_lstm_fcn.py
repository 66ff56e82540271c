"""LSTM-FCN (the default series classifier) on onnxruntime and NumPy vs torch, float32.

Conv1d/BatchNorm/ReLU and the masked average pooling go through torch's exporter; the
recurrent branch through rnnkit's recurrent placeholder; ragged batches, the dimension
shuffle and the step averaging (``max_length``) included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from export.test_parity import TOL, _max_err, numpy_adapter, ort_adapter
from rnnkit.data.classification import read_ts_examples
from rnnkit.models.lstm_fcn import LSTMFCN, LSTMFCNConfig
from rnnkit.nn import RecurrentSpec

CONFIGS = [  # (rnn_axis, max_length, pooling, cell, bidirectional, num_layers)
    ("time", None, "last", "lstm", True, 2),
    ("time", 4, "attention", "gru", False, 1),  # every 3 steps averaged into one
    ("channels", None, "last", "lstm", False, 1),  # the paper's dimension shuffle
    ("channels", 5, "mean", "lstm_ln", True, 1),
]


def _model(axis: str, max_length, pooling: str, cell: str, bi: bool, layers: int, I: int):
    torch.manual_seed(5)
    spec = RecurrentSpec(cell=cell, hidden_size=6, num_layers=layers, bidirectional=bi)
    cfg = LSTMFCNConfig(num_classes=4, input_size=I, rnn=spec, pooling=pooling, rnn_axis=axis,
                        input_length=12, max_length=max_length, filters=(8, 16, 8))  # fmt: skip
    model = LSTMFCN(cfg)
    for norm in model.conv.norms:  # trained-looking running statistics, not 0 and 1
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize(("axis", "max_length", "pooling", "cell", "bi", "layers"), CONFIGS)
def test_random_ragged_batches(
    tmp_path: Path, axis: str, max_length, pooling: str, cell: str, bi: bool, layers: int
) -> None:
    model = _model(axis, max_length, pooling, cell, bi, layers, I=3)
    x, lengths = torch.randn(12, 5, 3), torch.tensor([12, 7, 1, 10, 4])
    with torch.no_grad():
        ref = model(x, lengths)
        short = model(x[:8, 1:4], lengths[1:4].clamp(max=8))
    for rt in (ort_adapter(model, tmp_path / "o", "classify"),
               numpy_adapter(model, tmp_path / "n", "classify")):  # fmt: skip
        assert _max_err(rt(x, lengths), ref) < TOL
        # batch and time are dynamic, and padding content does not matter
        assert _max_err(rt(x[:8, 1:4], lengths[1:4].clamp(max=8)), short) < TOL
        noisy = torch.where(torch.arange(12)[:, None, None] < lengths[None, :, None], x, 9.0)
        assert _max_err(rt(noisy, lengths), ref) < TOL


def test_real_basic_motions_slice(tmp_path: Path, data_dir: Path) -> None:
    """Six-channel accelerometer series (BasicMotions), cut to ragged lengths."""
    ex = read_ts_examples(data_dir / "BasicMotions" / "BasicMotions_TEST.ts")
    lengths = torch.tensor([100, 61, 30, 87])
    x = torch.zeros(100, 4, 6)
    for b, (item, n) in enumerate(zip(ex.items[::10], lengths.tolist(), strict=True)):
        x[:n, b] = torch.as_tensor(item[:n], dtype=torch.float32)
    torch.manual_seed(6)
    spec = RecurrentSpec(cell="lstm", hidden_size=8)
    cfg = LSTMFCNConfig(num_classes=4, input_size=6, rnn=spec, input_length=100, max_length=40,
                        filters=(16, 32, 16))  # fmt: skip
    model = LSTMFCN(cfg).eval()
    with torch.no_grad():
        ref = model(x, lengths)
    for rt in (ort_adapter(model, tmp_path / "o", "classify"),
               numpy_adapter(model, tmp_path / "n", "classify")):  # fmt: skip
        got = rt(x, lengths)
        assert _max_err(got, ref) < TOL
        assert np.array_equal(got.argmax(-1).numpy(), ref.argmax(-1).numpy())
