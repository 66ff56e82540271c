"""Synthetic tasks that tell recurrent cells apart, generated on the fly from a generator.

Each task draws a :class:`SyntheticBatch`: ``inputs`` and ``targets`` (``IGNORE`` where a
step has no answer), time-major like the rest of rnnkit. Accuracy is exact: the share of
answer steps whose prediction equals the target (:func:`token_accuracy`), or, for the adding
problem, whose absolute error is below :data:`ADDING_TOLERANCE`.

- :func:`mqar` — multi-query associative recall (Arora et al. 2023, "Zoology"): key-value
  pairs, then some of the keys again; at each repeated key the answer is its value.
- :func:`selective_copy` — selective copying (Gu & Dao 2023, "Mamba"): a few data tokens
  scattered among blanks; after them, one marker per token, at which the data tokens are
  to be repeated in order.
- :func:`parity` — state tracking (Delétang et al. 2023; the xLSTM paper's parity task):
  bits, and at every step the parity of the bits so far.
- :func:`adding` — the adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015):
  values in [0, 1) with two marked, one in each half; at the last step, their sum.

Shapes: T time, B batch. Token ids are int64 with 0 the blank/padding token.

>>> g = torch.Generator().manual_seed(0)
>>> batch = mqar(2, num_pairs=3, num_queries=2, generator=g)
>>> batch.inputs.shape, batch.targets.shape  # T = 2 * 3 + 2
(torch.Size([8, 2]), torch.Size([8, 2]))
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ADDING_TOLERANCE",
    "IGNORE",
    "SyntheticBatch",
    "adding",
    "adding_accuracy",
    "mqar",
    "parity",
    "selective_copy",
    "token_accuracy",
]

IGNORE = -100
"""Target at steps without an answer (``torch.nn.functional.cross_entropy``'s default)."""

ADDING_TOLERANCE = 0.04
"""The adding problem counts an answer right when its absolute error is below this
(Hochreiter & Schmidhuber 1997)."""


class SyntheticBatch(NamedTuple):
    """One batch of a synthetic task."""

    inputs: Tensor
    """``(T, B)`` int64 token ids, or ``(T, B, 2)`` float for the adding problem."""
    targets: Tensor
    """``(T, B)`` int64 class ids (``IGNORE`` where no answer), or ``(B,)`` float (adding)."""


def _positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1, got {value!r}")


def _perm_rows(batch: int, n: int, k: int, generator: torch.Generator | None) -> Tensor:
    """``(batch, k)``: per row, ``k`` distinct values of ``range(n)`` in random order."""
    return torch.rand(batch, n, generator=generator).argsort(dim=1)[:, :k]


def mqar(
    batch: int,
    *,
    num_pairs: int = 8,
    num_queries: int | None = None,
    num_keys: int = 16,
    num_values: int = 16,
    generator: torch.Generator | None = None,
) -> SyntheticBatch:
    """Multi-query associative recall: ``k_1 v_1 ... k_N v_N q_1 ... q_Q``.

    Keys are ids ``1 .. num_keys`` (distinct within a row), values ``num_keys + 1 ..
    num_keys + num_values`` (drawn with replacement); the queries are ``Q`` of the row's
    keys, distinct, in random order. The target at query ``q_j`` is the value paired with it;
    every other step is ``IGNORE``. The vocabulary is ``1 + num_keys + num_values``.

    Returns:
        :class:`SyntheticBatch` with ``T = 2 N + Q`` (``Q`` defaults to ``N``).
    """
    queries = num_pairs if num_queries is None else num_queries
    _positive(batch=batch, num_pairs=num_pairs, num_queries=queries)
    _positive(num_keys=num_keys, num_values=num_values)
    if num_pairs > num_keys or queries > num_pairs:
        raise ValueError(
            f"need num_queries <= num_pairs <= num_keys, got num_queries={queries}, "
            f"num_pairs={num_pairs}, num_keys={num_keys}"
        )
    keys = _perm_rows(batch, num_keys, num_pairs, generator) + 1  # (B, N)
    values = torch.randint(num_values, (batch, num_pairs), generator=generator) + 1 + num_keys
    asked = _perm_rows(batch, num_pairs, queries, generator)  # (B, Q): which pairs are asked
    pairs = torch.stack([keys, values], dim=2).flatten(1)  # (B, 2N): k v k v ...
    inputs = torch.cat([pairs, keys.gather(1, asked)], dim=1)  # (B, T)
    targets = torch.full_like(inputs, IGNORE)
    targets[:, 2 * num_pairs :] = values.gather(1, asked)
    return SyntheticBatch(inputs.T.contiguous(), targets.T.contiguous())


def selective_copy(
    batch: int,
    *,
    length: int = 64,
    num_tokens: int = 8,
    vocab: int = 8,
    generator: torch.Generator | None = None,
) -> SyntheticBatch:
    """Selective copying: ``length`` steps of blanks (0) with ``num_tokens`` data tokens
    (ids ``2 .. vocab + 1``) at random positions, then ``num_tokens`` markers (id 1).

    The target at the j-th marker is the j-th data token; every other step is ``IGNORE``.
    The vocabulary is ``vocab + 2``.

    Returns:
        :class:`SyntheticBatch` with ``T = length + num_tokens``.
    """
    _positive(batch=batch, length=length, num_tokens=num_tokens, vocab=vocab)
    if num_tokens > length:
        raise ValueError(f"`num_tokens` must be <= `length`={length}, got {num_tokens}")
    where = _perm_rows(batch, length, num_tokens, generator).sort(dim=1).values  # (B, N)
    data = torch.randint(vocab, (batch, num_tokens), generator=generator) + 2  # (B, N)
    inputs = torch.zeros(batch, length + num_tokens, dtype=torch.long)
    inputs.scatter_(1, where, data)
    inputs[:, length:] = 1
    targets = torch.full_like(inputs, IGNORE)
    targets[:, length:] = data
    return SyntheticBatch(inputs.T.contiguous(), targets.T.contiguous())


def parity(
    batch: int, *, length: int = 32, generator: torch.Generator | None = None
) -> SyntheticBatch:
    """Parity: ``length`` bits (ids 0, 1); the target at step t is ``(x_1 + ... + x_t) mod 2``.

    Every step has an answer (dense training signal); the task is judged at the last step,
    the parity of the whole sequence (``SyntheticBatch.targets[-1]``).
    """
    _positive(batch=batch, length=length)
    bits = torch.randint(2, (length, batch), generator=generator)  # (T, B)
    return SyntheticBatch(bits, bits.cumsum(0) % 2)


def adding(
    batch: int, *, length: int = 64, generator: torch.Generator | None = None
) -> SyntheticBatch:
    """The adding problem: ``inputs[..., 0]`` uniform in [0, 1), ``inputs[..., 1]`` 1 at two
    steps, one in each half (Le et al. 2015's version); the target is the sum of the two
    marked values (in [0, 2)).

    Returns:
        :class:`SyntheticBatch` with ``inputs (T, B, 2)`` float and ``targets (B,)`` float.
    """
    _positive(batch=batch)
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(f"`length` must be an int >= 2, got {length!r}")
    half = length // 2
    values = torch.rand(length, batch, generator=generator)  # (T, B)
    first = torch.randint(half, (batch,), generator=generator)
    second = torch.randint(length - half, (batch,), generator=generator) + half
    marks = torch.zeros(length, batch)
    rows = torch.arange(batch)
    marks[first, rows] = 1.0
    marks[second, rows] = 1.0
    target = values[first, rows] + values[second, rows]  # (B,)
    return SyntheticBatch(torch.stack([values, marks], dim=-1), target)


def token_accuracy(logits: Tensor, targets: Tensor) -> float:
    """Share of answer steps (``targets != IGNORE``) where ``logits (T, B, V)``'s argmax is
    the target ``(T, B)``; NaN if there is none."""
    answer = targets != IGNORE
    right = (logits.argmax(-1) == targets) & answer
    return float(right.sum()) / float(answer.sum()) if answer.any() else float("nan")


def adding_accuracy(prediction: Tensor, targets: Tensor) -> float:
    """Share of rows with ``|prediction - target| <`` :data:`ADDING_TOLERANCE`; ``(B,)`` each."""
    return float(((prediction - targets).abs() < ADDING_TOLERANCE).float().mean())
