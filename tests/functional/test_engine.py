"""The one engine: the weight-gradient carrier, ``scan_whole`` vs ``scan``, ``stack_layers``."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from rnnkit.functional import (
    CellOptions,
    CellWeights,
    LSTMState,
    gru_cell,
    lstm_cell,
    scan,
    scan_layers,
    scan_whole,
    stack_layers,
)

T, B, I, H = 6, 4, 3, 5
F64 = torch.float64
LENGTHS = torch.tensor([6, 2, 4, 1])


def _weights(gates, bias):
    w = CellWeights(
        torch.randn(gates * H, I, dtype=F64, requires_grad=True),
        torch.randn(gates * H, H, dtype=F64, requires_grad=True),
    )
    if bias:
        b_ih = torch.randn(gates * H, dtype=F64, requires_grad=True)
        w = w._replace(b_ih=b_ih, b_hh=torch.randn(gates * H, dtype=F64, requires_grad=True))
    return w


@pytest.mark.parametrize("mode", ["gru", "lstm"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_one_matmul_weight_gradient_equals_plain_autograd(mode, bias, reverse):
    """scan_layers' W_hh gradient (tap on gx or on the gh_in carrier) = per-step autograd."""
    torch.manual_seed(0)
    gates = 3 if mode == "gru" else 4
    w = _weights(gates, bias)
    x = torch.randn(T, B, I, dtype=F64)
    h0 = torch.randn(B, H, dtype=F64)
    state = h0 if mode == "gru" else LSTMState(h0, torch.randn(B, H, dtype=F64))
    hx = state.unsqueeze(0) if mode == "gru" else LSTMState(*(s.unsqueeze(0) for s in state))
    ws = [w, w] if reverse else [w]  # the reverse direction of a bidirectional layer
    out, _ = scan_layers(mode, x, hx if not reverse else _twice(hx), ws,
                         bidirectional=reverse, lengths=LENGTHS)  # fmt: skip
    out = out[..., H:] if reverse else out
    got = torch.autograd.grad((out**2).sum(), [t for t in w if t is not None])
    step = gru_cell if mode == "gru" else lstm_cell
    cell = partial(step, w_ih=w.w_ih, w_hh=w.w_hh, b_ih=w.b_ih, b_hh=w.b_hh)
    ref, _ = scan(cell, x, state, reverse=reverse, lengths=LENGTHS)
    expected = torch.autograd.grad((ref**2).sum(), [t for t in w if t is not None])
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-10, rtol=0)


def _twice(hx):
    if isinstance(hx, torch.Tensor):
        return torch.cat([hx, hx])
    return LSTMState(torch.cat([hx.h, hx.h]), torch.cat([hx.c, hx.c]))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_scan_whole_has_the_contract_of_scan(reverse, lengths):
    """A whole-sequence runner (carrying over invalid steps) under scan_whole = the scan."""
    torch.manual_seed(1)
    a, b = torch.rand(T, B, H, dtype=F64), torch.randn(T, B, H, dtype=F64)
    h0 = torch.randn(B, H, dtype=F64)

    def whole(ab, h, valid):
        outs = []
        for t in range(ab.size(0)):
            new = ab[t, ..., :H] * h + ab[t, ..., H:]
            h = new if valid is None else torch.where(valid[t], new, h)
            outs.append(h)
        return torch.stack(outs)

    ab = torch.cat([a, b], -1)  # (T, B, 2H)
    out, final = scan_whole(whole, ab, h0, reverse=reverse, lengths=lengths)
    cell = lambda h, k: k[..., :H] * h + k[..., H:]  # noqa: E731
    ref, ref_final = scan(cell, ab, h0, reverse=reverse, lengths=lengths)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(final, ref_final, atol=1e-12, rtol=0)


def test_stack_layers_order_and_between():
    calls = []

    def run(k, x, reverse):
        calls.append((k, reverse, x.shape[-1]))
        return x[..., :1] + k, torch.full((1,), float(k))

    x = torch.zeros(2, 1, 3)
    out, finals = stack_layers(run, x, num_layers=2, directions=2, between=lambda y, layer: y * 10)
    assert calls == [(0, False, 3), (1, True, 3), (2, False, 2), (3, True, 2)]
    assert [int(f) for f in finals] == [0, 1, 2, 3]
    assert out[0, 0].tolist() == [0 * 10 + 2, 0 * 10 + 3]  # layer 0 out [0, 1] -> x10 -> +k


def test_options_off_are_the_plain_cell():
    torch.manual_seed(2)
    w = _weights(4, True)
    x, state = torch.randn(B, I, dtype=F64), LSTMState(*torch.randn(2, B, H, dtype=F64))
    plain = lstm_cell(state, x, w_ih=w.w_ih, w_hh=w.w_hh, b_ih=w.b_ih, b_hh=w.b_hh)
    off = lstm_cell(
        state, x, w_ih=w.w_ih, w_hh=w.w_hh, b_ih=w.b_ih, b_hh=w.b_hh, zoneout_h=0.0,
        zoneout_c=0.0, ln_hh=None, recurrent_mask=None,
    )  # fmt: skip
    assert torch.equal(plain.h, off.h) and torch.equal(plain.c, off.c)
    half = lstm_cell(state, x, w_ih=w.w_ih, w_hh=w.w_hh, zoneout_h=0.5, zoneout_c=1.0)
    assert torch.equal(half.c, state.c)  # zoneout p=1: the previous c is kept
    assert CellOptions() == CellOptions(None, None, None, None, 0.0, 0.0)
