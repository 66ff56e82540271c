"""rnnkit.scratch.rglru: hand-written BPTT vs torch autograd (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.nn import RGLRU as TorchRGLRU
from rnnkit.scratch import gradcheck, load_state_dict
from rnnkit.scratch.rglru import RGLRU


@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_backward_match_torch(with_h0, bias):
    T, B, I, H, L = 9, 3, 4, 5, 2
    torch.manual_seed(0)
    ref = TorchRGLRU(I, H, L, bias=bias, dtype=torch.float64)
    with torch.no_grad():  # r away from its init so every gate matters
        for name, p in ref.named_parameters():
            if name.startswith("weight"):
                p.mul_(3.0)
    ours = RGLRU(I, H, L, bias=bias, rng=np.random.default_rng(0))
    load_state_dict(ours, {k: v.numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((L, B, H)) if with_h0 else None
    dy, dh = rng.standard_normal((T, B, H)), rng.standard_normal((L, B, H))

    xt = torch.tensor(x, requires_grad=True)
    h0t = None if h0 is None else torch.tensor(h0, requires_grad=True)
    yt, hnt = ref(xt, h0t)
    (yt * torch.tensor(dy)).sum().add((hnt * torch.tensor(dh)).sum()).backward()

    y, h_n = ours.forward(x, h0)
    dx, dhx = ours.backward(dy, dh)
    tol = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(h_n, hnt.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    if h0t is not None:
        np.testing.assert_allclose(dhx, h0t.grad.numpy(), **tol)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **tol)


def test_gradcheck():
    ours = RGLRU(3, 4, 2, rng=np.random.default_rng(2))
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 2, 4))
    dy = rng.standard_normal((6, 2, 4))

    def loss(model):
        y, _ = model.forward(x, h0)
        model.backward(dy)
        return float((y * dy).sum())

    errors = gradcheck(ours, loss, max_entries=None)
    assert max(errors.values()) < 1e-7, errors


def test_init_names_and_errors():
    ours = RGLRU(3, 4, 2, rng=np.random.default_rng(0))
    assert sorted(ours.parameters()) == sorted(TorchRGLRU(3, 4, 2).state_dict())
    a_c = (1.0 / (1.0 + np.exp(-ours.params["lambda_l0"]))) ** 8  # σ(Λ)^c
    assert ((a_c >= 0.9) & (a_c <= 0.999)).all()
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 3\)"):
        ours.forward(np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match="`hx` must be"):
        ours.forward(np.zeros((2, 1, 3)), np.zeros((1, 1, 4)))
    with pytest.raises(RuntimeError, match="needs a `forward` first"):
        RGLRU(3, 4).backward(np.zeros((2, 1, 4)))
