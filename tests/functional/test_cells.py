"""The pure cell steps vs torch.nn's cells, and the precomputed-projection form vs the plain one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.functional import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell

B, I, H = 3, 5, 4
F64 = torch.float64


def fields(state) -> list:
    return list(state) if isinstance(state, tuple) else [state]


def weights_of(cell: torch.nn.RNNCellBase, bias: bool) -> dict:
    w = {"w_ih": cell.weight_ih, "w_hh": cell.weight_hh}
    if bias:
        w |= {"b_ih": cell.bias_ih, "b_hh": cell.bias_hh}
    return w


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "name, ours, ref",
    [
        ("tanh", rnn_tanh_cell, lambda b: torch.nn.RNNCell(I, H, b, "tanh", dtype=F64)),
        ("relu", rnn_relu_cell, lambda b: torch.nn.RNNCell(I, H, b, "relu", dtype=F64)),
        ("gru", gru_cell, lambda b: torch.nn.GRUCell(I, H, b, dtype=F64)),
        ("lstm", lstm_cell, lambda b: torch.nn.LSTMCell(I, H, b, dtype=F64)),
    ],
)
def test_cell_matches_torch_cell_with_grads(name, ours, ref, bias):
    torch.manual_seed(0)
    cell = ref(bias)
    x = torch.randn(B, I, dtype=F64, requires_grad=True)
    h = torch.randn(B, H, dtype=F64, requires_grad=True)
    c = torch.randn(B, H, dtype=F64, requires_grad=True)
    state = LSTMState(h, c) if name == "lstm" else h
    expected = cell(x, (h, c) if name == "lstm" else h)
    expected = expected if name == "lstm" else (expected,)
    got = ours(state, x, **weights_of(cell, bias))
    got = tuple(got) if name == "lstm" else (got,)
    if name == "lstm":
        assert isinstance(ours(state, x, **weights_of(cell, bias)), LSTMState)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, atol=1e-12, rtol=0)
    # gradients of every input and weight agree
    probe = [x, h, c, *cell.parameters()]
    ge = torch.autograd.grad(sum(t.square().sum() for t in expected), probe, allow_unused=True)
    gg = torch.autograd.grad(sum(t.square().sum() for t in got), probe, allow_unused=True)
    for a, b in zip(ge, gg, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["tanh", "relu", "lstm", "gru"])
def test_precomputed_projection_equals_plain_step(name):
    """``w_ih=None``: x is already ``x W_ih^T + b_ih`` (and for non-GRU b_hh may be folded in)."""
    torch.manual_seed(1)
    gates = {"tanh": 1, "relu": 1, "lstm": 4, "gru": 3}[name]
    step = {"tanh": rnn_tanh_cell, "relu": rnn_relu_cell, "lstm": lstm_cell, "gru": gru_cell}
    step = step[name]
    w_ih, w_hh = torch.randn(gates * H, I, dtype=F64), torch.randn(gates * H, H, dtype=F64)
    b_ih, b_hh = torch.randn(gates * H, dtype=F64), torch.randn(gates * H, dtype=F64)
    x, h = torch.randn(B, I, dtype=F64), torch.randn(B, H, dtype=F64)
    state = LSTMState(h, torch.randn(B, H, dtype=F64)) if name == "lstm" else h
    plain = step(state, x, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    projected = step(state, F.linear(x, w_ih, b_ih), w_ih=None, w_hh=w_hh, b_hh=b_hh)
    for a, b in zip(fields(plain), fields(projected), strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=0)
    if name != "gru":  # both biases folded into the projection
        folded = step(state, F.linear(x, w_ih, b_ih + b_hh), w_ih=None, w_hh=w_hh)
        for a, b in zip(fields(plain), fields(folded), strict=True):
            torch.testing.assert_close(b, a, atol=1e-12, rtol=0)


def test_lstm_projection_matches_torch_lstm_one_step():
    torch.manual_seed(2)
    ref = torch.nn.LSTM(I, H, proj_size=2, dtype=F64)
    x = torch.randn(1, B, I, dtype=F64)
    h0, c0 = torch.randn(1, B, 2, dtype=F64), torch.randn(1, B, H, dtype=F64)
    _, (h1, c1) = ref(x, (h0, c0))
    w = {"w_ih": ref.weight_ih_l0, "w_hh": ref.weight_hh_l0, "b_ih": ref.bias_ih_l0}
    w |= {"b_hh": ref.bias_hh_l0, "w_hr": ref.weight_hr_l0}
    h, c = lstm_cell(LSTMState(h0[0], c0[0]), x[0], **w)
    assert h.shape == (B, 2) and c.shape == (B, H)
    torch.testing.assert_close(h, h1[0], atol=1e-12, rtol=0)
    torch.testing.assert_close(c, c1[0], atol=1e-12, rtol=0)


def test_bias_without_input_weight_is_an_error():
    h = torch.zeros(B, H)
    with pytest.raises(ValueError, match="`b_ih` must be None when `w_ih` is None"):
        rnn_tanh_cell(h, torch.zeros(B, H), w_ih=None, w_hh=torch.zeros(H, H), b_ih=torch.zeros(H))
