"""gradcheck on scratch models, and truncated BPTT vs torch with a detached carried state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.scratch import GRU, LSTM, RNN, CharLM, Linear, cross_entropy, gradcheck, mse_loss
from rnnkit.scratch.bptt import truncated_bptt

GRID = [
    (LSTM, {}, 2, True),
    (GRU, {}, 2, True),
    (RNN, {}, 2, True),
    (RNN, {"nonlinearity": "relu"}, 1, False),
    (RNN, {"nonlinearity": "sigmoid"}, 2, False),
    (LSTM, {"bias": False}, 1, True),
]


@pytest.mark.parametrize("cls,kw,layers,bidir", GRID)
def test_gradcheck_agrees_with_backward(cls, kw, layers, bidir):
    rng = np.random.default_rng(0)
    net = cls(3, 4, layers, bidirectional=bidir, rng=rng, **kw)
    D = 2 if bidir else 1
    head = Linear(4 * D, 2, rng=rng)
    x, target = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 2))
    lengths = np.array([5, 3])
    h0 = rng.standard_normal((layers * D, 2, 4))
    hx = (h0, h0 * 0.5) if cls is LSTM else h0

    def loss_fn(_model) -> float:
        y, _ = net.forward(x, hx, lengths=lengths)
        loss, dpred = mse_loss(head.forward(y), target)
        net.backward(head.backward(dpred))
        return loss

    errors = gradcheck(net, loss_fn, max_entries=8, rng=rng)
    assert set(errors) == set(net.params)
    assert max(errors.values()) < 1e-6


def test_gradcheck_flags_a_wrong_gradient():
    rng = np.random.default_rng(1)
    w = {"w": rng.standard_normal(5)}
    wrong = {"w": 2 * w["w"] + 1e-3}  # true gradient of sum(w^2) is 2w

    errors = gradcheck(lambda: float((w["w"] ** 2).sum()), params=w, grads=wrong)
    assert errors["w"] > 1e-5
    right = gradcheck(lambda: float((w["w"] ** 2).sum()), params=w, grads={"w": 2 * w["w"]})
    assert right["w"] < 1e-8


def test_gradcheck_charlm_cross_entropy():
    rng = np.random.default_rng(2)
    lm = CharLM(7, 4, 5, 2, "gru", rng=rng)
    ids, targets = rng.integers(0, 7, (6, 2)), rng.integers(0, 7, (6, 2))
    errors = gradcheck(lm, lambda m: m.train_step(ids, targets)[0], max_entries=6, rng=rng)
    assert "embedding.weight" in errors and "rnn.weight_hh_l1" in errors
    assert max(errors.values()) < 1e-6


def _torch_tbptt(net, x, W, k1, k2):
    """TBPTT(k1, k2) in torch autograd: each window restarts from a detached state."""
    tnet = torch.nn.LSTM(net.input_size, net.hidden_size, net.num_layers, dtype=torch.float64)
    tnet.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in net.params.items()})
    xt, Wt = torch.from_numpy(x), torch.from_numpy(W)
    T, prev_end = x.shape[0], 0
    for end in range(k1, T + k1, k1):
        end = min(end, T)
        start = max(0, end - k2)
        with torch.no_grad():
            _, h_start = tnet(xt[:start]) if start else (None, None)
        h_start = None if h_start is None else tuple(s.detach() for s in h_start)
        y, _ = tnet(xt[start:end], h_start)
        n = end - prev_end
        (y[-n:] * Wt[prev_end:end]).sum().backward()
        prev_end = end
        if end == T:
            break
    return {k: p.grad.numpy() for k, p in tnet.named_parameters()}


@pytest.mark.parametrize("k1,k2", [(3, 3), (2, 5), (4, 4), (3, 7)])
def test_tbptt_matches_torch_with_detached_state(k1, k2):
    rng = np.random.default_rng(3)
    net = LSTM(3, 4, 2, rng=rng)
    x, W = rng.standard_normal((11, 2, 3)), rng.standard_normal((11, 2, 4))

    def loss_fn(y, t0):
        w = W[t0 : t0 + len(y)]
        return float((y * w).sum()), w

    net.zero_grad()
    total, _ = truncated_bptt(net, x, loss_fn, k1, k2)
    ref = _torch_tbptt(net, x, W, k1, k2)
    for k, g in ref.items():
        assert np.abs(net.grads[k] - g).max() / np.abs(g).max() < 1e-10, k
    # and truncation matters: full BPTT gives a different gradient
    full = LSTM(3, 4, 2, rng=rng)
    for k in net.params:
        full.params[k][...] = net.params[k]
    y, _ = full.forward(x)
    full.backward(W)
    assert np.abs(full.grads["weight_hh_l0"] - net.grads["weight_hh_l0"]).max() > 1e-6
    assert np.isclose(total, float((y * W).sum()))


def test_tbptt_rejects_bad_windows():
    net = LSTM(3, 4)
    with pytest.raises(ValueError, match="k1"):
        truncated_bptt(net, np.zeros((5, 1, 3)), lambda y, t: (0.0, y), 3, 2)


def test_cross_entropy_matches_torch_with_ignore_index():
    rng = np.random.default_rng(4)
    logits, targets = rng.standard_normal((6, 5)), np.array([0, 4, -100, 2, 2, 1])
    loss, d = cross_entropy(logits, targets, ignore_index=-100)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt, torch.from_numpy(targets), ignore_index=-100)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 and np.abs(d - lt.grad.numpy()).max() < 1e-12
