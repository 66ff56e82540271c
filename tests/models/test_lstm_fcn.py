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


@pytest.mark.parametrize("options", [{"rnn_axis": "channels"}, {"max_length": 8}, {}])
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
    ],
)
def test_bad_config_names_the_option(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LSTMFCNConfig.from_dict({"num_classes": 2, "input_size": 1, **options})
