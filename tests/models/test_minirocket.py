"""MiniRocket: the kernels, the dilation plan, PPV features against a loop written out in
NumPy, batched vs one series at a time, and the closed-form fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.models.minirocket import KERNELS, MiniRocket, MiniRocketConfig, dilations


def _model(input_size: int = 1, input_length: int = 40, num_features: int = 336) -> MiniRocket:
    config = MiniRocketConfig(
        num_classes=2, input_size=input_size, input_length=input_length,
        num_features=num_features,
    )  # fmt: skip
    return MiniRocket(config)


def _reference(model: MiniRocket, s: np.ndarray) -> np.ndarray:
    """PPV features of one series ``s`` (T, I), each output step summed by hand."""
    w = model.kernels[:, 0].numpy()  # (84, 9)
    T = len(s)
    feats, pos = [], 0
    for i, (d, c) in enumerate(model.plan):
        chans = model.channels[i].numpy()  # (84, I)
        padded = np.concatenate([np.zeros((4 * d, s.shape[1])), s, np.zeros((4 * d, s.shape[1]))])
        if i % 2 == 0 or T - 4 * d <= 4 * d:
            steps = range(T)
        else:
            steps = range(4 * d, T - 4 * d)
        for k in range(KERNELS):
            out = np.array([
                sum(w[k, j] * (padded[t + j * d] * chans[k]).sum() for j in range(9))
                for t in steps
            ])  # fmt: skip
            b = model.biases[pos + k * c : pos + (k + 1) * c].numpy()
            feats.append((out[:, None] > b[None, :]).mean(0))
        pos += KERNELS * c
    return np.concatenate(feats)


def _fitted(model: MiniRocket, series: list[torch.Tensor]) -> MiniRocket:
    model.fit(series, torch.arange(len(series)) % 2, seed=3)
    return model


def test_the_84_kernels_are_every_placing_of_three_2s_among_nine_minus_1s() -> None:
    w = _model().kernels[:, 0]
    assert w.shape == (KERNELS, 9)
    assert len({tuple(row.tolist()) for row in w}) == 84
    assert torch.all(w.sum(1) == 0) and torch.all((w == 2).sum(1) == 3)


@pytest.mark.parametrize("length, per_kernel", [(1460, 119), (40, 4), (9, 119), (5, 10)])
def test_dilations_span_the_series_and_share_out_every_feature(length: int, per_kernel: int):
    plan = dilations(length, per_kernel, 32)
    ds = [d for d, _ in plan]
    assert ds == sorted(set(ds)) and ds[0] == 1
    assert sum(c for _, c in plan) == per_kernel and all(c > 0 for _, c in plan)
    assert (ds[-1] - 0) * 8 <= max(length - 1, 8)  # the widest kernel fits the series
    assert len(plan) <= min(per_kernel, 32)


@pytest.mark.parametrize("channels", [1, 3])
def test_features_equal_a_loop_over_steps_for_each_series_alone(channels: int) -> None:
    """Lengths 40, 23 and 6: the unpadded windows fit, fit for small dilations only, never."""
    gen = torch.Generator().manual_seed(0)
    series = [torch.randn(n, channels, generator=gen) for n in (40, 23, 6, 33)]
    model = _fitted(_model(channels), series)
    # biases off the data: a fitted bias is a quantile of some output, which the loop and
    # the convolution may round to either side of (a tie, measure zero on real data)
    model.biases.copy_(torch.randn(model.num_features, generator=gen))
    x = torch.nn.utils.rnn.pad_sequence(series[:3])  # (40, 3, I)
    batch = model.features(x, torch.tensor([40, 23, 6]))  # (3, F)
    for row, s in zip(batch, series[:3], strict=True):
        np.testing.assert_allclose(row.numpy(), _reference(model, s.numpy()), atol=1e-6)
        alone = model.features(s[:, None, :])[0]
        assert torch.equal(alone, row)


def test_multivariate_kernels_read_random_subsets_of_the_channels() -> None:
    series = [torch.randn(30, 12) for _ in range(6)]
    model = _fitted(_model(12, 30), series)
    counts = model.channels.sum(-1)  # (D, 84)
    assert counts.min() >= 1 and counts.max() <= 9  # at most min(I, 9)
    assert len(set(counts.flatten().tolist())) > 2  # not one fixed size
    assert torch.all((model.channels == 0) | (model.channels == 1))


def test_fit_is_seeded_and_separates_two_classes() -> None:
    gen = torch.Generator().manual_seed(1)
    ramp = torch.linspace(-1, 1, 40)[:, None]
    series = [torch.randn(40, 1, generator=gen) * 0.3 + (1 if i % 2 else -1) * ramp
              for i in range(30)]  # fmt: skip
    y = torch.arange(30) % 2
    a, b, c = _model(), _model(), _model()
    fit = a.fit(series, y, seed=0)
    b.fit(series, y, seed=0)
    c.fit(series, y, seed=1)
    assert torch.equal(a.biases, b.biases) and torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(a.biases, c.biases)
    assert fit.loo_accuracy > 0.9
    x = torch.nn.utils.rnn.pad_sequence(series)
    assert torch.equal(a(x).argmax(1), y)
    assert not any(p.requires_grad for p in a.parameters())  # nothing for an optimiser


def test_bad_config_and_inputs_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="`num_features` must be >= 84, got 10"):
        MiniRocketConfig(num_classes=2, input_size=1, num_features=10)
    with pytest.raises(ValueError, match="`input_size` must be > 0, got 0"):
        MiniRocketConfig(num_classes=2, input_size=0)
    model = _model(2)
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 2\) features"):
        model(torch.zeros(5, 3, 1))
    with pytest.raises(ValueError, match=r"`lengths` must have shape \(3,\)"):
        model(torch.zeros(5, 3, 2), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="at least 2 training series, got 1"):
        model.fit([torch.zeros(5, 2)], torch.tensor([0]))
    with pytest.raises(ValueError, match="2 series but 3 labels"):
        model.fit([torch.zeros(5, 2)] * 2, torch.tensor([0, 1, 0]))


@pytest.mark.parametrize("c", [1, 3, 8, 20])  # compared step by step (< 8), sorted (>= 8)
def test_ppv_counts_the_steps_above_each_bias_inside_the_window(c: int) -> None:
    from rnnkit.models.minirocket import _ppv

    gen = torch.Generator().manual_seed(c)
    conv, biases = torch.randn(3, 5, 17, generator=gen), torch.randn(5, c, generator=gen)
    lo, hi = torch.tensor([0, 4, 2]), torch.tensor([17, 13, 3])
    want = torch.empty(3, 5, c)
    for b, k, j in np.ndindex(3, 5, c):
        window = conv[b, k, int(lo[b]) : int(hi[b])]
        want[b, k, j] = (window > biases[k, j]).float().mean()
    torch.testing.assert_close(_ppv(conv, biases, lo, hi), want)
