"""rnnkit.nn layers vs torch.nn: outputs, final states and every gradient, both paths.

One test item per (mode, impl, dtype). In float64 the item checks the FULL product of
layers (1, 3) x bidirectional x batch_first x bias x proj_size (LSTM: 0, 2) x
input kind (plain / unbatched / packed / lengths) x hx (given / absent); in float32 a
greedy all-pairs cover of the same factors (every pair of factor values occurs at least
once), which keeps the suite fast. Failure messages name the exact combination. Sizes are
tiny (T=5, B=3, I=3, H=4).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit.nn

T, B, I, H, P = 5, 3, 3, 4, 2
MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
KINDS = ["plain", "unbatched", "packed", "lengths"]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def make_pair(mode, *, impl, dtype, **kwargs):
    """A torch.nn layer and an rnnkit layer holding the torch layer's weights."""
    name = "RNN" if mode.startswith("rnn") else mode.upper()
    if mode.startswith("rnn"):
        kwargs["nonlinearity"] = mode.split("_")[1]
    ref = getattr(torch.nn, name)(I, H, dtype=dtype, **kwargs)
    ours = getattr(rnnkit.nn, name)(I, H, dtype=dtype, impl=impl, **kwargs)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def run_case(ref, ours, *, kind, with_hx, dtype, gen):
    """Forward + backward through both layers on the same data; return comparable tensors."""
    d = 2 if ref.bidirectional else 1
    h_out = ref.proj_size or ref.hidden_size
    batch = 1 if kind == "unbatched" else B
    x = torch.randn(T, batch, I, dtype=dtype, generator=gen)  # (T, B, I)
    lengths = {"packed": [T, 2, 4], "lengths": [4, 1, 3]}.get(kind)
    shape_h = (ref.num_layers * d, batch, h_out)
    hx = None
    if with_hx:
        hx = torch.randn(shape_h, dtype=dtype, generator=gen)
        if isinstance(ref, torch.nn.LSTM):
            c_shape = (*shape_h[:2], ref.hidden_size)
            hx = (hx, torch.randn(c_shape, dtype=dtype, generator=gen))
    if kind == "unbatched":
        x = x[:, 0]  # (T, I)
        hx = None if hx is None else tuple(h[:, 0] for h in flat(hx))
        hx = hx if hx is None or len(hx) == 2 else hx[0]
    elif ref.batch_first:
        x = x.transpose(0, 1).contiguous()  # (B, T, I)

    results = []
    for layer in (ref, ours):
        layer.zero_grad()
        xi = x.clone().requires_grad_(True)
        hi = None if hx is None else [h.clone().requires_grad_(True) for h in flat(hx)]
        h_arg = None if hi is None else (tuple(hi) if len(hi) == 2 else hi[0])
        if kind == "packed":
            inp = pack_padded_sequence(xi, lengths, ref.batch_first, enforce_sorted=False)
            out, state = layer(inp, h_arg)
            assert isinstance(out, PackedSequence)
            assert torch.equal(out.sorted_indices, inp.sorted_indices)
            out = out.data  # (N, D·H_out)
        elif kind == "lengths" and layer is ref:
            inp = pack_padded_sequence(xi, lengths, ref.batch_first, enforce_sorted=False)
            out, state = layer(inp, h_arg)
            out, _ = pad_packed_sequence(out, ref.batch_first, total_length=T)
        elif kind == "lengths":
            out, state = layer(xi, h_arg, lengths=torch.tensor(lengths))
        else:
            out, state = layer(xi, h_arg)
        if isinstance(ref, torch.nn.LSTM) and layer is ours:
            assert isinstance(state, rnnkit.nn.LSTMState)
        weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
        loss = (out * weights).sum() + sum((s * s).sum() for s in flat(state))
        loss.backward()
        grads = [p.grad for _, p in sorted(layer.named_parameters())]
        grads += [xi.grad] + ([] if hi is None else [h.grad for h in hi])
        results.append([out, *flat(state), *grads])
    return results


def all_cases(mode):
    """Every (layers, bidirectional, batch_first, bias, proj_size, kind, with_hx)."""
    projs = [0, P] if mode == "lstm" else [0]
    factors = [[1, 3], [False, True], [False, True], [True, False], projs, KINDS, [False, True]]
    return list(itertools.product(*factors))


def pairwise_cover(cases):
    """A greedy subset of ``cases`` in which every pair of factor values still occurs."""

    def pairs(case):
        return {(i, a, j, b) for (i, a), (j, b) in itertools.combinations(enumerate(case), 2)}

    uncovered = set().union(*(pairs(c) for c in cases))
    chosen = []
    while uncovered:
        best = max(cases, key=lambda c: len(pairs(c) & uncovered))
        chosen.append(best)
        uncovered -= pairs(best)
    return chosen


def test_pairwise_cover_covers_every_pair():
    cases = all_cases("lstm")
    cover = pairwise_cover(cases)
    assert len(cover) < len(cases) / 4
    for i, j in itertools.combinations(range(len(cases[0])), 2):
        assert {(c[i], c[j]) for c in cover} == {(c[i], c[j]) for c in cases}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("impl", ["fused", "scan"])
@pytest.mark.parametrize("mode", MODES)
def test_matches_torch_nn(mode, impl, dtype):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    cases = all_cases(mode) if dtype == torch.float64 else pairwise_cover(all_cases(mode))
    for layers, bidir, batch_first, bias, proj, kind, with_hx in cases:
        kwargs = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias)
        if proj:
            kwargs["proj_size"] = proj
        ref, ours = make_pair(mode, impl=impl, dtype=dtype, **kwargs)
        assert ours.forward_path() == impl
        expected, got = run_case(ref, ours, kind=kind, with_hx=with_hx, dtype=dtype, gen=gen)
        assert len(expected) == len(got)
        for k, (e, g) in enumerate(zip(expected, got, strict=True)):
            assert e.shape == g.shape, (kwargs, kind, with_hx, k)
            err = (e - g).abs().max().item()
            assert err <= TOL[dtype], f"{kwargs} {kind} hx={with_hx} tensor #{k}: {err:.2e}"


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_both_ways(mode):
    """torch -> rnnkit was used above; here rnnkit -> torch, with identical outputs."""
    torch.manual_seed(1)
    name = "RNN" if mode.startswith("rnn") else mode.upper()
    kwargs = dict(num_layers=2, bidirectional=True, dtype=torch.float64)
    if mode.startswith("rnn"):
        kwargs["nonlinearity"] = mode.split("_")[1]
    if mode == "lstm":
        kwargs["proj_size"] = P
    ours = getattr(rnnkit.nn, name)(I, H, **kwargs)
    ref = getattr(torch.nn, name)(I, H, **kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert ref.load_state_dict(ours.state_dict()).missing_keys == []
    x = torch.randn(T, B, I, dtype=torch.float64)
    for a, b in zip(flat(ours(x)[1]), flat(ref(x)[1]), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(ours(x)[0], ref(x)[0])
    again = getattr(rnnkit.nn, name)(I, H, **kwargs, impl="scan")
    again.load_state_dict(ref.state_dict())
    torch.testing.assert_close(again(x)[0], ref(x)[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_initialisation_matches_torch(mode):
    """Same parameter shapes, and with the same seed the same uniform(-1/sqrt(H), ..) draws."""
    name = "RNN" if mode.startswith("rnn") else mode.upper()
    kwargs = dict(num_layers=2, bidirectional=True)
    torch.manual_seed(3)
    ref = getattr(torch.nn, name)(I, H, **kwargs)
    torch.manual_seed(3)
    ours = getattr(rnnkit.nn, name)(I, H, **kwargs)
    for (n1, p1), (n2, p2) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)
        assert p2.abs().max() <= H**-0.5


def test_fused_dropout_matches_torch_with_same_seed():
    """The fused path draws dropout from the global RNG exactly as torch.nn does."""
    ref, ours = make_pair("lstm", impl="fused", dtype=torch.float64, num_layers=3, dropout=0.5)
    x = torch.randn(T, B, I, dtype=torch.float64)
    torch.manual_seed(7)
    expected = ref(x)[0]
    torch.manual_seed(7)
    assert torch.equal(ours(x)[0], expected)
