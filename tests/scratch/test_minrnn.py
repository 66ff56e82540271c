"""rnnkit.scratch.minrnn: hand-written BPTT vs torch autograd (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.nn import MinGRU as TorchMinGRU
from rnnkit.nn import MinLSTM as TorchMinLSTM
from rnnkit.scratch import gradcheck, load_state_dict
from rnnkit.scratch.minrnn import MinGRU, MinLSTM

PAIRS = {"mingru": (MinGRU, TorchMinGRU), "minlstm": (MinLSTM, TorchMinLSTM)}


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("with_h0", [False, True])
def test_forward_backward_match_torch(kind, with_h0):
    ours_cls, torch_cls = PAIRS[kind]
    T, B, I, H, L = 9, 3, 4, 5, 2
    torch.manual_seed(0)
    ref = torch_cls(I, H, L, dtype=torch.float64)
    ours = ours_cls(I, H, L, rng=np.random.default_rng(0))
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
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n, hnt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if h0t is not None:
        np.testing.assert_allclose(dhx, h0t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_gradcheck(kind):
    ours = PAIRS[kind][0](3, 4, 2, rng=np.random.default_rng(2))
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 2, 4))
    dy = rng.standard_normal((6, 2, 4))

    def loss(model):
        y, _ = model.forward(x, h0)
        model.backward(dy)
        return float((y * dy).sum())

    errors = gradcheck(ours, loss, max_entries=None)
    assert max(errors.values()) < 1e-7, errors


def test_state_dict_names_and_errors():
    ours = MinLSTM(3, 4, 2, rng=np.random.default_rng(0))
    assert sorted(ours.parameters()) == sorted(TorchMinLSTM(3, 4, 2).state_dict())
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 3\)"):
        ours.forward(np.zeros((2, 1, 5)))
    with pytest.raises(ValueError, match="`hx` must be"):
        ours.forward(np.zeros((2, 1, 3)), np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match="`kind`"):
        from rnnkit.scratch.minrnn import MinRNN

        MinRNN("gru", 3, 4)
