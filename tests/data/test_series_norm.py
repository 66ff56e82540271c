"""Per-series z-normalisation on real UCR slices: ACSF1 (long, has constant stretches) and
PLAID (variable length: each series over its own length; padding ignored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.series_norm import znormalize, znormalize_padded
from rnnkit.data.ts_format import read_ts


@pytest.fixture(scope="module")
def plaid(data_dir: Path) -> list[np.ndarray]:
    series = read_ts(data_dir / "PLAID" / "PLAID_TEST.ts").series
    return series[::60]  # 9 series of different lengths


def test_each_series_gets_zero_mean_unit_std(data_dir: Path) -> None:
    acsf = read_ts(data_dir / "ACSF1" / "ACSF1_TRAIN.ts").series[:10]
    out = znormalize(acsf)
    assert len(out) == 10 and all(o.shape == (1460, 1) for o in out)
    for raw, z in zip(acsf, out, strict=True):
        assert raw.std() > 0
        assert z.mean() == pytest.approx(0.0, abs=1e-9)
        assert z.std() == pytest.approx(1.0, abs=1e-9)
        # Shape is kept: a per-series increasing affine map (correlation 1).
        assert np.corrcoef(raw[:, 0], z[:, 0])[0, 1] == pytest.approx(1.0)


def test_per_channel_and_constant_series() -> None:
    x = np.stack([np.arange(5.0), np.full(5, 7.0)], axis=1)  # (5, 2): ramp, constant
    z = znormalize(x)
    assert z[:, 0] == pytest.approx((np.arange(5.0) - 2) / np.sqrt(2.0))
    assert np.all(z[:, 1] == 0.0)  # std floor: no division by zero
    assert znormalize(np.arange(3.0)).shape == (3,)
    with pytest.raises(ValueError, match="series 1 has NaN/inf at step 2"):
        znormalize([x, np.array([[1.0], [2.0], [np.nan]])])
    with pytest.raises(ValueError, match="`std_floor` must be > 0"):
        znormalize(x, std_floor=0.0)


def test_plaid_variable_lengths_respected(plaid: list[np.ndarray]) -> None:
    lengths = [s.shape[0] for s in plaid]
    assert len(set(lengths)) > 3
    out = znormalize(plaid)
    assert [o.shape[0] for o in out] == lengths
    for z in out:
        assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0, abs=1e-9)


def test_padded_batch_equals_each_series_alone(plaid: list[np.ndarray]) -> None:
    rows = [torch.tensor(s) for s in plaid]
    x = torch.nn.utils.rnn.pad_sequence(rows, padding_value=123.0)  # (T, B, 1)
    lengths = torch.tensor([s.shape[0] for s in plaid])
    z = znormalize_padded(x, lengths)
    for b, s in enumerate(znormalize(plaid)):
        n = s.shape[0]
        assert torch.allclose(z[:n, b], torch.tensor(s), atol=1e-9)
        assert torch.all(z[n:, b] == 0)
    with pytest.raises(ValueError, match="`lengths` must be in 1.."):
        znormalize_padded(x, torch.zeros_like(lengths))


def test_series_level_is_asinh_mean_and_log_std_over_valid_steps() -> None:
    from rnnkit.data.series_norm import series_level

    x = torch.zeros(5, 2, 2)
    x[:, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x[:, 0, 1] = 7.0  # constant: std floored
    x[:3, 1, 0] = torch.tensor([-2.0, 0.0, 2.0])
    x[3:, 1] = 1e6  # padding of row 1 must not count
    out = series_level(x, torch.tensor([5, 3]))  # (B, 2I): means then stds
    assert out.shape == (2, 4)
    assert torch.allclose(out[0, :2], torch.asinh(torch.tensor([3.0, 7.0])))
    assert torch.isclose(out[0, 2], torch.log(torch.tensor(2.0).sqrt()))
    assert out[0, 3] < -10  # log of the floor
    assert torch.isclose(out[1, 0], torch.tensor(0.0))
    assert torch.isclose(out[1, 2], torch.log(torch.tensor(8.0 / 3).sqrt()))


def test_series_quantiles_match_torch_quantile_per_row_and_ignore_padding() -> None:
    from rnnkit.data.series_norm import series_quantiles

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, 2, generator=gen)
    lengths = torch.tensor([40, 13, 1])
    x[13:, 1], x[1:, 2] = 1e6, -1e6  # padding must not count
    out = series_quantiles(x, lengths, 7)  # (B, 7 * 2), channel 0's quantiles first
    probs = torch.linspace(0, 1, 7)
    for b, n in enumerate(lengths.tolist()):
        ref = torch.quantile(x[:n, b], probs, dim=0).T.reshape(-1)  # (I*Q,)
        assert torch.allclose(out[b], ref, atol=1e-6), b
    with pytest.raises(ValueError, match="`count` must be >= 2"):
        series_quantiles(x, lengths, 1)
