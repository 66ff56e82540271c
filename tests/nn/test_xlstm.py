"""sLSTM and mLSTM (xLSTM, Beck et al. 2024): the paper's equations, the mLSTM's three forms,
the stabiliser, lengths and directions, TBPTT windows, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.functional.mlstm import FORMS, MLSTMState, mlstm_sequence
from rnnkit.functional.slstm import SLSTMState, slstm_cell
from rnnkit.nn import MLSTM, SLSTM, make_rnn

F64 = torch.float64
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def random_state(batch: int, heads: int, d: int, dtype: torch.dtype) -> MLSTMState:
    g = torch.Generator().manual_seed(3)
    return MLSTMState(
        torch.randn(batch, heads, d, d, generator=g, dtype=dtype) * 0.5,
        torch.rand(batch, heads, d, generator=g, dtype=dtype) + 0.5,
        torch.randn(batch, heads, generator=g, dtype=dtype),
    )


def naive_mlstm(proj: torch.Tensor, heads: int) -> torch.Tensor:
    """The paper's unstabilised mLSTM (eqs. 19-27), float64, from a zero state: h (T, B, H)."""
    steps, batch, width = proj.shape
    hidden = (width - 2 * heads) // 4
    d = hidden // heads
    q, k, v, o, i, f = proj.split([hidden] * 4 + [heads] * 2, dim=-1)
    C = proj.new_zeros(batch, heads, d, d)
    n = proj.new_zeros(batch, heads, d)
    outs = []
    for t in range(steps):
        qt, kt, vt = (z[t].view(batch, heads, d) for z in (q, k, v))
        kt = kt / math.sqrt(d)
        it, ft = torch.exp(i[t])[..., None], torch.sigmoid(f[t])[..., None]  # (B, NH, 1)
        C = ft[..., None] * C + it[..., None] * kt[..., :, None] * vt[..., None, :]
        n = ft * n + it * kt
        num = torch.einsum("bnkv,bnk->bnv", C, qt)
        den = (n * qt).sum(-1).abs().clamp_min(1.0)[..., None]
        outs.append(torch.sigmoid(o[t]) * (num / den).flatten(-2))
    return torch.stack(outs)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_mlstm_parallel_chunkwise_recurrent_agree(dtype, with_state, with_lengths):
    torch.manual_seed(0)
    T, B, NH, d = 11, 3, 2, 4
    proj = torch.randn(T, B, 4 * NH * d + 2 * NH, dtype=dtype)
    state = random_state(B, NH, d, dtype) if with_state else None
    valid = None
    if with_lengths:
        valid = (torch.arange(T)[:, None] < torch.tensor([11, 4, 7])).unsqueeze(-1)
    ref_h, ref_s = mlstm_sequence(proj, NH, state, valid=valid, form="recurrent")
    for form, chunk in (("parallel", 64), ("chunkwise", 4), ("chunkwise", 1)):
        h, s = mlstm_sequence(proj, NH, state, valid=valid, form=form, chunk=chunk)
        tol = TOL[dtype]
        torch.testing.assert_close(h, ref_h, atol=tol, rtol=tol)
        for a, b in zip(s, ref_s, strict=True):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_mlstm_matches_the_papers_unstabilised_equations():
    torch.manual_seed(1)
    T, B, NH, d = 9, 2, 2, 3
    proj = torch.randn(T, B, 4 * NH * d + 2 * NH, dtype=F64)
    ref = naive_mlstm(proj, NH)
    for form in FORMS:
        h, _ = mlstm_sequence(proj, NH, form=form, chunk=4)
        torch.testing.assert_close(h, ref, atol=1e-12, rtol=1e-10)


def test_mlstm_padded_steps_carry_the_state():
    torch.manual_seed(2)
    proj = torch.randn(6, 2, 4 * 4 + 2, dtype=F64)
    valid = (torch.arange(6)[:, None] < torch.tensor([6, 3])).unsqueeze(-1)
    _, s = mlstm_sequence(proj, 1, valid=valid, form="parallel")
    _, short = mlstm_sequence(proj[:3, 1:], 1, form="recurrent")
    for a, b in zip(s, short, strict=True):
        torch.testing.assert_close(a[1:], b, atol=1e-12, rtol=1e-12)


def naive_slstm(gx: torch.Tensor, w_hh: torch.Tensor, forget: str) -> torch.Tensor:
    """The paper's unstabilised sLSTM (eqs. 8-14), float64, from a zero state: h (T, B, H)."""
    steps, batch, width = gx.shape
    hidden = width // 4
    heads, d = w_hh.shape[1], w_hh.shape[2]
    h = c = n = gx.new_zeros(batch, hidden)
    outs = []
    for t in range(steps):
        rec = torch.einsum("bne,gnde->bgnd", h.view(batch, heads, d), w_hh).reshape(batch, -1)
        i, f, z, o = (gx[t] + rec).chunk(4, dim=-1)
        f_gate = torch.sigmoid(f) if forget == "sigmoid" else torch.exp(f)
        c = f_gate * c + torch.exp(i) * torch.tanh(z)
        n = f_gate * n + torch.exp(i)
        h = torch.sigmoid(o) * c / n
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_slstm_matches_the_papers_unstabilised_equations(forget):
    torch.manual_seed(3)
    layer = SLSTM(3, 8, num_heads=2, forget_gate=forget, dtype=F64)
    with torch.no_grad():
        layer.weight_hh_l0.normal_(0.0, 0.3)  # zeros at init: make the heads mix
    x = torch.randn(10, 2, 3, dtype=F64)
    out, state = layer(x)
    gx = F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)
    ref = naive_slstm(gx, layer.weight_hh_l0, forget)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=1e-10)
    assert isinstance(state, SLSTMState) and state.h.shape == (1, 2, 8)
    assert (state.n >= 1 - 1e-12).all()  # the stabilised normaliser never falls below 1


def test_slstm_block_diagonal_recurrence_keeps_heads_apart():
    torch.manual_seed(4)
    layer = SLSTM(3, 8, num_heads=2, dtype=F64)
    with torch.no_grad():
        layer.weight_hh_l0.normal_()
    h = torch.zeros(1, 8, dtype=F64)
    h[0, :4] = 1.0  # only head 0 is non-zero
    zero = torch.zeros_like(h)
    gx = torch.zeros(1, 32, dtype=F64)
    a = slstm_cell(SLSTMState(h, zero, zero + 1, zero), gx, w_hh=layer.weight_hh_l0)
    b = slstm_cell(SLSTMState(zero, zero, zero + 1, zero), gx, w_hh=layer.weight_hh_l0)
    assert torch.equal(a.c[:, 4:], b.c[:, 4:])  # head 1 does not see head 0
    assert not torch.equal(a.c[:, :4], b.c[:, :4])


@pytest.mark.parametrize("cls", [SLSTM, MLSTM])
def test_stabiliser_keeps_large_preactivations_finite(cls):
    torch.manual_seed(5)
    layer = cls(4, 8, num_heads=2)  # float32
    x = torch.randn(20, 3, 4)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.sign(torch.randn_like(p)) * 50.0 / p.shape[-1])
    x = torch.sign(x) * 1.0  # pre-activations of size +-50
    modes = ["recurrent"] if cls is SLSTM else ["parallel", "chunkwise", "recurrent"]
    for mode in modes:
        layer.mode = mode
        y = x.clone().requires_grad_()
        out, state = layer(y)
        assert torch.isfinite(out).all() and all(torch.isfinite(s).all() for s in state)
        out.sum().backward()
        assert torch.isfinite(y.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
        layer.zero_grad()


@pytest.mark.parametrize("cls", [SLSTM, MLSTM])
def test_bidirectional_with_lengths_is_each_row_alone(cls):
    torch.manual_seed(6)
    layer = cls(3, 4, num_layers=2, bidirectional=True, num_heads=2, dtype=F64)
    x, lengths = torch.randn(7, 3, 3, dtype=F64), torch.tensor([7, 2, 5])
    out, h_n = layer(x, lengths=lengths)
    assert out.shape == (7, 3, 8)
    assert (out[2:, 1] == 0).all()  # padded steps output zeros
    for b, n in enumerate(lengths.tolist()):
        alone, h_b = layer(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], alone, atol=1e-12, rtol=1e-12)
        for a, c in zip(h_n, h_b, strict=True):
            torch.testing.assert_close(a[:, b : b + 1], c, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["parallel", "chunkwise", "recurrent"])
def test_mlstm_layer_modes_and_step_agree(mode):
    torch.manual_seed(7)
    layer = MLSTM(3, 8, num_layers=2, num_heads=2, chunk_size=3, dtype=F64)
    x = torch.randn(8, 2, 3, dtype=F64)
    layer.mode = "recurrent"
    ref, ref_state = layer(x)
    layer.mode = mode
    out, state = layer(x)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    state, ys = None, []
    for t in range(8):
        y, state = layer.step(x[t], state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys), ref[:, :, :], atol=1e-10, rtol=1e-10)
    for a, b in zip(state, ref_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_state_carried_across_tbptt_windows_equals_one_window(cell):
    torch.manual_seed(8)
    layer = make_rnn(cell, 3, 8, 2, dtype=F64)
    x = torch.randn(12, 2, 3, dtype=F64)
    whole, final = layer(x)
    outs, state = [], None
    for start in (0, 5, 9):
        stop = {0: 5, 5: 9, 9: 12}[start]
        out, state = layer(x[start:stop], state)
        state = type(state)(*(s.detach() for s in state))  # the TBPTT cut
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs), whole, atol=1e-12, rtol=1e-12)
    for a, b in zip(state, final, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_mlstm_gradcheck(form):
    torch.manual_seed(9)
    proj = torch.randn(5, 2, 4 * 4 + 2 * 2, dtype=F64, requires_grad=True)
    state = random_state(2, 2, 2, F64)
    state = MLSTMState(*(s.clone().requires_grad_() for s in state))

    def fn(proj, C, n, m):
        h, s = mlstm_sequence(proj, 2, MLSTMState(C, n, m), form=form, chunk=2)
        return h, s.C, s.n

    assert torch.autograd.gradcheck(fn, (proj, *state))


def test_slstm_gradcheck():
    torch.manual_seed(10)
    layer = SLSTM(2, 4, num_heads=2, dtype=F64)
    with torch.no_grad():
        layer.weight_hh_l0.normal_(0.0, 0.5)
    x = torch.randn(5, 2, 2, dtype=F64, requires_grad=True)
    w = [layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0]
    assert torch.autograd.gradcheck(lambda x, *_: layer(x)[0], (x, *w))


def test_unbatched_input_and_state_errors():
    layer = MLSTM(3, 8, num_heads=2)
    out, state = layer(torch.randn(5, 3))  # (T, I)
    assert out.shape == (5, 8) and isinstance(state, MLSTMState)
    assert state.C.shape == (1, 2, 4, 4) and state.m.shape == (1, 2)
    out2, _ = layer(torch.randn(2, 3), state)  # continues from an unbatched state
    assert out2.shape == (2, 8)
    with pytest.raises(TypeError, match=r"`hx` must be a MLSTMState\('C', 'n', 'm'\)"):
        layer(torch.randn(5, 2, 3), torch.zeros(1, 2, 8))
    with pytest.raises(ValueError, match=r"`hx` \(n\) has shape \(1, 2, 4\), expected"):
        bad = MLSTMState(torch.zeros(1, 2, 2, 4, 4), torch.zeros(1, 2, 4), torch.zeros(1, 2, 2))
        layer(torch.randn(5, 2, 3), bad)
    with pytest.raises(ValueError, match="`num_heads` must divide `hidden_size`"):
        SLSTM(3, 6, num_heads=4)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        SLSTM(3, 8, mode="parallel")
    with pytest.raises(ValueError, match="`forget_gate` must be one of"):
        SLSTM(3, 8, forget_gate="tanh")
    assert SLSTM(3, 6).num_heads == 2 and MLSTM(3, 5).num_heads == 1


def test_initialisation_follows_the_reference():
    torch.manual_seed(11)
    m = MLSTM(3, 8, num_heads=4)
    assert (m.weight_ih_l0[32:] == 0).all()  # input and forget gate weights
    torch.testing.assert_close(m.bias_ih_l0[36:], torch.linspace(3.0, 6.0, 4))
    s = SLSTM(3, 8, num_layers=2, num_heads=2)
    assert (s.weight_hh_l0 == 0).all() and (s.bias_ih_l0[:8] == 0).all()
    f0, f1 = s.bias_ih_l0[8:16].detach(), s.bias_ih_l1[8:16].detach()
    assert f0[0] == pytest.approx(5.0) and f0[3] == pytest.approx(-7.0)
    assert torch.equal(f0[:4], f0[4:])  # the same per head
    assert (f1[1:3] > f0[1:3]).all()  # deeper layers lean to longer memories
