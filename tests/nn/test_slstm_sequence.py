"""The sLSTM's fast path (one autograd node, backward by hand) against the scan of
``slstm_cell`` (autograd), and the dense form of the block-diagonal recurrence."""

from __future__ import annotations

import pytest
import torch

from rnnkit.functional.slstm import SLSTMState, dense_recurrent, mark_empty, recurrent_part
from rnnkit.functional.slstm_sequence import slstm_sequence
from rnnkit.nn import SLSTM

F64 = torch.float64


def test_dense_recurrent_is_the_block_form():
    g = torch.Generator().manual_seed(0)
    w_hh = torch.randn(4, 2, 3, 3, generator=g, dtype=F64)  # (4, NH, d, d)
    h = torch.randn(5, 6, generator=g, dtype=F64)  # (B, H)
    torch.testing.assert_close(h @ dense_recurrent(w_hh), recurrent_part(h, w_hh))


def perturbed_layer(**kwargs) -> SLSTM:
    torch.manual_seed(0)
    layer = SLSTM(5, 8, num_heads=2, dtype=F64, **kwargs)
    with torch.no_grad():  # recurrent weights start at zero: make every path matter
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return layer


def run_both(layer: SLSTM, x: torch.Tensor, hx: SLSTMState) -> dict[str, list[torch.Tensor]]:
    """Outputs, final state, parameter and initial-state gradients of both modes."""
    out = {}
    for mode in ("auto", "recurrent"):
        layer.mode = mode
        layer.zero_grad()
        h0 = SLSTMState(*(t.clone().requires_grad_() for t in hx))
        y, state = layer(x, h0)
        weights = [torch.linspace(-1, 1, s.numel(), dtype=F64).view_as(s) for s in state]
        loss = y.sin().sum() + sum((s * w).sum() for s, w in zip(state, weights, strict=True))
        loss.backward()  # every state field has a gradient, m included
        grads = [p.grad.clone() for p in layer.parameters()] + [t.grad for t in h0]
        out[mode] = [y, *state, *grads]
    return out


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_path_equals_the_scan_values_and_gradients(forget, bidirectional):
    layer = perturbed_layer(num_layers=2, bidirectional=bidirectional, forget_gate=forget)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 3, 5, generator=g, dtype=F64)
    rows = 4 if bidirectional else 2
    hx = SLSTMState(
        torch.randn(rows, 3, 8, generator=g, dtype=F64),
        torch.randn(rows, 3, 8, generator=g, dtype=F64),
        torch.rand(rows, 3, 8, generator=g, dtype=F64) + 0.5,
        torch.randn(rows, 3, 8, generator=g, dtype=F64),
    )
    hx.n[:, 1] = 0.0  # row 1 empty: its m is taken as -inf
    both = run_both(layer, x, hx)
    for fast, scan in zip(both["auto"], both["recurrent"], strict=True):
        torch.testing.assert_close(fast, scan, rtol=1e-10, atol=1e-10)


def test_fast_path_from_the_zero_state_and_large_preactivations():
    layer = perturbed_layer()
    x = torch.randn(6, 2, 5, dtype=F64) * 50.0  # exp(i~) would overflow unstabilised
    y, _ = layer(x)
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_slstm_sequence_gradcheck():
    g = torch.Generator().manual_seed(2)
    gx = torch.randn(4, 2, 12, generator=g, dtype=F64, requires_grad=True)  # (T, B, 4H)
    w = torch.randn(3, 12, generator=g, dtype=F64, requires_grad=True)  # (H, 4H)
    c0 = torch.randn(2, 3, generator=g, dtype=F64, requires_grad=True)
    m0 = torch.randn(2, 3, generator=g, dtype=F64, requires_grad=True)

    def fn(gx, w, c0, m0):
        n0 = torch.ones(2, 3, dtype=F64) * 1.5
        state = mark_empty(SLSTMState(torch.zeros(2, 3, dtype=F64), c0, n0, m0))
        out, final = slstm_sequence(gx, w, state, forget="sigmoid")
        return out, final.c, final.n, final.m

    assert torch.autograd.gradcheck(fn, (gx, w, c0, m0))
