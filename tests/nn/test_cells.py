"""rnnkit.nn cells vs torch.nn cells, and cells stepped by hand vs the layers at every step."""

from __future__ import annotations

import pytest
import torch

import rnnkit.nn
from rnnkit.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, LSTMState, RNNCell

T, B, I, H = 5, 3, 4, 6
F64 = torch.float64


def fields(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "name, kwargs",
    [("RNNCell", {"nonlinearity": "relu"}), ("RNNCell", {}), ("LSTMCell", {}), ("GRUCell", {})],
)
def test_cell_matches_torch_cell(name, kwargs, bias, with_hx, batched):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(I, H, bias=bias, dtype=F64, **kwargs)
    ours = getattr(rnnkit.nn, name)(I, H, bias=bias, dtype=F64, **kwargs)
    ours.load_state_dict(ref.state_dict())
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, dtype=F64)
    hx = None
    if with_hx:
        hx = torch.randn(*lead, H, dtype=F64)
        hx = (hx, torch.randn(*lead, H, dtype=F64)) if name == "LSTMCell" else hx
    grads = []
    for cell in (ref, ours):
        out = cell(x, hx)
        if name == "LSTMCell" and cell is ours:
            assert isinstance(out, LSTMState)
        loss = sum(
            (t * torch.arange(t.numel(), dtype=F64).reshape(t.shape)).sum() for t in fields(out)
        )
        grads.append([*fields(out), *torch.autograd.grad(loss, list(cell.parameters()))])
    for e, g in zip(*grads, strict=True):
        assert e.shape == g.shape
        torch.testing.assert_close(g, e, atol=1e-12, rtol=0)


def test_cell_initialisation_and_names_match_torch():
    torch.manual_seed(1)
    ref = torch.nn.GRUCell(I, H)
    torch.manual_seed(1)
    ours = GRUCell(I, H)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for a, b in zip(ref.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("impl", ["fused", "scan"])
@pytest.mark.parametrize(
    "layer_cls, cell_cls, kwargs",
    [(LSTM, LSTMCell, {}), (GRU, GRUCell, {}), (RNN, RNNCell, {"nonlinearity": "relu"})],
)
def test_layer_equals_cell_stepped_by_hand(layer_cls, cell_cls, kwargs, impl):
    """Flax-style: a 2-layer layer, with lengths, equals its cells stepped at every step."""
    torch.manual_seed(2)
    layer = layer_cls(I, H, num_layers=2, dtype=F64, impl=impl, **kwargs)
    cells = [cell_cls(I if k == 0 else H, H, dtype=F64, **kwargs) for k in range(2)]
    for k, cell in enumerate(cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(layer, f"{name}_l{k}"))
    x = torch.randn(T, B, I, dtype=F64)
    lengths = torch.tensor([T, 2, 4])
    out, final = layer(x, lengths=lengths)
    states = [None, None]
    last = [None] * B
    for t in range(T):
        inp = x[t]  # (B, I)
        for k, cell in enumerate(cells):
            states[k] = cell(inp, states[k])
            inp = fields(states[k])[0]  # (B, H), the layer's output at step t
        for b in range(B):
            if t < lengths[b]:
                torch.testing.assert_close(out[t, b], inp[b], atol=1e-12, rtol=0)
                if t == lengths[b] - 1:
                    last[b] = [torch.stack([f[b] for f in fields(s)]) for s in states]
            else:
                assert out[t, b].abs().sum() == 0
    for b in range(B):
        # final (L, B, H) per field vs the cells' states at the row's last valid step
        for f, got in enumerate(fields(final)):
            expected = torch.stack([last[b][k][f] for k in range(2)])  # (L, H)
            torch.testing.assert_close(got[:, b], expected, atol=1e-12, rtol=0)


def test_cell_errors():
    cell = LSTMCell(I, H)
    with pytest.raises(
        ValueError, match=r"input has 3 features, the model expects 4 \(`input_size`\)"
    ):
        cell(torch.randn(B, 3))
    with pytest.raises(
        ValueError, match=r"input must be 1-D \(I,\) unbatched or 2-D \(B, I\), got \(1, 3, 4\)"
    ):
        cell(torch.randn(1, B, I))
    with pytest.raises(TypeError, match=r"`hx` for an LSTM cell must be a tuple \(h, c\)"):
        cell(torch.randn(B, I), torch.zeros(B, H))
    with pytest.raises(
        ValueError, match=r"`hx\[1\]` \(c\) has shape \(2, 6\), expected \(B, H\) = \(3, 6\)"
    ):
        cell(torch.randn(B, I), (torch.zeros(B, H), torch.zeros(2, H)))
    with pytest.raises(ValueError, match=r"input has dtype torch.float64"):
        GRUCell(I, H)(torch.randn(B, I, dtype=F64))
    with pytest.raises(ValueError, match=r"`hidden_size` must be > 0, got 0"):
        RNNCell(I, 0)
    with pytest.raises(ValueError, match=r"`nonlinearity` must be 'tanh' or 'relu'"):
        RNNCell(I, H, nonlinearity="sigmoid")
