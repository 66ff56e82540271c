"""Windows, chronological splits and rolling-origin folds line up with the rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.data.windows import (
    WindowDataset,
    chronological_split,
    collate_windows,
    rolling_origin_folds,
    window_origins,
)


def test_target_of_window_i_is_exactly_the_next_k_rows():
    t, n_in, k = 30, 5, 3
    target = np.arange(t, dtype=np.float64)[:, None] * 10  # row r holds 10 r
    past = np.arange(t, dtype=np.float64)[:, None] + 0.5
    future = -np.arange(t, dtype=np.float64)[:, None]
    origins = window_origins(0, t, input_len=n_in, horizon=k)
    ds = WindowDataset(target, past, future, origins, input_len=n_in, horizon=k)
    assert len(ds) == t - n_in - k + 1
    for i in range(len(ds)):
        item, o = ds[i], int(origins[i])
        assert item["y"][:, 0].tolist() == [10.0 * r for r in range(o, o + k)]
        assert item["x"][:, 0].tolist() == [10.0 * r for r in range(o - n_in, o)]
        assert item["x"][:, 1].tolist() == [r + 0.5 for r in range(o - n_in, o)]
        assert item["future"][:, 0].tolist() == [-float(r) for r in range(o, o + k)]
    batch = collate_windows([ds[0], ds[1]])
    assert batch["x"].shape == (n_in, 2, 3) and batch["y"].shape == (k, 2, 1)
    assert torch.equal(batch["y"][:, 1], ds[1]["y"])


def test_split_origins_keep_targets_inside_their_part():
    n, k = 100, 4
    train_end, val_end = chronological_split(n, val=0.2, test=0.1)
    assert (train_end, val_end) == (70, 90)
    tr = window_origins(0, train_end, input_len=8, horizon=k)
    va = window_origins(train_end, val_end, input_len=8, horizon=k)
    assert tr.max() + k <= train_end  # no training target reaches the validation rows
    assert va.min() == train_end and va.max() + k == val_end
    with pytest.raises(ValueError, match="must leave training rows"):
        chronological_split(10, val=0.5, test=0.5)


def test_dataset_rejects_origin_without_full_window():
    z = np.zeros((10, 1))
    with pytest.raises(ValueError, match=r"origins must lie in \[3, 8\]"):
        WindowDataset(z, z[:, :0], z[:, :0], [2], input_len=3, horizon=2)


def test_expanding_folds_boundaries():
    folds = rolling_origin_folds(20, start=10, horizon=3)
    assert [(f.train_start, f.train_stop, f.origin, f.test_stop) for f in folds] == [
        (0, 10, 10, 13),
        (0, 13, 13, 16),
        (0, 16, 16, 19),
    ]


def test_sliding_folds_with_stride_one():
    folds = rolling_origin_folds(12, start=8, horizon=2, stride=1, window="sliding", train_size=5)
    assert [(f.train_start, f.train_stop, f.origin) for f in folds] == [
        (3, 8, 8),
        (4, 9, 9),
        (5, 10, 10),
    ]
    assert all(f.train_stop == f.origin and f.test_stop <= 12 for f in folds)
    with pytest.raises(ValueError, match="`window` must be"):
        rolling_origin_folds(12, start=8, horizon=2, window="growing")
