"""rnnkit.nn.MinGRU / MinLSTM: modes agree, lengths, packed, stacking, state dict, errors."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import LAYERS, MinGRU, MinLSTM, make_rnn

LAYER = {"mingru": MinGRU, "minlstm": MinLSTM}
NO_CC = pytest.mark.skipif(
    shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler for the C kernel"
)
METHODS = {
    "linear-c": {"scan": "linear", "backend": "c"},  # the fused C kernel (CPU default)
    "linear-torch": {"scan": "linear", "backend": "torch"},  # the same scan on torch ops
    "log": {"scan": "log"},  # Heinsen's log-space scan (CUDA default)
}


def build(kind, *args, seed=0, **kwargs):
    torch.manual_seed(seed)
    return LAYER[kind](*args, **kwargs)


def reference(layer, x, h0=None):
    """Per-step reference from the paper's equations, one direction, stacked (x: (T, B, I))."""
    H = layer.hidden_size
    states = []
    for l in range(layer.num_layers):
        w, b = getattr(layer, f"weight_ih_l{l}"), getattr(layer, f"bias_ih_l{l}")
        h = torch.zeros(x.size(1), H, dtype=x.dtype) if h0 is None else h0[l]
        out = []
        for t in range(x.size(0)):
            k = x[t] @ w.T + b
            h_tilde_pre = k[:, -H:]
            h_tilde = torch.where(h_tilde_pre >= 0, h_tilde_pre + 0.5, torch.sigmoid(h_tilde_pre))
            if layer.kind == "mingru":
                z = torch.sigmoid(k[:, :H])
                h = (1 - z) * h + z * h_tilde
            else:
                i, f = torch.sigmoid(k[:, :H]), torch.sigmoid(k[:, H : 2 * H])
                h = f / (f + i) * h + i / (f + i) * h_tilde
            out.append(h)
        x = torch.stack(out)
        states.append(h)
    return x, torch.stack(states)


@pytest.mark.parametrize("kind", sorted(LAYER))
@pytest.mark.parametrize(
    "method", [pytest.param(m, marks=NO_CC) if m.endswith("-c") else m for m in sorted(METHODS)]
)
@pytest.mark.parametrize("with_h0", [False, True])
def test_parallel_vs_sequential_float32(kind, method, with_h0):
    T, B, I, H, L = 200, 3, 5, 8, 2
    layer = build(kind, I, H, L, **METHODS[method])
    x = torch.randn(T, B, I)
    h0 = torch.randn(L, B, H) if with_h0 else None
    with torch.no_grad():
        layer.mode = "parallel"
        out_p, h_p = layer(x, h0)
        layer.mode = "sequential"
        out_s, h_s = layer(x, h0)
    torch.testing.assert_close(out_p, out_s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h_p, h_s, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(LAYER))
@pytest.mark.parametrize(
    "method", [pytest.param(m, marks=NO_CC) if m.endswith("-c") else m for m in sorted(METHODS)]
)
def test_matches_reference_float64(kind, method):
    T, B, I, H, L = 20, 2, 3, 4, 2
    layer = build(kind, I, H, L, **METHODS[method], mode="parallel", dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0 = torch.randn(L, B, H, dtype=torch.float64)
    out, h_n = layer(x, h0)
    ref_out, ref_h = reference(layer, x, h0)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h_n, ref_h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(LAYER))
def test_step_matches_forward(kind):
    T, B, I, H, L = 6, 2, 3, 4, 2
    layer = build(kind, I, H, L, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, h_n = layer(x)
    h = None
    for t in range(T):
        y, h = layer.step(x[t], h)
        torch.testing.assert_close(y, out[t])
    torch.testing.assert_close(h, h_n)


@pytest.mark.parametrize("kind", sorted(LAYER))
@pytest.mark.parametrize(
    "mode", [pytest.param("parallel-c", marks=NO_CC), "parallel-torch", "sequential"]
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_equal_separate_runs(kind, mode, bidirectional):
    """Each row with lengths= equals that row run alone, cut to its length."""
    T, B, I, H, L = 7, 3, 3, 4, 2
    mode, _, backend = mode.partition("-")
    layer = build(
        kind, I, H, L, bidirectional=bidirectional, mode=mode, backend=backend or "auto",
        dtype=torch.float64,
    )  # fmt: skip
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I, dtype=torch.float64)
    h0 = torch.randn(L * D, B, H, dtype=torch.float64)
    lengths = torch.tensor([7, 2, 5])
    out, h_n = layer(x, h0, lengths=lengths)
    assert out.shape == (T, B, D * H) and h_n.shape == (L * D, B, H)
    for b, n in enumerate(lengths.tolist()):
        one, h_one = layer(x[:n, b : b + 1], h0[:, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], one)
        torch.testing.assert_close(h_n[:, b : b + 1], h_one)
        assert (out[n:, b] == 0).all()


@pytest.mark.parametrize("kind", sorted(LAYER))
def test_packed_sequence(kind):
    T, B, I, H = 6, 3, 2, 4
    layer = build(kind, I, H, 2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([3, 6, 4])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, h_n = layer(packed)
    padded, out_lengths = pad_packed_sequence(out, total_length=T)
    ref, ref_h = layer(x, lengths=lengths)
    torch.testing.assert_close(padded, ref)
    torch.testing.assert_close(h_n, ref_h)
    assert out_lengths.tolist() == lengths.tolist()


@pytest.mark.parametrize("kind", sorted(LAYER))
def test_batch_first_and_unbatched(kind):
    layer = build(kind, 3, 4, 2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, h_n = layer(x)
    layer.batch_first = True
    out_bf, h_bf = layer(x.transpose(0, 1))
    torch.testing.assert_close(out_bf.transpose(0, 1), out)
    torch.testing.assert_close(h_bf, h_n)
    layer.batch_first = False
    out_u, h_u = layer(x[:, 0])
    assert out_u.shape == (5, 8) and h_u.shape == (4, 4)
    torch.testing.assert_close(out_u, out[:, 0])


@pytest.mark.parametrize("kind", sorted(LAYER))
def test_bidirectional_reverse_is_flipped_forward(kind):
    layer = build(kind, 3, 4, 1, bidirectional=True, dtype=torch.float64)
    fwd = build(kind, 3, 4, 1, dtype=torch.float64)
    with torch.no_grad():
        fwd.weight_ih_l0.copy_(layer.weight_ih_l0_reverse)
        fwd.bias_ih_l0.copy_(layer.bias_ih_l0_reverse)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, h_n = layer(x)
    rev, h_rev = fwd(x.flip(0))
    torch.testing.assert_close(out[..., 4:], rev.flip(0))
    torch.testing.assert_close(h_n[1], h_rev[0])


@pytest.mark.parametrize("kind", sorted(LAYER))
@pytest.mark.parametrize(
    "method", [pytest.param(m, marks=NO_CC) if m.endswith("-c") else m for m in sorted(METHODS)]
)
def test_gradcheck_layer(kind, method):
    layer = build(kind, 2, 3, 2, bidirectional=True, **METHODS[method], dtype=torch.float64)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(x, h0, *ps):
        out, h_n = torch.func.functional_call(
            layer,
            dict(zip(dict(layer.named_parameters()), ps, strict=True)),
            (x, h0),
            {"lengths": torch.tensor([4, 2])},
        )
        return out, h_n

    assert torch.autograd.gradcheck(fn, (x, h0, *params))


def test_dropout_between_layers_only_in_train():
    layer = build("mingru", 3, 4, 2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    layer.eval()
    a, _ = layer(x)
    b, _ = layer(x)
    torch.testing.assert_close(a, b)
    layer.dropout = 0.0
    c, _ = layer(x)
    torch.testing.assert_close(a, c)


@pytest.mark.parametrize("kind", sorted(LAYER))
def test_state_dict_names_and_make_rnn(kind):
    layer = make_rnn(kind, 3, 4, 2, bidirectional=True, dropout=0.1, batch_first=True)
    assert isinstance(layer, LAYER[kind]) and kind in LAYERS
    G = 2 if kind == "mingru" else 3
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == {
        "weight_ih_l0": (G * 4, 3), "bias_ih_l0": (G * 4,),
        "weight_ih_l0_reverse": (G * 4, 3), "bias_ih_l0_reverse": (G * 4,),
        "weight_ih_l1": (G * 4, 8), "bias_ih_l1": (G * 4,),
        "weight_ih_l1_reverse": (G * 4, 8), "bias_ih_l1_reverse": (G * 4,),
    }  # fmt: skip
    bound = 4**-0.5
    assert all(p.abs().max() <= bound for p in layer.parameters())
    no_bias = LAYER[kind](3, 4, bias=False)
    assert list(no_bias.state_dict()) == ["weight_ih_l0"]


def test_errors():
    layer = MinGRU(3, 4, 2)
    with pytest.raises(ValueError, match="features"):
        layer(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"`hx` \(h_0\) has shape"):
        layer(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="`lengths` must be <="):
        layer(torch.randn(5, 2, 3), lengths=[6, 1])
    with pytest.raises(ValueError, match="`mode`"):
        MinGRU(3, 4, mode="fast")
    with pytest.raises(ValueError, match="`scan`"):
        MinLSTM(3, 4, scan="tree")
    with pytest.raises(ValueError, match="`backend`"):
        MinLSTM(3, 4, backend="cuda")
    with pytest.raises(ValueError, match="`hidden_size` must be > 0"):
        MinGRU(3, 0)
    with pytest.raises(ValueError, match="bidirectional"):
        MinGRU(3, 4, bidirectional=True).step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="`proj_size` is only for cells lstm"):
        make_rnn("minlstm", 3, 4, proj_size=2)
