"""scratch layers vs torch autograd in float64: outputs, states and every gradient."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.scratch.layers import GRU, LSTM, RNN, LSTMState

T, B, I, H = 5, 3, 4, 3
TOL = 1e-10


def rel(a, b) -> float:
    """max |a - b| relative to the size of the reference b."""
    b = np.asarray(b)
    return float(np.abs(np.asarray(a) - b).max() / max(np.abs(b).max(), 1e-300))


P = 2  # proj_size of the "LSTMP" configurations


def make(mode: str, layers: int, bidir: bool, rng, **kw):
    if mode == "LSTM":
        return LSTM(I, H, layers, bidirectional=bidir, rng=rng, **kw), torch.nn.LSTM
    if mode == "LSTMP":
        net = LSTM(I, H, layers, bidirectional=bidir, rng=rng, proj_size=P, **kw)
        return net, lambda *a, **k: torch.nn.LSTM(*a, proj_size=P, **k)
    if mode == "GRU":
        return GRU(I, H, layers, bidirectional=bidir, rng=rng, **kw), torch.nn.GRU
    nl = mode.split("_")[1].lower()
    return RNN(I, H, layers, nl, bidirectional=bidir, rng=rng, **kw), (
        lambda *a, **k: torch.nn.RNN(*a, nonlinearity=nl, **k)
    )


def torch_twin(scratch, ctor, layers, bidir, **kw):
    net = ctor(I, H, layers, bidirectional=bidir, dtype=torch.float64, **kw)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in scratch.params.items()})
    return net


MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU", "LSTMP"]
CONFIGS = list(itertools.product(MODES, [1, 2], [False, True], [0, 1], [0, 1]))


@pytest.mark.parametrize("mode,layers,bidir,use_lengths,use_h0", CONFIGS)
def test_layer_matches_torch_autograd(mode, layers, bidir, use_lengths, use_h0):
    rng = np.random.default_rng(CONFIGS.index((mode, layers, bidir, use_lengths, use_h0)))
    net, ctor = make(mode, layers, bidir, rng)
    tnet = torch_twin(net, ctor, layers, bidir)
    LD = layers * (2 if bidir else 1)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([T, 2, 4]) if use_lengths else None
    is_lstm = mode.startswith("LSTM")
    hx = None
    if use_h0:
        hx = rng.standard_normal((LD, B, P if mode == "LSTMP" else H))
        if is_lstm:
            hx = LSTMState(hx, rng.standard_normal((LD, B, H)))

    y, hn = net.forward(x, hx, lengths)
    dy = rng.standard_normal(y.shape)
    dhn = (
        LSTMState(rng.standard_normal(hn.h.shape), rng.standard_normal(hn.c.shape))
        if is_lstm
        else rng.standard_normal(hn.shape)
    )
    dx, dhx = net.backward(dy, dhn)

    xt = torch.tensor(x, requires_grad=True)
    hxt = None
    if hx is not None:
        parts = hx if is_lstm else (hx,)
        hxt = tuple(torch.tensor(a, requires_grad=True) for a in parts)
    inp = xt if lengths is None else pack_padded_sequence(xt, lengths, enforce_sorted=False)
    yt, hnt = tnet(inp, None if hxt is None else (hxt if is_lstm else hxt[0]))
    if lengths is not None:
        yt, _ = pad_packed_sequence(yt, total_length=T)
    hn_parts, dhn_parts = (hn, dhn) if is_lstm else ((hn,), (dhn,))
    hnt_parts = hnt if is_lstm else (hnt,)
    loss = (yt * torch.from_numpy(dy)).sum()
    for a, d in zip(hnt_parts, dhn_parts, strict=True):
        loss = loss + (a * torch.from_numpy(d)).sum()
    loss.backward()

    assert rel(y, yt.detach()) < TOL
    for a, b in zip(hn_parts, hnt_parts, strict=True):
        assert rel(a, b.detach()) < TOL
    assert rel(dx, xt.grad) < TOL
    if hxt is not None:
        dhx_parts = dhx if is_lstm else (dhx,)
        for a, b in zip(dhx_parts, hxt, strict=True):
            assert rel(a, b.grad) < TOL
    for name, p in tnet.named_parameters():
        assert rel(net.grads[name], p.grad) < TOL, name


def test_padded_steps_output_zero_and_keep_state():
    rng = np.random.default_rng(1)
    net = GRU(I, H, 1, bidirectional=True, rng=rng)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([T, 2, 4])
    y, hn = net.forward(x, lengths=lengths)
    assert np.all(y[2:, 1] == 0) and np.all(y[4:, 2] == 0)
    # forward direction's final state is the output at the last valid step
    assert np.allclose(hn[0, 1], y[1, 1, :H]) and np.allclose(hn[0, 2], y[3, 2, :H])
    # the reverse direction of a row equals running the reverse on that row alone, unpadded
    y_short, _ = net.forward(x[:2, 1:2])
    assert np.allclose(y[:2, 1], y_short[:, 0])


def test_sigmoid_rnn_matches_torch_loop():
    """torch has no sigmoid RNN: compare with an explicit autograd loop."""
    rng = np.random.default_rng(2)
    net = RNN(I, H, 1, "sigmoid", rng=rng)
    x = rng.standard_normal((T, B, I))
    y, hn = net.forward(x)
    dy = rng.standard_normal(y.shape)
    dx, _ = net.backward(dy)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    xt = torch.tensor(x, requires_grad=True)
    h, outs = torch.zeros(B, H, dtype=torch.float64), []
    for t in range(T):
        a = xt[t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T
        h = torch.sigmoid(a + p["bias_hh_l0"])
        outs.append(h)
    yt = torch.stack(outs)
    (yt * torch.from_numpy(dy)).sum().backward()
    assert rel(y, yt.detach()) < TOL and rel(hn[0], h.detach()) < TOL
    assert rel(dx, xt.grad) < TOL
    for k, v in p.items():
        assert rel(net.grads[k], v.grad) < TOL, k


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_batch_first_and_unbatched(mode):
    rng = np.random.default_rng(3)
    net, _ = make(mode, 2, True, rng)
    bf, _ = make(mode, 2, True, rng, batch_first=True)
    for k in net.params:
        bf.params[k][...] = net.params[k]
    x = rng.standard_normal((T, B, I))
    y, _ = net.forward(x)
    y_bf, _ = bf.forward(x.transpose(1, 0, 2))
    assert np.allclose(y_bf.transpose(1, 0, 2), y)
    dy = rng.standard_normal(y.shape)
    dx, _ = net.backward(dy)
    dx_bf, _ = bf.backward(dy.transpose(1, 0, 2))
    assert np.allclose(dx_bf.transpose(1, 0, 2), dx)
    y1, _ = net.forward(x[:, 0])
    assert y1.shape == (T, 2 * H) and np.allclose(y1, y[:, 0])


def test_float32_close_to_float64():
    rng = np.random.default_rng(4)
    n64 = LSTM(I, H, 2, rng=rng)
    n32 = LSTM(I, H, 2, dtype=np.float32, rng=rng)
    for k in n64.params:
        n32.params[k][...] = n64.params[k]
    x = rng.standard_normal((T, B, I))
    y32, _ = n32.forward(x)
    assert y32.dtype == np.float32
    assert rel(y32, n64.forward(x)[0]) < 1e-5


def test_errors_name_the_argument():
    net = LSTM(I, H)
    with pytest.raises(ValueError, match="expects 4"):
        net.forward(np.zeros((T, B, I + 1)))
    with pytest.raises(ValueError, match="`lengths`"):
        net.forward(np.zeros((T, B, I)), lengths=np.array([T + 1, 1, 1]))
    with pytest.raises(ValueError, match="`hx`"):
        net.forward(np.zeros((T, B, I)), np.zeros((1, B, H)))
    with pytest.raises(ValueError, match="`hidden_size`"):
        GRU(I, 0)


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM", "GRU"])
def test_layer_equals_cell_stepped_by_hand(mode):
    """Step cell_forward by hand over time (forward and backward) and compare with the layer."""
    from rnnkit.scratch.cells import cell_backward, cell_forward

    rng = np.random.default_rng(5)
    net, _ = make(mode, 1, False, rng)
    p = {
        "W_ih": net.params["weight_ih_l0"],
        "W_hh": net.params["weight_hh_l0"],
        "b_ih": net.params["bias_ih_l0"],
        "b_hh": net.params["bias_hh_l0"],
    }
    x = rng.standard_normal((T, B, I))
    y, _ = net.forward(x)
    dy = rng.standard_normal(y.shape)
    dx, _ = net.backward(dy)
    state = tuple(np.zeros((B, H)) for _ in range(2 if mode == "LSTM" else 1))
    caches = []
    for t in range(T):
        state, cache = cell_forward(mode, x[t], state, p)
        caches.append(cache)
        assert np.allclose(state[0], y[t], rtol=0, atol=1e-14)
    dstate = tuple(np.zeros((B, H)) for _ in state)
    dW_hh = np.zeros_like(p["W_hh"])
    for t in range(T - 1, -1, -1):
        dstate = (dstate[0] + dy[t], *dstate[1:])
        dx_t, dstate, grads = cell_backward(mode, dstate, caches[t], p)
        dW_hh += grads["dW_hh"]
        assert np.allclose(dx_t, dx[t], rtol=0, atol=1e-13)
    assert np.allclose(dW_hh, net.grads["weight_hh_l0"], rtol=0, atol=1e-12)
