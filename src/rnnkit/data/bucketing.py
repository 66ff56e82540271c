"""Length-bucketed batches of variable-length sequences, padded time-major.

Sorting sequences of similar length into the same batch keeps the padded grid small, and
the model then runs each batch packed (``PackedSequence``), so the padding that remains
costs no computation at all. :func:`padding_stats` reports how many padded steps a
batching has, so the saving can be stated in numbers.

>>> import torch
>>> loader = BucketLoader([torch.ones(n, dtype=torch.long) for n in (3, 1, 2)],
...                       torch.tensor([0, 1, 0]), batch_size=2, shuffle=False)
>>> [tuple(b.x.shape) for b in loader]
[(2, 2), (3, 1)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Batch", "BucketBatchSampler", "BucketLoader", "collate", "padding_stats"]


class Batch(NamedTuple):
    """A padded, time-major batch.

    Attributes:
        x: ``(T, B)`` token ids or ``(T, B, I)`` features, zero after each row's end.
        lengths: ``(B,)`` valid steps per row (int64, on the CPU for packing).
        y: ``(B,)`` class ids, or None for unlabelled data.
        index: ``(B,)`` positions of the rows in the dataset (to restore input order).
    """

    x: Tensor
    lengths: Tensor
    y: Tensor | None
    index: Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with ``x`` and ``y`` on ``device`` (``lengths`` stays on the CPU)."""
        y = None if self.y is None else self.y.to(device)
        return Batch(self.x.to(device), self.lengths, y, self.index)


def collate(
    inputs: Sequence[Tensor], targets: Tensor | None, index: Sequence[int], pad_value: float = 0
) -> Batch:
    """Pad ``inputs[i]`` (each ``(T_i,)`` or ``(T_i, I)``) for ``i in index`` into a Batch."""
    seqs = [inputs[i] for i in index]
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)  # (B,)
    x = torch.nn.utils.rnn.pad_sequence(seqs, padding_value=pad_value)  # (T, B[, I])
    idx = torch.tensor(list(index), dtype=torch.long)
    y = None if targets is None else targets[idx]
    return Batch(x, lengths, y, idx)


class BucketBatchSampler:
    """Batches of indices whose sequences have similar lengths.

    Each epoch the indices are shuffled, cut into pools of ``batch_size * pool_batches``,
    each pool sorted by length and cut into batches, and the batches shuffled again (so
    batch lengths vary across an epoch while each batch is nearly uniform). Deterministic
    for a given ``seed`` and epoch (:meth:`set_epoch`).

    Args:
        lengths: length of every sequence, (N,).
        batch_size: sequences per batch.
        shuffle: shuffle as above; False gives batches in length order (for evaluation).
        bucket: sort by length within pools; False gives plain random batches (the padded
            baseline that bucketing is measured against).
        seed: seed of the shuffling.
        pool_batches: how many batches' worth of sequences are sorted together.
        drop_last: drop a final batch smaller than ``batch_size``.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket: bool = True,
        seed: int = 0,
        pool_batches: int = 50,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if pool_batches < 1:
            raise ValueError(f"`pool_batches` must be >= 1, got {pool_batches}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.shuffle, self.bucket, self.seed = shuffle, bucket, seed
        self.pool_batches, self.drop_last = pool_batches, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle :meth:`__iter__` gives."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=gen).tolist() if self.shuffle else list(range(n))
        if self.bucket:
            pool = self.batch_size * self.pool_batches if self.shuffle else max(n, 1)
            pools = [order[i : i + pool] for i in range(0, n, pool)]
            order = [i for p in pools for i in sorted(p, key=lambda j: self.lengths[j])]
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.bucket:
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[i] for i in perm]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class BucketLoader:
    """Re-iterable padded batches over in-memory sequences (what the trainer consumes).

    Args:
        inputs: N sequences, each ``(T_i,)`` token ids or ``(T_i, I)`` features.
        targets: ``(N,)`` class ids, or None.
        batch_size, shuffle, bucket, seed: as for :class:`BucketBatchSampler`.
        pad_value: value written after each row's end.
    """

    def __init__(
        self,
        inputs: Sequence[Tensor],
        targets: Tensor | None,
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket: bool = True,
        seed: int = 0,
        pad_value: float = 0,
    ) -> None:
        if targets is not None and len(targets) != len(inputs):
            raise ValueError(f"`targets` has {len(targets)} items, `inputs` has {len(inputs)}")
        empty = [i for i, s in enumerate(inputs) if s.shape[0] == 0]
        if empty:
            raise ValueError(f"sequences must have >= 1 step; empty at positions {empty[:5]}")
        self.inputs, self.targets, self.pad_value = list(inputs), targets, pad_value
        self.sampler = BucketBatchSampler(
            [s.shape[0] for s in inputs], batch_size, shuffle=shuffle, bucket=bucket, seed=seed
        )

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        for index in self.sampler:
            yield collate(self.inputs, self.targets, index, self.pad_value)

    def __len__(self) -> int:
        return len(self.sampler)

    def padding_stats(self) -> dict[str, float]:
        """:func:`padding_stats` of this epoch's batches."""
        return padding_stats(self.sampler.lengths, list(self.sampler))


def padding_stats(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> dict[str, float]:
    """Valid and padded steps of a batching.

    Returns:
        ``valid_steps`` (sum of lengths), ``grid_steps`` (sum over batches of
        ``max length * batch size``, what a padded RNN computes) and ``padded_fraction``
        (``1 - valid / grid``: the share of a padded run's steps that packing skips).
    """
    valid = sum(lengths[i] for b in batches for i in b)
    grid = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    return {
        "valid_steps": float(valid),
        "grid_steps": float(grid),
        "padded_fraction": 1.0 - valid / grid if grid else 0.0,
    }
