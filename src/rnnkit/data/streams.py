"""A corpus as B parallel token streams, read in BPTT windows (language modelling).

:func:`batchify` cuts a 1-D sequence of token ids into ``B`` contiguous streams, one per
column (PyTorch's word_language_model): with ``N`` tokens each stream has ``N // B`` tokens
and the remainder is dropped. :class:`CorpusStream` then reads all streams together, window
after window, time-major:

    x = data[i : i + T]          # (T, B)
    y = data[i + 1 : i + 1 + T]  # (T, B), the next token of each position

Windows follow each other without gaps, so window ``k + 1`` of column ``b`` continues window
``k`` of column ``b`` exactly: the trainer carries (and detaches) the recurrent state from one
window to the next (truncated BPTT). The last window of an epoch may be shorter.

Window lengths are either fixed (``bptt``) or AWD-LSTM's random lengths (Merity et al. 2017):
the base is ``bptt`` with probability ``p_base`` (0.95) and ``bptt / 2`` otherwise; the length
is ``max(min_len, int(N(base, std)))`` with ``std = 5``, ``min_len = 5``, capped at
``bptt + max_delta``. The lengths are a pure function of ``(seed, epoch)``: call
:meth:`CorpusStream.set_epoch` at the start of each epoch (the trainer does), and a resumed
run sees exactly the same windows. AWD-LSTM also scales the learning rate by ``T / bptt``
per window; that is the trainer's business (``x.shape[0]`` is ``T``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["CorpusStream", "batchify"]

logger = logging.getLogger(__name__)


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Split 1-D ``ids`` ``(N,)`` into ``batch_size`` contiguous streams ``(N // B, B)``.

    Column ``b`` holds tokens ``b * (N // B) .. (b + 1) * (N // B) - 1``; the last
    ``N % B`` tokens are dropped.
    """
    if ids.dim() != 1:
        raise ValueError(f"`ids` must be 1-D (N,), got shape {tuple(ids.shape)}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
    n = ids.numel() // batch_size
    if n < 2:
        raise ValueError(
            f"`ids` has {ids.numel()} tokens, too few for {batch_size} streams of >= 2 tokens"
        )
    # (B * n,) -> (B, n) -> (n, B): column b is the b-th contiguous chunk
    return ids[: n * batch_size].view(batch_size, n).t().contiguous()


class CorpusStream:
    """BPTT windows ``(x, y)``, each ``(T, B)``, over ``B`` parallel streams of a corpus.

    Args:
        ids: the corpus as 1-D token ids ``(N,)`` (or already batchified ``(N // B, B)``;
            then ``batch_size`` must match its columns).
        batch_size: ``B``, the number of parallel streams.
        bptt: the (base) window length ``T``.
        variable_length: AWD-LSTM's random window lengths (see the module docstring).
        seed: seeds the random lengths together with the epoch (:meth:`set_epoch`).
        p_base, std, min_len, max_delta: the random-length recipe (0.95, 5, 5, 40).
        device: where the windows live (the whole ``(N // B, B)`` table moves once).

    Iterating yields ``(x, y)`` views of shape ``(T, B)``; ``len()`` is the number of
    windows of the current epoch. Consecutive windows are contiguous in every column, so a
    recurrent state carried across windows sees one unbroken text per column.

    >>> stream = CorpusStream(torch.arange(20), batch_size=2, bptt=4)
    >>> [tuple(x.shape) for x, _ in stream]
    [(4, 2), (4, 2), (1, 2)]
    """

    def __init__(
        self,
        ids: torch.Tensor,
        batch_size: int,
        bptt: int,
        *,
        variable_length: bool = False,
        seed: int = 0,
        p_base: float = 0.95,
        std: float = 5.0,
        min_len: int = 5,
        max_delta: int = 40,
        device: torch.device | str | None = None,
    ) -> None:
        if bptt < 1:
            raise ValueError(f"`bptt` must be >= 1, got {bptt}")
        if not 0.0 <= p_base <= 1.0:
            raise ValueError(f"`p_base` must be in [0, 1], got {p_base}")
        if min_len < 1:
            raise ValueError(f"`min_len` must be >= 1, got {min_len}")
        if ids.dim() == 2:
            if ids.shape[1] != batch_size:
                raise ValueError(
                    f"batchified `ids` has {ids.shape[1]} columns, `batch_size` is {batch_size}"
                )
            data = ids
        else:
            data = batchify(ids, batch_size)  # (N // B, B)
        if data.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
            raise ValueError(f"`ids` must be integer token ids, got dtype {data.dtype}")
        self.data = data.to(device) if device is not None else data  # (N // B, B)
        self.batch_size = batch_size
        self.bptt = bptt
        self.variable_length = variable_length
        self.seed = seed
        self.p_base = p_base
        self.std = std
        self.min_len = min_len
        self.max_delta = max_delta
        self.epoch = 0

    # ------------------------------------------------------------------ epochs
    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose window lengths the next iteration uses."""
        if epoch < 0:
            raise ValueError(f"`epoch` must be >= 0, got {epoch}")
        self.epoch = epoch

    def window_lengths(self, epoch: int | None = None) -> list[int]:
        """The window lengths ``T`` of an epoch (default: the current one), in order."""
        epoch = self.epoch if epoch is None else epoch
        total = self.data.shape[0] - 1  # positions that have a next token
        if not self.variable_length:
            full, rest = divmod(total, self.bptt)
            return [self.bptt] * full + ([rest] if rest else [])
        # A generator of its own, seeded by (seed, epoch) only: resumable, no global state.
        state = np.random.SeedSequence([self.seed, epoch]).generate_state(2)
        rng = np.random.Generator(np.random.PCG64(state))
        lengths, pos = [], 0
        while pos < total:
            base = self.bptt if rng.random() < self.p_base else self.bptt / 2.0
            length = max(self.min_len, int(rng.normal(base, self.std)))
            length = min(length, self.bptt + self.max_delta, total - pos)
            lengths.append(length)
            pos += length
        return lengths

    def __len__(self) -> int:
        return len(self.window_lengths())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        pos = 0
        for length in self.window_lengths():
            x = self.data[pos : pos + length]  # (T, B)
            y = self.data[pos + 1 : pos + 1 + length]  # (T, B)
            yield x, y
            pos += length

    # ------------------------------------------------------------------ DDP
    def shard(self, rank: int, world: int) -> CorpusStream:
        """This rank's part for data-parallel training: a contiguous block of ``B / world``
        streams. Every rank gets the same window lengths (same seed and epoch), so all ranks
        take the same number of steps."""
        if world < 1:
            raise ValueError(f"`world` must be >= 1, got {world}")
        if not 0 <= rank < world:
            raise ValueError(f"`rank` must be in [0, {world}), got {rank}")
        if self.batch_size % world:
            raise ValueError(
                f"`batch_size` {self.batch_size} must be divisible by `world` {world} to shard"
            )
        per = self.batch_size // world
        part = self.data[:, rank * per : (rank + 1) * per]  # (N // B, B / world)
        out = CorpusStream(
            part,
            per,
            self.bptt,
            variable_length=self.variable_length,
            seed=self.seed,
            p_base=self.p_base,
            std=self.std,
            min_len=self.min_len,
            max_delta=self.max_delta,
        )
        out.epoch = self.epoch
        return out

    def __repr__(self) -> str:
        kind = "variable" if self.variable_length else "fixed"
        return (
            f"CorpusStream(tokens_per_stream={self.data.shape[0]}, batch_size={self.batch_size}, "
            f"bptt={self.bptt} ({kind}), epoch={self.epoch})"
        )
