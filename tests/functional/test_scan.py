"""``scan`` (reverse, lengths) vs a loop written out here, and ``scan_layers`` composition."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from rnnkit.functional import CellWeights, LSTMState, gru_cell, lstm_cell, scan, scan_layers

T, B, I, H = 6, 4, 3, 5
F64 = torch.float64


def reference_loop(cell, x, state, *, reverse, lengths):
    """Row by row: run each row over its own valid steps only (no masking trick at all)."""
    outputs = torch.zeros(T, B, H, dtype=F64)
    finals = []
    for b in range(B):
        row_state = LSTMState(state.h[b : b + 1], state.c[b : b + 1])
        n = int(lengths[b])
        steps = range(n - 1, -1, -1) if reverse else range(n)
        for t in steps:
            row_state = cell(row_state, x[t, b : b + 1])
            outputs[t, b] = row_state.h[0]
        finals.append(row_state)
    final = LSTMState(torch.cat([s.h for s in finals]), torch.cat([s.c for s in finals]))
    return outputs, final


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [[6, 2, 4, 1], [3, 3, 1, 2], [6, 6, 6, 6]])
def test_scan_matches_row_by_row_loop(reverse, lengths):
    torch.manual_seed(0)
    w_ih, w_hh = torch.randn(4 * H, I, dtype=F64), torch.randn(4 * H, H, dtype=F64)
    cell = partial(lstm_cell, w_ih=w_ih, w_hh=w_hh)
    x = torch.randn(T, B, I, dtype=F64)
    state = LSTMState(torch.randn(B, H, dtype=F64), torch.randn(B, H, dtype=F64))
    lengths = torch.tensor(lengths)
    out, final = scan(cell, x, state, reverse=reverse, lengths=lengths)
    ref_out, ref_final = reference_loop(cell, x, state, reverse=reverse, lengths=lengths)
    assert isinstance(final, LSTMState)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(final.h, ref_final.h, atol=1e-12, rtol=0)
    torch.testing.assert_close(final.c, ref_final.c, atol=1e-12, rtol=0)
    padded = torch.arange(T).unsqueeze(1) >= lengths  # (T, B)
    assert out[padded].abs().sum() == 0


def test_scan_without_lengths_equals_full_lengths_and_tensor_state():
    torch.manual_seed(1)
    w_ih, w_hh = torch.randn(3 * H, I, dtype=F64), torch.randn(3 * H, H, dtype=F64)
    cell = partial(gru_cell, w_ih=w_ih, w_hh=w_hh)
    x, h = torch.randn(T, B, I, dtype=F64), torch.randn(B, H, dtype=F64)
    for reverse in (False, True):
        out, final = scan(cell, x, h, reverse=reverse)
        out2, final2 = scan(cell, x, h, reverse=reverse, lengths=torch.full((B,), T))
        assert torch.equal(out, out2) and torch.equal(final, final2)
        last = 0 if reverse else T - 1
        assert torch.equal(out[last], final)  # the output IS the state for a Tensor state


def test_scan_gradients_do_not_flow_through_padded_steps():
    torch.manual_seed(2)
    w_ih = torch.randn(4 * H, I, dtype=F64)
    w_hh = torch.randn(4 * H, H, dtype=F64)
    cell = partial(lstm_cell, w_ih=w_ih, w_hh=w_hh)
    x = torch.randn(T, B, I, dtype=F64, requires_grad=True)
    state = LSTMState(torch.zeros(B, H, dtype=F64), torch.zeros(B, H, dtype=F64))
    lengths = torch.tensor([6, 2, 4, 1])
    out, final = scan(cell, x, state, lengths=lengths)
    (out.sum() + final.h.sum() + final.c.sum()).backward()
    padded = torch.arange(T).unsqueeze(1) >= lengths  # (T, B)
    assert x.grad[padded].abs().sum() == 0
    assert x.grad[~padded].abs().min() > 0


def test_scan_layers_bidirectional_is_two_scans_concatenated():
    """Composition: a 1-layer bidirectional layer = forward scan ++ reverse scan."""
    torch.manual_seed(3)
    ws = [
        CellWeights(torch.randn(3 * H, I, dtype=F64), torch.randn(3 * H, H, dtype=F64))
        for _ in range(2)
    ]
    x = torch.randn(T, B, I, dtype=F64)
    h0 = torch.randn(2, B, H, dtype=F64)
    lengths = torch.tensor([6, 2, 4, 1])
    out, h_n = scan_layers("gru", x, h0, ws, bidirectional=True, lengths=lengths)
    cells = [partial(gru_cell, w_ih=w.w_ih, w_hh=w.w_hh) for w in ws]
    fwd, hf = scan(cells[0], x, h0[0], lengths=lengths)
    bwd, hb = scan(cells[1], x, h0[1], reverse=True, lengths=lengths)
    torch.testing.assert_close(out, torch.cat([fwd, bwd], -1), atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n, torch.stack([hf, hb]), atol=1e-12, rtol=0)


def test_scan_layers_rejects_unknown_mode():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        scan_layers("lstmx", torch.zeros(T, B, I), torch.zeros(1, B, H), [])
