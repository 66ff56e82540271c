"""LSTM-FCN: the recurrent branch along time or shuffled (one step of T features), the
step averaging of long series, padding that changes nothing, clear config errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.lstm_fcn import LSTMFCN, LSTMFCNConfig, average_steps


def _model(**options: object) -> LSTMFCN:
    torch.manual_seed(0)
    base = {"num_classes": 3, "input_size": 1, "hidden_size": 8, "filters": (8, 8)}
    base["kernel_sizes"] = (5, 3)
    return LSTMFCN(LSTMFCNConfig.from_dict({**base, **options})).eval()


def test_average_steps_means_valid_steps_only() -> None:
    x = torch.arange(1.0, 8.0)[:, None, None].repeat(1, 2, 1)  # (7, 2, 1): 1..7
    x[4:, 1] = 100.0  # padding of row 1 (length 4)
    out, lengths = average_steps(x, torch.tensor([7, 4]), 3)
    assert lengths.tolist() == [3, 2]
    assert out[:, 0, 0].tolist() == [2.0, 5.0, 7.0]  # last group short: the mean of (7,)
    assert out[:2, 1, 0].tolist() == [2.0, 4.0]  # (1,2,3) and (4,), never the padding
    same, n = average_steps(x, torch.tensor([7, 4]), 1)
    assert same is x and n.tolist() == [7, 4]


def test_auto_axis_shuffles_univariate_series_only() -> None:
    uni = _model(rnn_axis="auto", input_length=30)
    assert uni.config.axis == "channels" and uni.rnn.input_size == 30
    multi = _model(rnn_axis="auto", input_size=2, input_length=30)
    assert multi.config.axis == "time" and multi.rnn.input_size == 2
    pooled = _model(rnn_axis="auto", input_length=30, max_length=8)
    assert pooled.config.pool == 4 and pooled.rnn.input_size == 8  # ceil(30 / 4)
    assert _model().config.axis == "time" and _model().config.pool == 1  # old runs load as-is


@pytest.mark.parametrize(
    "options",
    [
        {"rnn_axis": "channels"},
        {"max_length": 8},
        {},
        {"max_length": 8, "downsample": "conv"},
        {"max_length": 8, "downsample": "conv", "normalize": "series+level"},
        {"rnn_axis": "channels", "normalize": "series"},
        {"max_length": 8, "normalize": "series+level", "quantiles": 5},
    ],
)
def test_padded_batch_equals_rows_run_alone(options: dict) -> None:
    model = _model(input_length=30, **options)
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([30, 17, 5])
    x = torch.randn(30, 3, 1, generator=gen)
    for b, n in enumerate(lengths.tolist()):
        x[n:, b] = 1e3  # loud padding: any leak would show
    with torch.no_grad():
        batch = model(x, lengths)  # (B, C)
        for b, n in enumerate(lengths.tolist()):
            alone = model(x[:n, b : b + 1], torch.tensor([n]))  # (1, C)
            assert torch.allclose(batch[b], alone[0], atol=1e-5), (options, b)


def test_shuffled_branch_cuts_series_longer_than_training_and_learns() -> None:
    model = _model(rnn_axis="channels", input_length=10).train()
    x = torch.randn(25, 4, 1)  # longer than any training series: the branch reads 10 steps
    logits = model(x, torch.tensor([25, 25, 12, 3]))
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert model.rnn.weight_ih_l0.grad is not None and model.rnn.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "options,match",
    [
        ({"rnn_axis": "sideways"}, "`rnn_axis` must be one of auto, time, channels"),
        ({"rnn_axis": "channels"}, "needs `input_length`"),
        ({"max_length": 0, "input_length": 5}, "`max_length` must be > 0 or None, got 0"),
        ({"quantiles": 1}, "`quantiles` must be 0 or >= 2, got 1"),
        ({"downsample": "later"}, "`downsample` must be one of input, conv, got 'later'"),
        ({"normalize": "global"}, "`normalize` must be one of none, series, series\\+level"),
    ],
)
def test_bad_config_names_the_option(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LSTMFCNConfig.from_dict({"num_classes": 2, "input_size": 1, **options})


def test_downsample_conv_reads_full_resolution_then_averages() -> None:
    """``conv``: the first block sees every step, so a pattern that averaging the input
    cancels (+1, -1 alternating, pairs averaged to 0) still reaches the head."""
    early = _model(input_length=40, max_length=20, downsample="input")
    late = _model(input_length=40, max_length=20, downsample="conv")
    late.load_state_dict(early.state_dict())  # same weights, different placement
    flat = torch.zeros(40, 1, 1)
    zigzag = torch.tensor([1.0, -1.0] * 20)[:, None, None]
    with torch.no_grad():
        assert torch.equal(early(flat), early(zigzag))  # averaged pairs: both all-zero
        assert not torch.allclose(late(flat), late(zigzag))
    assert late.conv.downsample == 2 and early.conv.downsample == 1


def test_normalize_series_ignores_scale_and_level_reads_it() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 2, 1, generator=gen)
    lengths = torch.tensor([30, 21])
    series = _model(input_length=30, normalize="series")
    level = _model(input_length=30, normalize="series+level")
    assert level.head.in_features == series.head.in_features + 2  # asinh(mean), log(std)
    with torch.no_grad():
        assert torch.allclose(series(x, lengths), series(5.0 * x + 3.0, lengths), atol=1e-4)
        assert not torch.allclose(level(x, lengths), level(5.0 * x + 3.0, lengths), atol=1e-3)
