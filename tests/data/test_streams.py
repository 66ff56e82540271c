"""Corpus streams: batchify layout, window boundaries, random lengths, sharding."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.streams import CorpusStream, batchify


def test_batchify_columns_are_contiguous_chunks():
    data = batchify(torch.arange(23), 4)  # 5 per stream, 3 dropped
    assert data.shape == (5, 4)
    for b in range(4):
        assert data[:, b].tolist() == list(range(5 * b, 5 * b + 5))
    with pytest.raises(ValueError, match="1-D"):
        batchify(torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="too few"):
        batchify(torch.arange(3), 2)


def test_windows_are_shifted_continuous_and_cover_every_target():
    stream = CorpusStream(torch.arange(4 * 26), batch_size=4, bptt=7)
    windows = list(stream)
    assert [x.shape[0] for x, _ in windows] == [7, 7, 7, 4] and len(stream) == 4
    for x, y in windows:
        assert x.shape == y.shape and torch.equal(y, x + 1)  # y is x shifted by one
    xs = torch.cat([x for x, _ in windows])  # (25, B): no gap and no overlap
    assert torch.equal(xs, batchify(torch.arange(4 * 26), 4)[:-1])


def test_variable_lengths_follow_awd_lstm_and_depend_only_on_seed_and_epoch():
    ids = torch.arange(2 * 3000)
    stream = CorpusStream(ids, batch_size=2, bptt=20, variable_length=True, seed=3)
    lengths0 = stream.window_lengths()
    assert sum(lengths0) == 2999 and len(stream) == len(lengths0)
    assert min(lengths0[:-1]) >= 5 and max(lengths0) <= 60
    assert len(set(lengths0)) > 5  # really variable
    # roughly 5% of windows come from the bptt/2 base
    assert 0 < sum(n < 14 for n in lengths0[:-1]) < 0.2 * len(lengths0)
    stream.set_epoch(1)
    assert stream.window_lengths() != lengths0
    again = CorpusStream(ids, batch_size=2, bptt=20, variable_length=True, seed=3)
    again.set_epoch(1)
    assert [x.shape[0] for x, _ in again] == stream.window_lengths()
    again.set_epoch(0)
    assert again.window_lengths() == lengths0
    other_seed = CorpusStream(ids, batch_size=2, bptt=20, variable_length=True, seed=4)
    assert other_seed.window_lengths() != lengths0


def test_shard_takes_contiguous_streams_with_equal_steps():
    full = CorpusStream(torch.arange(8 * 50), batch_size=8, bptt=6, variable_length=True)
    full.set_epoch(2)
    parts = [full.shard(r, 4) for r in range(4)]
    assert all(p.batch_size == 2 and len(p) == len(full) for p in parts)
    for (xf, yf), *shards in zip(full, *parts, strict=True):
        assert torch.equal(torch.cat([x for x, _ in shards], dim=1), xf)
        assert torch.equal(torch.cat([y for _, y in shards], dim=1), yf)
    with pytest.raises(ValueError, match="divisible"):
        full.shard(0, 3)
    with pytest.raises(ValueError, match="`rank`"):
        full.shard(4, 4)


def test_argument_errors():
    with pytest.raises(ValueError, match="`bptt` must be >= 1, got 0"):
        CorpusStream(torch.arange(10), 2, 0)
    with pytest.raises(ValueError, match="integer"):
        CorpusStream(torch.rand(10), 2, 3)
    with pytest.raises(ValueError, match="columns"):
        CorpusStream(torch.zeros(5, 3, dtype=torch.long), 2, 3)
