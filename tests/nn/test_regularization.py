"""Regularisers of rnnkit.nn layers: each against a reference stepped by hand in this file.

Masks are reproduced from a generator seeded alike, in the documented draw order
(rnnkit.nn.regularization.Masks): weight drop per layer·direction, input, between layers,
output, recurrent per layer·direction, zoneout h, zoneout c.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import GRU, LSTM, RNN
from rnnkit.nn.regularization import LockedDropout, embedding_dropout

T, B, I, H = 5, 3, 4, 6


def keep(g, shape, p):
    return torch.empty(shape).bernoulli_(1 - p, generator=g) / (1 - p)


def zone(g, shape, p):
    return torch.empty(shape).bernoulli_(p, generator=g)


def gnorm(a, groups):
    return F.layer_norm(a.unflatten(-1, (groups, -1)), (a.size(-1) // groups,)).flatten(-2)


def ref_direction(mode, layer, k, x, *, ln=False, rec=None, zh=None, zc=None, w_hh=None):
    """One layer·direction ``k`` of ``layer`` stepped by hand (forward in time, h0 = 0).

    ``zh``/``zc``: (T, B, ·) 0/1 masks (train) or a float p (eval expectation).
    """
    s = "_l" + str(k)
    w_ih, b_ih = getattr(layer, "weight_ih" + s), getattr(layer, "bias_ih" + s)
    w_hh = getattr(layer, "weight_hh" + s) if w_hh is None else w_hh
    b_hh = getattr(layer, "bias_hh" + s)
    h = torch.zeros(x.size(1), w_hh.size(1))
    c = torch.zeros(x.size(1), layer.hidden_size)
    groups = {"lstm": 4, "gru": 3}.get(mode, 1)
    outs = []
    for t in range(x.size(0)):
        gx, gh = x[t] @ w_ih.T, h @ w_hh.T
        if ln:
            gx = gnorm(gx, groups) * getattr(layer, "ln_ih_weight" + s)
            gh = gnorm(gh, groups) * getattr(layer, "ln_hh_weight" + s)
        gx, gh = gx + b_ih, gh + b_hh
        if mode == "lstm":
            i, f, g, o = (gx + gh).chunk(4, 1)
            g = torch.tanh(g) * (1 if rec is None else rec)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * g
            cc = c_new
            if ln:
                w, b = getattr(layer, "ln_c_weight" + s), getattr(layer, "ln_c_bias" + s)
                cc = F.layer_norm(c_new, (H,)) * w + b
            h_new = torch.sigmoid(o) * torch.tanh(cc)
        elif mode == "gru":
            xr, xz, xn = gx.chunk(3, 1)
            hr, hz, hn = gh.chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn) * (1 if rec is None else rec)
            h_new = (1 - z) * n + z * h
        else:
            h_new = torch.tanh(gx + gh)
        if zh is not None:
            d = zh[t] if isinstance(zh, torch.Tensor) else zh
            h_new = d * h + (1 - d) * h_new
        if zc is not None:
            d = zc[t] if isinstance(zc, torch.Tensor) else zc
            c_new = d * c + (1 - d) * c_new
        h = h_new
        if mode == "lstm":
            c = c_new
        outs.append(h)
    return torch.stack(outs)  # (T, B, H)


CLASSES = {"lstm": LSTM, "gru": GRU, "rnn_tanh": RNN}


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_layer_norm_matches_reference_two_layers(mode):
    torch.manual_seed(0)
    layer = CLASSES[mode](I, H, num_layers=2, layer_norm=True)
    with torch.no_grad():  # non-trivial gains and shifts
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.uniform_(0.5, 1.5)
    x = torch.randn(T, B, I)
    out, _ = layer(x)
    ref = ref_direction(mode, layer, 1, ref_direction(mode, layer, 0, x, ln=True), ln=True)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert layer.forward_path() == "scan"


def test_layer_norm_parameters_names_and_init():
    layer = LSTM(I, H, bidirectional=True, layer_norm=True)
    ln = {n: p for n, p in layer.named_parameters() if n.startswith("ln_")}
    assert sorted(ln) == sorted(
        f"ln_{w}{s}" for w in ("ih_weight", "hh_weight", "c_weight", "c_bias")
        for s in ("_l0", "_l0_reverse")
    )  # fmt: skip
    assert ln["ln_ih_weight_l0"].shape == (4 * H,) and ln["ln_c_bias_l0"].shape == (H,)
    assert torch.equal(ln["ln_hh_weight_l0"], torch.ones(4 * H))
    assert torch.equal(ln["ln_c_bias_l0_reverse"], torch.zeros(H))
    layer.reset_parameters()
    assert torch.equal(layer.ln_c_weight_l0, torch.ones(H))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_layer_norm_gradcheck(mode):
    torch.manual_seed(0)
    layer = CLASSES[mode](2, 3, bidirectional=True, layer_norm=True, dtype=torch.float64)
    names = [n for n, _ in layer.named_parameters()]
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]

    def run(x, *ps):
        weights = dict(zip(names, ps, strict=True))
        return functional_call(layer, weights, (x,), {"lengths": [4, 2]})[0]

    assert torch.autograd.gradcheck(run, (x, *params))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_layer_norm_gradients_match_plain_autograd(mode):
    """The one-matmul W_hh gradient (step record) equals autograd through the reference."""
    torch.manual_seed(1)
    layer = CLASSES[mode](I, H, layer_norm=True)
    x = torch.randn(T, B, I)
    out, _ = layer(x)
    (out**2).sum().backward()
    got = {n: p.grad.clone() for n, p in layer.named_parameters()}
    layer.zero_grad()
    (ref_direction(mode, layer, 0, x, ln=True) ** 2).sum().backward()
    for n, p in layer.named_parameters():
        torch.testing.assert_close(got[n], p.grad, atol=1e-5, rtol=1e-4, msg=n)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_recurrent_dropout_matches_reference_mask_per_sequence(mode):
    torch.manual_seed(0)
    layer = CLASSES[mode](I, H, recurrent_dropout=0.4)
    assert layer.forward_path() == "scan"
    x = torch.randn(T, B, I)
    out, _ = layer(x, generator=torch.Generator().manual_seed(7))
    rec = keep(torch.Generator().manual_seed(7), (B, H), 0.4)  # one mask per sequence
    torch.testing.assert_close(out, ref_direction(mode, layer, 0, x, rec=rec))
    layer.eval()
    assert layer.forward_path() == "fused"  # eval: nothing left that needs the scan
    torch.testing.assert_close(layer(x)[0], ref_direction(mode, layer, 0, x))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_zoneout_train_and_eval_match_reference(mode):
    torch.manual_seed(0)
    pc = 0.3 if mode == "lstm" else 0.0
    layer = CLASSES[mode](I, H, zoneout_h=0.2, zoneout_c=pc)
    x = torch.randn(T, B, I)
    out, _ = layer(x, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    zh = zone(g, (T, B, H), 0.2)
    zc = zone(g, (T, B, H), pc) if pc else None
    torch.testing.assert_close(out, ref_direction(mode, layer, 0, x, zh=zh, zc=zc))
    layer.eval()  # the expectation p·prev + (1-p)·new
    ref = ref_direction(mode, layer, 0, x, zh=0.2, zc=pc if pc else None)
    torch.testing.assert_close(layer(x)[0], ref)
    assert layer.forward_path() == "scan"


def test_weight_drop_matches_reference_and_stays_fused():
    torch.manual_seed(0)
    layer = LSTM(I, H, weight_drop=0.5)
    plain = torch.nn.LSTM(I, H)
    assert list(layer.state_dict()) == list(plain.state_dict())
    assert layer.forward_path(torch.Generator()) == "fused"
    x = torch.randn(T, B, I)
    out, _ = layer(x, generator=torch.Generator().manual_seed(5))
    w = layer.weight_hh_l0 * keep(torch.Generator().manual_seed(5), (4 * H, H), 0.5)
    torch.testing.assert_close(out, ref_direction("lstm", layer, 0, x, w_hh=w))
    out.sum().backward()
    assert layer.weight_hh_l0.grad is not None and (layer.weight_hh_l0.grad == 0).any()


OPTS = {
    "weight_drop": 0.5,
    "input_dropout": 0.3,
    "dropout": 0.4,
    "dropout_kind": "locked",
    "output_dropout": 0.2,
}


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_and_scan_agree_on_locked_dropout_and_weight_drop(mode, bidirectional):
    torch.manual_seed(0)
    fused = CLASSES[mode](I, H, num_layers=3, bidirectional=bidirectional, **OPTS)
    scan = CLASSES[mode](I, H, num_layers=3, bidirectional=bidirectional, impl="scan", **OPTS)
    scan.load_state_dict(fused.state_dict())
    assert fused.forward_path(torch.Generator()) == "fused"
    x = torch.randn(B, T, I)
    for kw in ({}, {"lengths": [5, 2, 4]}):
        outs = []
        for layer in (fused, scan):
            layer.batch_first = True
            out, _ = layer(x, generator=torch.Generator().manual_seed(11), **kw)
            out.pow(2).sum().backward()
            outs.append((out, {n: p.grad.clone() for n, p in layer.named_parameters()}))
            layer.zero_grad()
        torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
        for n in outs[0][1]:
            torch.testing.assert_close(outs[0][1][n], outs[1][1][n], atol=1e-4, rtol=1e-4)


def test_locked_dropout_reference_two_layers():
    torch.manual_seed(0)
    layer = GRU(I, H, num_layers=2, **OPTS)
    x = torch.randn(T, B, I)
    out, _ = layer(x, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    w0, w1 = keep(g, (3 * H, H), 0.5), keep(g, (3 * H, H), 0.5)
    m_in, m_mid, m_out = keep(g, (B, I), 0.3), keep(g, (B, H), 0.4), keep(g, (B, H), 0.2)
    y = ref_direction("gru", layer, 0, x * m_in, w_hh=layer.weight_hh_l0 * w0)
    y = ref_direction("gru", layer, 1, y * m_mid, w_hh=layer.weight_hh_l1 * w1)
    torch.testing.assert_close(out, y * m_out)


def test_output_mask_is_per_sequence():
    torch.manual_seed(0)
    layer = LSTM(I, 64, output_dropout=0.5)
    x = torch.randn(T, 8, I)
    train, _ = layer(x, generator=torch.Generator().manual_seed(0))
    layer.eval()
    ratio = train / layer(x)[0]  # (T, B, H): 0 or 2
    assert torch.allclose(ratio, ratio[:1].expand_as(ratio))  # same mask at every step
    assert not torch.equal(ratio[0, 0], ratio[0, 1])  # different across the batch
    assert set(ratio.unique().tolist()) <= {0.0, 2.0}


def test_locked_dropout_module_and_embedding_dropout():
    drop = LockedDropout(0.5)
    y = drop(torch.ones(7, 4, 16), generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y[:1].expand_as(y)) and not torch.equal(y[0, 0], y[0, 1])
    drop.eval()
    assert torch.equal(drop(torch.ones(2, 2, 2)), torch.ones(2, 2, 2))
    weight = torch.randn(10, 3)
    ids = torch.tensor([[1, 1, 2], [2, 3, 1]])
    e = embedding_dropout(ids, weight, 0.5, training=True, generator=torch.Generator())
    dropped = (e == 0).all(-1)  # a dropped word is dropped at every position
    for w in ids.unique():
        assert dropped[ids == w].all() or not dropped[ids == w].any()


ALL = {
    "weight_drop": 0.5,
    "input_dropout": 0.3,
    "dropout": 0.4,
    "dropout_kind": "locked",
    "output_dropout": 0.2,
    "recurrent_dropout": 0.3,
}


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_eval_equals_the_plain_layer(mode):
    torch.manual_seed(0)
    layer = CLASSES[mode](I, H, num_layers=2, bidirectional=True, **ALL).eval()
    plain = getattr(torch.nn, mode.upper())(I, H, num_layers=2, bidirectional=True).eval()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(T, B, I)
    assert torch.equal(layer(x)[0], plain(x)[0])
    layer.train()
    assert not torch.allclose(layer(x)[0], plain(x)[0])


def test_state_dict_unchanged_when_options_off():
    for cls, ref in ((LSTM, torch.nn.LSTM), (GRU, torch.nn.GRU), (RNN, torch.nn.RNN)):
        layer = cls(I, H, num_layers=2, bidirectional=True, impl="scan")
        assert list(layer.state_dict()) == list(ref(I, H, 2, bidirectional=True).state_dict())


def test_packed_input_matches_lengths_with_masks():
    torch.manual_seed(0)
    layer = LSTM(I, H, num_layers=2, zoneout_h=0.2, recurrent_dropout=0.2, **OPTS)
    x, lengths = torch.randn(T, B, I), torch.tensor([3, 5, 2])
    out, state = layer(x, lengths=lengths, generator=torch.Generator().manual_seed(4))
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out_p, state_p = layer(packed, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(pad_packed_sequence(out_p, total_length=T)[0], out)
    torch.testing.assert_close(state_p.c, state.c)


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (LSTM, {"weight_drop": 1.0}, "weight_drop"),
        (LSTM, {"input_dropout": -0.1}, "input_dropout"),
        (GRU, {"zoneout_h": 1.5}, "zoneout_h"),
        (LSTM, {"layer_norm": True, "impl": "fused"}, "layer_norm"),
        (LSTM, {"zoneout_c": 0.1, "impl": "fused"}, "zoneout_c"),
        (RNN, {"recurrent_dropout": 0.1}, "recurrent_dropout"),
        (GRU, {"zoneout_c": 0.1}, "zoneout_c"),
        (LSTM, {"dropout_kind": "gaussian"}, "dropout_kind"),
        (LSTM, {"dropout": 1.0, "dropout_kind": "locked", "num_layers": 2}, "dropout"),
    ],
)
def test_bad_values_are_clear_errors(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(I, H, **kwargs)


def test_bad_types_are_clear_errors():
    with pytest.raises(TypeError, match="layer_norm"):
        LSTM(I, H, layer_norm=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        LSTM(I, H, zoneout=0.1)
