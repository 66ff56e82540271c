"""``make_rnn``: the layer by name."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import GRU, LAYERS, LSTM, RNN, make_rnn


@pytest.mark.parametrize(
    "name, cls, nonlinearity",
    [
        ("rnn", RNN, "tanh"),
        ("rnn_tanh", RNN, "tanh"),
        ("rnn_relu", RNN, "relu"),
        ("lstm", LSTM, None),
        ("GRU", GRU, None),
    ],
)
def test_make_rnn_builds_the_named_layer(name, cls, nonlinearity):
    layer = make_rnn(name, 3, 4, 2, dropout=0.25, bidirectional=True, batch_first=True, bias=False)
    assert type(layer) is cls
    assert (
        layer.num_layers,
        layer.dropout,
        layer.bidirectional,
        layer.batch_first,
        layer.bias,
    ) == (
        2,
        0.25,
        True,
        True,
        False,
    )
    if nonlinearity:
        assert layer.nonlinearity == nonlinearity
    out, _ = layer(torch.randn(2, 5, 3))  # (B, T, I)
    assert out.shape == (2, 5, 8)


def test_make_rnn_passes_lstm_options_and_impl():
    lstm = make_rnn("lstm", 3, 4, proj_size=2, impl="scan", dtype=torch.float64)
    assert lstm.proj_size == 2 and lstm.impl == "scan" and lstm.weight_hr_l0.dtype == torch.float64
    assert make_rnn("gru", 3, 4, proj_size=0).hidden_size == 4


def test_make_rnn_errors():
    with pytest.raises(
        ValueError,
        match=r"`cell` must be one of \['gru', 'gru_ln', 'lstm', 'lstm_ln', 'mingru', 'minlstm', "
        r"'mlstm', 'rglru', 'rnn', 'rnn_relu', 'rnn_tanh', 'slstm'\], got 'transformer'",
    ):
        make_rnn("transformer", 3, 4)
    assert set(LAYERS) == {
        "gru", "gru_ln", "lstm", "lstm_ln", "mingru", "minlstm", "mlstm", "rglru", "rnn",
        "rnn_relu", "rnn_tanh", "slstm",
    }  # fmt: skip
    with pytest.raises(
        ValueError,
        match=r"`proj_size` is only for cells lstm, lstm_ln, got proj_size=2 with cell='gru'",
    ):
        make_rnn("gru", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"cell='rnn_relu' fixes \['nonlinearity'\]"):
        make_rnn("rnn_relu", 3, 4, nonlinearity="tanh")


def test_make_rnn_single_layer_drops_the_no_op_dropout_without_warning(recwarn):
    layer = make_rnn("lstm", 3, 4, 1, dropout=0.5)
    assert layer.dropout == 0.0
    assert not [w for w in recwarn if "dropout" in str(w.message)]


def test_make_rnn_layer_norm_rows_and_regularisers():
    lstm = make_rnn("lstm_ln", 3, 4, 2, dropout=0.3, dropout_kind="locked", weight_drop=0.2)
    assert lstm.layer_norm and lstm.dropout_kind == "locked" and lstm.weight_drop == 0.2
    assert make_rnn("gru_ln", 3, 4).forward_path() == "scan"
    with pytest.raises(ValueError, match=r"cell='lstm_ln' fixes \['layer_norm'\]"):
        make_rnn("lstm_ln", 3, 4, layer_norm=False)
