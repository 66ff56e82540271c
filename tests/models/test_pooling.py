"""Masked pooling: padding never changes the result, and each mode computes what it says."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.pooling import POOLINGS, Pooling, length_mask


def _batch(gen: torch.Generator, lengths: list[int], F: int, pad: float) -> torch.Tensor:
    T = max(lengths)
    out = torch.randn(T, len(lengths), F, generator=gen)  # (T, B, F)
    mask = length_mask(torch.tensor(lengths), T)
    return out.masked_fill(~mask.unsqueeze(-1), pad)


@pytest.mark.parametrize("mode", POOLINGS)
@pytest.mark.parametrize("D", [1, 2])
def test_padding_never_changes_the_result(mode: str, D: int) -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([5, 2, 3])
    pool = Pooling(mode, 4 * D, D)
    out = _batch(gen, [5, 2, 3], 4 * D, 0.0)
    ref = pool(out, lengths)
    # different garbage in the padding, and extra padded steps at the end
    noisy = out.clone()
    mask = length_mask(lengths, 5)
    noisy[~mask] = 1e3
    longer = torch.cat([noisy, torch.full((4, 3, 4 * D), -1e3)], dim=0)  # (9, B, F)
    torch.testing.assert_close(pool(noisy, lengths), ref)
    torch.testing.assert_close(pool(longer, lengths), ref)
    # and each row equals the row pooled alone, unpadded
    for b, n in enumerate(lengths.tolist()):
        alone = pool(out[:n, b : b + 1], torch.tensor([n]))
        torch.testing.assert_close(alone[0], ref[b])


def test_modes_compute_what_they_say() -> None:
    out = torch.arange(2 * 3 * 2, dtype=torch.float32).view(3, 2, 2)  # (T=3, B=2, F=2)
    lengths = torch.tensor([3, 1])
    valid1 = out[:1, 1]  # row 1 has one step
    torch.testing.assert_close(Pooling("last", 2)(out, lengths)[0], out[2, 0])
    torch.testing.assert_close(Pooling("last", 2)(out, lengths)[1], valid1[0])
    torch.testing.assert_close(Pooling("mean", 2)(out, lengths)[0], out[:, 0].mean(0))
    torch.testing.assert_close(Pooling("max", 2)(out, lengths)[1], valid1[0])
    # bidirectional last: forward half at the last valid step, backward half at t=0
    bi = Pooling("last", 2, num_directions=2)(out, lengths)
    torch.testing.assert_close(bi[0], torch.stack([out[2, 0, 0], out[0, 0, 1]]))


def test_attention_weights_are_zero_on_padding_and_sum_to_one() -> None:
    gen = torch.Generator().manual_seed(1)
    pool = Pooling("attention", 4)
    lengths = torch.tensor([4, 2])
    pool(_batch(gen, [4, 2], 4, 0.0), lengths)
    w = pool.last_weights
    assert w is not None and w.shape == (4, 2)
    assert torch.all(w[2:, 1] == 0)
    torch.testing.assert_close(w.sum(0), torch.ones(2))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="`pooling` must be one of"):
        Pooling("median", 4)
    with pytest.raises(ValueError, match="`lengths` must lie in"):
        Pooling("mean", 4)(torch.zeros(3, 2, 4), torch.tensor([4, 1]))
