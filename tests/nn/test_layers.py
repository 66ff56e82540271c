"""rnnkit.nn layers beyond torch parity: fused vs scan, impl selection, dropout, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.nn import GRU, LSTM, RNN, LSTMState

T, B, I, H = 5, 3, 4, 6
F64 = torch.float64


def twins(cls, **kwargs):
    """A fused and a scan layer with the same weights."""
    fused = cls(I, H, impl="fused", dtype=F64, **kwargs)
    scan = cls(I, H, impl="scan", dtype=F64, **kwargs)
    scan.load_state_dict(fused.state_dict())
    return fused, scan


def fields(state):
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (LSTM, dict(num_layers=2, bidirectional=True, proj_size=3)),
        (GRU, dict(num_layers=2, bidirectional=True, batch_first=True)),
        (RNN, dict(num_layers=3, nonlinearity="relu", bias=False)),
    ],
)
def test_fused_and_scan_paths_agree_with_gradients(cls, kwargs):
    torch.manual_seed(0)
    fused, scan = twins(cls, **kwargs)
    x = (
        torch.randn(B, T, I, dtype=F64)
        if kwargs.get("batch_first")
        else torch.randn(T, B, I, dtype=F64)
    )
    lengths = torch.tensor([2, T, 3])
    for layer in (fused, scan):
        out, state = layer(x, lengths=lengths)
        (out.square().sum() + sum(s.sum() for s in fields(state))).backward()
    assert fused.forward_path() == "fused" and scan.forward_path() == "scan"
    for (n, p), (_, q) in zip(fused.named_parameters(), scan.named_parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-10, rtol=0, msg=n)
    for a, b in zip(
        fields(fused(x, lengths=lengths)[1]), fields(scan(x, lengths=lengths)[1]), strict=True
    ):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


def test_lengths_equal_packed_and_per_row_runs():
    """``lengths=`` (unsorted) == running each row alone on its valid prefix."""
    torch.manual_seed(1)
    lstm = LSTM(I, H, num_layers=2, dtype=F64, impl="scan")
    x = torch.randn(T, B, I, dtype=F64)
    lengths = [3, 5, 1]
    out, (h, c) = lstm(x, lengths=lengths)
    for b, n in enumerate(lengths):
        row_out, (row_h, row_c) = lstm(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b], row_out[:, 0], atol=1e-12, rtol=0)
        assert out[n:, b].abs().sum() == 0
        torch.testing.assert_close(h[:, b], row_h[:, 0], atol=1e-12, rtol=0)
        torch.testing.assert_close(c[:, b], row_c[:, 0], atol=1e-12, rtol=0)


def test_lstm_state_is_a_named_tuple_that_unpacks_and_feeds_back():
    lstm = LSTM(I, H)
    out, state = lstm(torch.randn(T, B, I))
    assert isinstance(state, LSTMState) and isinstance(state, tuple)
    h, c = state
    assert state.h is h and state.c is c
    out2, _ = lstm(torch.randn(T, B, I), state)
    assert out2.shape == (T, B, H)


def test_auto_path_and_impl_selection():
    lstm = LSTM(I, H, num_layers=2, dropout=0.5)
    g = torch.Generator().manual_seed(0)
    assert lstm.forward_path() == "fused"
    assert lstm.forward_path(g) == "scan"  # masks from a generator need the scan
    lstm.eval()
    assert lstm.forward_path(g) == "fused"  # no dropout in eval mode
    fused = LSTM(I, H, num_layers=2, dropout=0.5, impl="fused")
    with pytest.raises(ValueError, match=r"impl='fused' cannot run a dropout `generator`"):
        fused(torch.randn(T, B, I), generator=g)
    assert "impl='scan'" in repr(LSTM(I, H, impl="scan"))


@pytest.mark.parametrize("impl", ["auto", "scan"])
def test_dropout_active_in_train_only(impl):
    torch.manual_seed(2)
    gru = GRU(I, H, num_layers=3, dropout=0.5, impl=impl)
    plain = GRU(I, H, num_layers=3, impl=impl)
    plain.load_state_dict(gru.state_dict())
    x = torch.randn(T, B, I)
    assert not torch.equal(gru(x)[0], gru(x)[0])  # fresh masks every call
    gru.eval()
    torch.testing.assert_close(gru(x)[0], gru(x)[0], atol=0, rtol=0)
    torch.testing.assert_close(gru(x)[0], plain(x)[0], atol=1e-6, rtol=0)


def test_dropout_generator_reproducible():
    torch.manual_seed(3)
    lstm = LSTM(I, H, num_layers=2, dropout=0.3)
    x = torch.randn(T, B, I)
    a = lstm(x, generator=torch.Generator().manual_seed(5))[0]
    b = lstm(x, generator=torch.Generator().manual_seed(5))[0]
    c = lstm(x, generator=torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    last_layer_only = LSTM(I, H, num_layers=1, dropout=0.0)
    assert last_layer_only.forward_path(torch.Generator()) == "fused"


def test_dropout_not_after_last_layer():
    """One layer with dropout: nothing to drop between layers, outputs are deterministic."""
    with pytest.warns(UserWarning, match="dropout"):
        rnn = RNN(I, H, num_layers=1, dropout=0.9, impl="scan")
    x = torch.randn(T, B, I)
    assert torch.equal(rnn(x, generator=torch.Generator())[0], rnn(x)[0])


def test_dtype_move_deepcopy_and_functional_call():
    torch.manual_seed(4)
    lstm = LSTM(I, H, num_layers=2).double()
    x = torch.randn(T, B, I, dtype=F64)
    out = lstm(x)[0]
    assert out.dtype == F64
    twin = copy.deepcopy(lstm)
    assert torch.equal(twin(x)[0], out)
    zeros = {n: torch.zeros_like(p) for n, p in lstm.named_parameters()}
    for impl in ("fused", "scan"):
        lstm.impl = impl
        got = torch.func.functional_call(lstm, zeros, (x,))[0]
        assert got.abs().sum() == 0, impl  # all-zero weights give h = 0.5 * tanh(0) = 0


def test_packed_input_keeps_order_and_type():
    torch.manual_seed(5)
    gru = GRU(I, H, impl="scan")
    x = torch.randn(T, B, I)
    packed = pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False)
    out, h = gru(packed)
    assert type(out) is type(packed)
    assert torch.equal(out.batch_sizes, packed.batch_sizes)
    assert torch.equal(out.unsorted_indices, packed.unsorted_indices)
    torch.testing.assert_close(h, gru(x, lengths=[2, 5, 3])[1], atol=1e-6, rtol=0)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(hidden_size=0), ValueError, r"`hidden_size` must be > 0, got 0"),
        (dict(input_size=-1), ValueError, r"`input_size` must be > 0, got -1"),
        (dict(hidden_size=2.5), TypeError, r"`hidden_size` must be an int, got float"),
        (dict(num_layers=0), ValueError, r"`num_layers` must be > 0, got 0"),
        (dict(dropout=1.5), ValueError, r"`dropout` must be in \[0, 1\].*got 1.5"),
        (dict(dropout=-0.1), ValueError, r"`dropout` must be in \[0, 1\]"),
        (dict(dropout="0.1"), TypeError, r"`dropout` must be a float"),
        (dict(proj_size=H), ValueError, r"`proj_size` must be < `hidden_size` \(6\), got 6"),
        (dict(proj_size=-1), ValueError, r"`proj_size` must be >= 0, got -1"),
        (dict(bias=1), TypeError, r"`bias` must be a bool, got int"),
        (dict(batch_first="yes"), TypeError, r"`batch_first` must be a bool"),
        (dict(bidirectional=None), TypeError, r"`bidirectional` must be a bool"),
        (dict(impl="cudnn"), ValueError, r"`impl` must be one of \('auto', 'fused', 'scan'\)"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    args = dict(input_size=I, hidden_size=H) | kwargs
    with pytest.raises(error, match=match):
        LSTM(**args)


def test_constructor_errors_for_rnn_and_gru():
    with pytest.raises(ValueError, match=r"`nonlinearity` must be 'tanh' or 'relu', got 'gelu'"):
        RNN(I, H, nonlinearity="gelu")
    with pytest.raises(TypeError, match="proj_size"):
        GRU(I, H, proj_size=2)


@pytest.mark.parametrize("impl", ["fused", "scan"])
def test_forward_errors(impl):
    lstm = LSTM(I, H, num_layers=2, impl=impl)
    gru = GRU(I, H, impl=impl)
    x = torch.randn(T, B, I)
    with pytest.raises(
        ValueError, match=r"input has 3 features, the model expects 4 \(`input_size`\)"
    ):
        lstm(torch.randn(T, B, 3))
    with pytest.raises(
        ValueError, match=r"input must be 2-D \(T, I\) unbatched or 3-D batched, got shape \(5,\)"
    ):
        lstm(torch.randn(T))
    with pytest.raises(
        ValueError, match=r"input has dtype torch.float64, the model's weights are torch.float32"
    ):
        gru(x.double())
    with pytest.raises(TypeError, match=r"`input` must be a Tensor or PackedSequence"):
        gru(x.tolist())
    with pytest.raises(
        ValueError,
        match=r"`hx` \(h_0\) has shape \(2, 3, 6\), expected \(L·D, B, H\) = \(1, 3, 6\)",
    ):
        gru(x, torch.zeros(2, B, H))
    with pytest.raises(
        ValueError, match=r"`hx` \(h_0\) has shape \(1, 3, 6\), expected \(L·D, H\)"
    ):
        gru(x[:, 0], torch.zeros(1, B, H))
    with pytest.raises(ValueError, match=r"`hx` \(h_0\) has dtype torch.float64"):
        gru(x, torch.zeros(1, B, H, dtype=F64))
    with pytest.raises(TypeError, match=r"`hx` for an LSTM must be a tuple \(h_0, c_0\)"):
        lstm(x, torch.zeros(2, B, H))
    with pytest.raises(ValueError, match=r"`hx\[1\]` \(c_0\) has shape \(2, 2, 6\), expected"):
        lstm(x, (torch.zeros(2, B, H), torch.zeros(2, 2, H)))


@pytest.mark.parametrize("impl", ["fused", "scan"])
def test_lengths_errors(impl):
    gru = GRU(I, H, impl=impl)
    x = torch.randn(T, B, I)
    with pytest.raises(
        ValueError, match=r"`lengths` must be <= the sequence length 5, got 7 at index 1"
    ):
        gru(x, lengths=[2, 7, 3])
    with pytest.raises(ValueError, match=r"`lengths` must be >= 1 .* got 0 at index 2"):
        gru(x, lengths=[2, 4, 0])
    with pytest.raises(ValueError, match=r"`lengths` has 2 entries, the batch has 3 sequences"):
        gru(x, lengths=[2, 4])
    with pytest.raises(TypeError, match=r"`lengths` must hold integers, got dtype torch.float32"):
        gru(x, lengths=torch.tensor([2.0, 4.0, 1.0]))
    with pytest.raises(ValueError, match=r"`lengths` must be 1-D \(B,\), got shape \(3, 1\)"):
        gru(x, lengths=torch.ones(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`lengths` needs a batched 3-D input"):
        gru(x[:, 0], lengths=[3])
    packed = pack_padded_sequence(x, [5, 4, 3])
    with pytest.raises(ValueError, match=r"either a PackedSequence or `lengths`, not both"):
        gru(packed, lengths=[5, 4, 3])


@pytest.mark.parametrize("impl", ["fused", "scan"])
def test_torch_func_grad_matches_torch(impl):
    """torch.func transforms see the same gradients (the scan's one-matmul W_hh gradient too)."""
    torch.manual_seed(6)
    ours = LSTM(I, H, num_layers=2, bidirectional=True, dtype=F64, impl=impl)
    ref = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, dtype=F64)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I, dtype=F64)

    def loss(params, module):
        out, (h, c) = torch.func.functional_call(module, params, (x,))
        return out.square().sum() + c.sum()

    got = torch.func.grad(loss)(dict(ours.named_parameters()), ours)
    expected = torch.func.grad(loss)(dict(ref.named_parameters()), ref)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-10, rtol=0, msg=name)


@pytest.mark.parametrize("impl", ["fused", "scan"])
def test_dropout_sits_between_layers_not_after_the_last(impl):
    """p=1 zeroes layer 1's output: layer 2 then sees zeros, and its own output is NOT dropped."""
    torch.manual_seed(7)
    gru = GRU(I, H, num_layers=2, dropout=1.0, impl=impl)
    x = torch.randn(T, B, I)
    out, h_n = gru(x, generator=torch.Generator().manual_seed(0) if impl == "scan" else None)
    assert out.abs().min() > 0  # not dropped
    gru.eval()
    expected = GRU(H, H, impl=impl)
    expected.load_state_dict(
        {k[:-1] + "0": v for k, v in gru.state_dict().items() if k.endswith("l1")}
    )
    torch.testing.assert_close(out, expected(torch.zeros(T, B, H))[0], atol=1e-6, rtol=0)
