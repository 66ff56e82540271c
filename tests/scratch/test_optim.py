"""Scratch optimizers, clipping and initialisers vs torch.optim / torch.nn.utils / torch.nn.init."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.scratch import (
    SGD,
    Adagrad,
    Adam,
    clip_grad_norm,
    clip_grad_value,
    init_he,
    init_orthogonal,
    init_xavier,
)

CASES = [
    (SGD, torch.optim.SGD, {"lr": 0.1}),
    (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.5, "dampening": 0.3}),
    (Adagrad, torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    (Adam, torch.optim.Adam, {"lr": 0.01}),
    (Adam, torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
]


@pytest.mark.parametrize("ours,theirs,kw", CASES)
def test_optimizer_steps_match_torch(ours, theirs, kw):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt, topt = ours(params, grads, **kw), theirs(list(tparams.values()), **kw)
    for _ in range(4):
        for k in params:
            g = rng.standard_normal(params[k].shape)
            grads[k][...] = g
            tparams[k].grad = torch.tensor(g)
        opt.step()
        topt.step()
    for k in params:
        assert np.abs(params[k] - tparams[k].detach().numpy()).max() < 1e-12, k


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(1)
    grads = {"a": rng.standard_normal((5, 3)), "b": rng.standard_normal(7)}
    tp = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()]
    for p, g in zip(tp, grads.values(), strict=True):
        p.grad = torch.tensor(g)
    norm = clip_grad_norm(grads, max_norm)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, max_norm)
    assert abs(norm - tnorm.item()) < 1e-12
    for p, g in zip(tp, grads.values(), strict=True):
        assert np.abs(g - p.grad.numpy()).max() < 1e-12


def test_clip_grad_value():
    g = {"a": np.array([-3.0, 0.5, 2.0])}
    clip_grad_value(g, 1.0)
    assert g["a"].tolist() == [-1.0, 0.5, 1.0]


def test_initialisers():
    rng = np.random.default_rng(2)
    q = init_orthogonal((6, 4), rng)
    assert np.allclose(q.T @ q, np.eye(4))
    wide = init_orthogonal((4, 6), rng)
    assert np.allclose(wide @ wide.T, np.eye(4))
    w = init_orthogonal((3, 8), rng, gain=2.0)
    assert np.allclose(w @ w.T, 4 * np.eye(3))
    x = init_xavier((200, 300), rng)
    assert np.abs(x).max() <= np.sqrt(6 / 500) and abs(x.std() - np.sqrt(2 / 500)) < 2e-3
    h = init_he((300, 200), rng)
    assert abs(h.std() - np.sqrt(2 / 200)) < 3e-3
    assert not np.array_equal(init_he((3, 3), np.random.default_rng(0)), h[:3, :3])
    same = [init_he((3, 3), np.random.default_rng(5)) for _ in range(2)]
    assert np.array_equal(*same)


def test_optimizer_key_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same keys"):
        Adam({"w": np.zeros(2)}, {"v": np.zeros(2)})


def test_recurrent_init_is_torch_uniform_and_seeded():
    from rnnkit.scratch import GRU

    a = GRU(3, 16, 2, rng=np.random.default_rng(7))
    b = GRU(3, 16, 2, rng=np.random.default_rng(7))
    for k, v in a.params.items():
        assert np.abs(v).max() <= 1 / 4 and np.array_equal(v, b.params[k])  # 1/sqrt(16)
    assert np.abs(a.params["weight_hh_l1"]).max() > 0.2  # fills the range, not a tiny init


def test_mse_loss_matches_torch():
    from rnnkit.scratch import mse_loss

    rng = np.random.default_rng(8)
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss, d = mse_loss(pred, target)
    pt = torch.tensor(pred, requires_grad=True)
    ref = torch.nn.functional.mse_loss(pt, torch.from_numpy(target))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12 and np.abs(d - pt.grad.numpy()).max() < 1e-12
