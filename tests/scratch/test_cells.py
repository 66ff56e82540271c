"""One complete cell step (cell_forward / cell_backward) vs torch.nn.*Cell in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.scratch.cells import cell_backward, cell_forward, sigmoid

B, I, H = 4, 3, 5


def rel(a, b) -> float:
    b = np.asarray(b)
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_cell_step_matches_torch_cell(mode):
    rng = np.random.default_rng(0)
    if mode == "LSTM":
        tcell = torch.nn.LSTMCell(I, H, dtype=torch.float64)
    elif mode == "GRU":
        tcell = torch.nn.GRUCell(I, H, dtype=torch.float64)
    else:
        tcell = torch.nn.RNNCell(I, H, nonlinearity=mode[4:].lower(), dtype=torch.float64)
    params = {
        "W_ih": tcell.weight_ih.detach().numpy().copy(),
        "W_hh": tcell.weight_hh.detach().numpy().copy(),
        "b_ih": tcell.bias_ih.detach().numpy().copy(),
        "b_hh": tcell.bias_hh.detach().numpy().copy(),
    }
    x = rng.standard_normal((B, I))
    state = tuple(rng.standard_normal((B, H)) for _ in range(2 if mode == "LSTM" else 1))
    new, cache = cell_forward(mode, x, state, params)
    dnew = tuple(rng.standard_normal((B, H)) for _ in new)
    dx, dstate, grads = cell_backward(mode, dnew, cache, params)
    assert set(grads) == {"dW_ih", "dW_hh", "db_ih", "db_hh"}

    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s, requires_grad=True) for s in state)
    out = tcell(xt, st if mode == "LSTM" else st[0])
    out = out if mode == "LSTM" else (out,)
    sum((o * torch.from_numpy(d)).sum() for o, d in zip(out, dnew, strict=True)).backward()
    for a, b in zip(new, out, strict=True):
        assert rel(a, b.detach()) < 1e-12
    assert rel(dx, xt.grad) < 1e-12
    for a, b in zip(dstate, st, strict=True):
        assert rel(a, b.grad) < 1e-12
    for ours, theirs in [("dW_ih", "weight_ih"), ("dW_hh", "weight_hh"), ("db_ih", "bias_ih")]:
        assert rel(grads[ours], getattr(tcell, theirs).grad) < 1e-12, ours
    assert rel(grads["db_hh"], tcell.bias_hh.grad) < 1e-12


def test_sigmoid_is_exact_and_never_overflows():
    a = np.linspace(-30, 30, 601)
    assert np.abs(sigmoid(a) - 1 / (1 + np.exp(-a))).max() < 1e-15
    with np.errstate(over="raise"):
        assert sigmoid(np.array([-1000.0]))[0] == 0.0


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="`mode`"):
        cell_forward("LSTMX", np.zeros((1, 1)), (np.zeros((1, 1)),), {})
