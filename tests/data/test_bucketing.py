"""Bucketed batches: every index once, deterministic, less padding than random batches."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.bucketing import BucketBatchSampler, BucketLoader, collate, padding_stats


def _lengths(n: int = 200) -> list[int]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(1, 60, (n,), generator=gen).tolist()


def test_every_index_once_and_deterministic_per_epoch() -> None:
    lengths = _lengths()
    s = BucketBatchSampler(lengths, 16, seed=3, pool_batches=4)
    first = list(s)
    assert sorted(i for b in first for i in b) == list(range(200))
    assert len(first) == len(s) == 13
    assert list(BucketBatchSampler(lengths, 16, seed=3, pool_batches=4)) == first
    s.set_epoch(1)
    assert list(s) != first


def test_bucketing_pads_less_than_random_batches() -> None:
    lengths = _lengths()
    bucketed = padding_stats(lengths, list(BucketBatchSampler(lengths, 16, pool_batches=4)))
    plain = padding_stats(lengths, list(BucketBatchSampler(lengths, 16, bucket=False)))
    assert bucketed["valid_steps"] == plain["valid_steps"] == sum(lengths)
    assert bucketed["padded_fraction"] < plain["padded_fraction"] / 2


def test_padding_stats_by_hand() -> None:
    st = padding_stats([3, 1, 2], [[0, 1], [2]])  # grid 3*2 + 2*1 = 8, valid 6
    assert st["grid_steps"] == 8 and st["valid_steps"] == 6
    assert st["padded_fraction"] == pytest.approx(0.25)


def test_collate_pads_time_major_and_keeps_order() -> None:
    inputs = [torch.full((n, 2), float(n)) for n in (3, 1, 2)]
    b = collate(inputs, torch.tensor([7, 8, 9]), [1, 0])
    assert b.x.shape == (3, 2, 2) and b.lengths.tolist() == [1, 3]
    assert b.y.tolist() == [8, 7] and b.index.tolist() == [1, 0]
    assert torch.all(b.x[1:, 0] == 0)


def test_loader_rejects_empty_sequences() -> None:
    with pytest.raises(ValueError, match="empty at positions \\[1\\]"):
        BucketLoader([torch.ones(2), torch.ones(0)], None, 2)
