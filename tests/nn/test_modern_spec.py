"""RecurrentSpec's xLSTM fields (``num_heads``, ``chunk_size``, ``forget_gate``): validated
once, passed to the cells that use them, refused for the cells that cannot."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import ClassifierConfig, LMConfig
from rnnkit.nn import MLSTM, SLSTM, RecurrentSpec


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell": "slstm", "num_heads": -1}, r"`num_heads` must be >= 0 .*got -1"),
        ({"cell": "mlstm", "chunk_size": -4}, r"`chunk_size` must be >= 0 .*got -4"),
        (
            {"cell": "mlstm", "hidden_size": 12, "num_heads": 5},
            r"`num_heads` must divide `hidden_size`=12, got 5",
        ),
        ({"cell": "slstm", "forget_gate": "tanh"}, r"`forget_gate` must be one of .*got 'tanh'"),
        ({"cell": "lstm", "num_heads": 4}, r"`num_heads` is only for cells mlstm, slstm, got"),
        ({"cell": "rglru", "num_heads": 2}, r"`num_heads` is only for cells .*cell='rglru'"),
        ({"cell": "slstm", "chunk_size": 16}, r"`chunk_size` is only for cells mlstm, got"),
        ({"cell": "mlstm", "forget_gate": "exp"}, r"`forget_gate` is only for cells slstm, got"),
        ({"cell": "gru", "forget_gate": "exp"}, r"`forget_gate` is only for cells slstm, got"),
    ],
)
def test_xlstm_fields_are_validated_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecurrentSpec(**kwargs)


def test_unset_fields_are_fine_for_every_cell_and_not_passed():
    for cell in ("lstm", "gru", "mingru", "rglru", "slstm", "mlstm"):
        assert RecurrentSpec(cell=cell, hidden_size=8).layer_options() == {}


def test_fields_reach_the_layers():
    spec = RecurrentSpec(cell="slstm", hidden_size=8, num_heads=2, forget_gate="exp")
    layer = spec.build(3)
    assert isinstance(layer, SLSTM) and (layer.num_heads, layer.forget_gate) == (2, "exp")
    assert layer.weight_hh_l0.shape == (4, 2, 4, 4)
    spec = RecurrentSpec(cell="mlstm", hidden_size=8, num_heads=8, chunk_size=5)
    layer = spec.build(3)
    assert isinstance(layer, MLSTM) and (layer.num_heads, layer.chunk_size) == (8, 5)
    out, state = layer(torch.randn(12, 2, 3))  # (T, B, I): 12 > 5 steps, chunkwise
    assert out.shape == (12, 2, 8) and state.C.shape == (1, 2, 8, 1, 1)
    assert isinstance(RecurrentSpec(cell="slstm", hidden_size=6).build(3), SLSTM)  # default 2


def test_model_configs_take_the_fields_flat_and_round_trip():
    config = LMConfig(cell="mlstm", hidden_size=8, num_heads=2, chunk_size=16)
    assert (config.rnn.num_heads, config.rnn.chunk_size) == (2, 16)
    assert LMConfig.from_dict(config.to_dict()) == config
    saved = LMConfig(cell="slstm", hidden_size=8).to_dict()
    del saved["rnn"]["num_heads"], saved["rnn"]["forget_gate"]  # a config from before
    assert LMConfig.from_dict(saved).rnn.num_heads == 0
    with pytest.raises(ValueError, match="`num_heads` is only for cells"):
        ClassifierConfig(num_classes=2, vocab_size=5, cell="gru", num_heads=2)
