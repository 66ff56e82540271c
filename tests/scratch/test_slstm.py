"""rnnkit.scratch.slstm: hand-written BPTT vs torch autograd (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.functional.slstm import SLSTMState as TorchState
from rnnkit.nn import SLSTM as TorchSLSTM
from rnnkit.scratch import gradcheck, load_state_dict
from rnnkit.scratch.slstm import SLSTM, SLSTMState


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [False, True])
def test_forward_backward_match_torch(forget, with_state):
    T, B, I, H, L, NH = 7, 3, 4, 6, 2, 2
    torch.manual_seed(0)
    ref = TorchSLSTM(I, H, L, num_heads=NH, forget_gate=forget, dtype=torch.float64)
    with torch.no_grad():  # R starts at zero: make every path matter
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    ours = SLSTM(I, H, L, num_heads=NH, forget_gate=forget, rng=np.random.default_rng(0))
    load_state_dict(ours, {k: v.numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I))
    hx = None
    if with_state:
        n = rng.uniform(0.5, 1.5, (L, B, H))
        n[:, 1] = 0.0  # row 1 holds nothing
        hx = SLSTMState(rng.standard_normal((L, B, H)), rng.standard_normal((L, B, H)), n,
                        rng.standard_normal((L, B, H)))  # fmt: skip
    dy = rng.standard_normal((T, B, H))
    dfinal = SLSTMState(*(rng.standard_normal((L, B, H)) for _ in range(4)))

    xt = torch.tensor(x, requires_grad=True)
    hxt = None if hx is None else TorchState(*(torch.tensor(f, requires_grad=True) for f in hx))
    yt, st = ref(xt, hxt)
    loss = (yt * torch.tensor(dy)).sum()
    loss = loss + sum((s * torch.tensor(d)).sum() for s, d in zip(st, dfinal, strict=True))
    loss.backward()

    y, state = ours.forward(x, hx)
    dx, dhx = ours.backward(dy, dfinal)
    tol = {"rtol": 1e-9, "atol": 1e-11}
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    for ours_f, ref_f in zip(state, st, strict=True):
        np.testing.assert_allclose(ours_f, ref_f.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    if hxt is not None:
        for ours_f, ref_f in zip(dhx, hxt, strict=True):
            np.testing.assert_allclose(ours_f, ref_f.grad.numpy(), **tol)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **tol)


def test_gradcheck():
    ours = SLSTM(3, 4, 2, num_heads=2, rng=np.random.default_rng(2))
    rng = np.random.default_rng(3)
    for p in ours.params.values():
        p += rng.standard_normal(p.shape) * 0.5
    x, dy = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))

    def loss(model):
        y, _ = model.forward(x)
        model.backward(dy)
        return float((y * dy).sum())

    errors = gradcheck(ours, loss, max_entries=None)
    assert max(errors.values()) < 1e-7, errors


def test_names_and_errors():
    ours = SLSTM(3, 4, 2, num_heads=2, rng=np.random.default_rng(0))
    assert sorted(ours.parameters()) == sorted(TorchSLSTM(3, 4, 2, num_heads=2).state_dict())
    with pytest.raises(ValueError, match="`num_heads` must divide"):
        SLSTM(3, 4, num_heads=3)
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 3\)"):
        ours.forward(np.zeros((2, 1, 5)))
    with pytest.raises(RuntimeError, match="needs a `forward` first"):
        SLSTM(3, 4).backward(np.zeros((2, 1, 4)))
