"""RG-LRU (Hawk, De et al. 2024): the paper's equations, scan vs step, init, stabiliser,
lengths and directions, TBPTT windows, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.functional.rglru import C, init_lambda, linear_scan, rglru_layer
from rnnkit.nn import RGLRU

F64 = torch.float64


def naive_rglru(x, weight, bias, lam, h0=None):
    """The paper's eqs. (4)-(6), one step at a time, float64: h (T, B, H)."""
    u, k_r, k_i = F.linear(x, weight, bias).chunk(3, dim=-1)
    a = torch.sigmoid(lam) ** (C * torch.sigmoid(k_r))  # a_t = a^(c r_t)
    h = torch.zeros_like(u[0]) if h0 is None else h0
    outs = []
    for t in range(x.size(0)):
        h = a[t] * h + torch.sqrt(1 - a[t] ** 2) * (torch.sigmoid(k_i[t]) * u[t])
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("mode", ["parallel", "recurrent"])
def test_matches_the_papers_equations(mode):
    torch.manual_seed(0)
    layer = RGLRU(3, 6, mode=mode, dtype=F64)
    x, h0 = torch.randn(9, 2, 3, dtype=F64), torch.randn(1, 2, 6, dtype=F64)
    out, h_n = layer(x, h0)
    ref = naive_rglru(x, layer.weight_ih_l0, layer.bias_ih_l0, layer.lambda_l0, h0[0])
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(h_n[0], ref[-1], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_scan_and_step_agree(dtype):
    torch.manual_seed(1)
    layer = RGLRU(3, 8, num_layers=2, mode="parallel", dtype=dtype)
    x = torch.randn(40, 3, 3, dtype=dtype)
    ref, ref_n = layer(x)
    state, ys = None, []
    for t in range(40):
        y, state = layer.step(x[t], state)
        ys.append(y)
    tol = 1e-10 if dtype == F64 else 1e-5
    torch.testing.assert_close(torch.stack(ys), ref[:, :, :], atol=tol, rtol=tol)
    torch.testing.assert_close(state, ref_n, atol=tol, rtol=tol)


def test_init_makes_a_to_the_c_uniform_in_the_papers_range():
    lam = init_lambda(4000, generator=torch.Generator().manual_seed(0), dtype=F64)
    a_c = torch.sigmoid(lam) ** C
    assert a_c.min() >= 0.9 - 1e-12 and a_c.max() <= 0.999 + 1e-12
    assert abs(a_c.mean().item() - 0.9495) < 0.002  # the mean of U[0.9, 0.999]
    layer = RGLRU(2, 16)
    a_c = torch.sigmoid(layer.lambda_l0.detach()) ** C
    assert ((a_c >= 0.9 - 1e-6) & (a_c <= 0.999 + 1e-6)).all()
    with pytest.raises(ValueError, match="0 < `low` < `high` < 1"):
        init_lambda(3, low=0.9, high=1.0)


def test_bidirectional_with_lengths_is_each_row_alone():
    torch.manual_seed(2)
    layer = RGLRU(3, 4, num_layers=2, bidirectional=True, dtype=F64)
    x, lengths = torch.randn(7, 3, 3, dtype=F64), torch.tensor([7, 2, 5])
    for mode in ("parallel", "recurrent"):
        layer.mode = mode
        out, h_n = layer(x, lengths=lengths)
        assert out.shape == (7, 3, 8) and h_n.shape == (4, 3, 4)
        assert (out[2:, 1] == 0).all()
        for b, n in enumerate(lengths.tolist()):
            alone, h_b = layer(x[:n, b : b + 1])
            torch.testing.assert_close(out[:n, b : b + 1], alone, atol=1e-12, rtol=1e-12)
            torch.testing.assert_close(h_n[:, b : b + 1], h_b, atol=1e-12, rtol=1e-12)


def test_state_carried_across_tbptt_windows_equals_one_window():
    torch.manual_seed(3)
    layer = RGLRU(3, 8, num_layers=2, dtype=F64)
    x = torch.randn(12, 2, 3, dtype=F64)
    whole, final = layer(x)
    outs, state = [], None
    for start, stop in ((0, 5), (5, 6), (6, 12)):  # a window of 1 runs the recurrent step
        out, state = layer(x[start:stop], state)
        state = state.detach()
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), whole, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(state, final, atol=1e-12, rtol=1e-12)


def test_gradcheck_scan_and_layer():
    torch.manual_seed(4)
    a = torch.rand(6, 2, 3, dtype=F64).requires_grad_()
    b = torch.randn(6, 2, 3, dtype=F64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, b, h0))
    x = torch.randn(5, 2, 3, dtype=F64, requires_grad=True)
    w = torch.randn(12, 3, dtype=F64, requires_grad=True)
    bias = torch.randn(12, dtype=F64, requires_grad=True)
    lam = init_lambda(4, dtype=F64).requires_grad_()
    valid = (torch.arange(5)[:, None] < torch.tensor([5, 3])).unsqueeze(-1)
    h1 = torch.randn(2, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *args: rglru_layer(*args, valid=valid), (x, w, bias, lam, h1)
    )


def test_large_preactivations_stay_finite():
    torch.manual_seed(5)
    layer = RGLRU(4, 8)  # float32
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.sign(torch.randn_like(layer.weight_ih_l0)) * 25.0)
        layer.bias_ih_l0.fill_(-50.0)  # r -> 0: a_t -> 1, sqrt(1 - a_t^2) -> 0
    x = torch.sign(torch.randn(30, 2, 4)).requires_grad_()
    for mode in ("parallel", "recurrent"):
        layer.mode = mode
        out, h_n = layer(x)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
        layer.zero_grad()
        x.grad = None


def test_errors_name_the_argument():
    layer = RGLRU(3, 4)
    with pytest.raises(ValueError, match=r"`hx` \(h_0\) has shape \(2, 1, 4\), expected"):
        layer(torch.randn(5, 1, 3), torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="input has 2 features"):
        layer(torch.randn(5, 1, 2))
    with pytest.raises(ValueError, match="`mode` must be one of"):
        RGLRU(3, 4, mode="chunkwise")
    with pytest.raises(ValueError, match="a bidirectional layer cannot"):
        RGLRU(3, 4, bidirectional=True).step(torch.randn(1, 3))
