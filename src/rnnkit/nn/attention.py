"""Attention over encoder states: additive (Bahdanau), dot and general (Luong).

Every module scores a query against the source positions, masks padding, normalises with a
softmax and returns the context (the weighted sum of the values) *and* the weights, so a
caller can draw them.

Shapes: S source length, B batch, Q query size, K key size, A attention size.

- ``memory``: ``(S, B, K)`` encoder outputs (time-major, like the rest of rnnkit);
- ``mask``: ``(S, B)`` bool, ``True`` at valid (non-padding) positions;
- ``query``: ``(B, Q)`` one decoder step, or ``(T, B, Q)`` several at once.

Scores (``h`` the query, ``s`` a source state):

- additive: ``score(h, s) = v^T tanh(W_q h + W_k s)``   (Bahdanau et al., 2015)
- dot:      ``score(h, s) = h^T s``                       (Luong et al., 2015; needs ``Q == K``)
- general:  ``score(h, s) = h^T W s``                     (Luong et al., 2015)

The key projection does not depend on the query, so :meth:`Attention.prepare` computes it
once per source batch and decoding reuses it at every step.

>>> attn = AdditiveAttention(query_size=8, key_size=6, attn_size=5)
>>> memory, mask = torch.randn(7, 2, 6), torch.ones(7, 2, dtype=torch.bool)
>>> context, weights = attn(torch.randn(2, 8), memory, mask)
>>> context.shape, weights.shape
(torch.Size([2, 6]), torch.Size([2, 7]))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "ATTENTION_KINDS",
    "AdditiveAttention",
    "Attention",
    "DotAttention",
    "GeneralAttention",
    "make_attention",
]

ATTENTION_KINDS = ("additive", "dot", "general")


class Attention(nn.Module):
    """Base class: subclasses define :meth:`prepare` (query-free key transform) and :meth:`score`.

    Args:
        query_size: Q, features of a decoder query.
        key_size: K, features of an encoder output.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        self.query_size = query_size
        self.key_size = key_size

    def prepare(self, memory: Tensor) -> Tensor:
        """Query-independent transform of ``memory (S, B, K)``, batch-first: ``(B, S, ·)``."""
        return memory.transpose(0, 1)  # (B, S, K)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Raw scores ``(..., B, S)`` of ``query (..., B, Q)`` against ``keys`` from prepare."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, memory: Tensor, mask: Tensor | None = None, keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend ``query`` over ``memory``.

        Args:
            query: ``(B, Q)`` or ``(T, B, Q)``.
            memory: ``(S, B, K)`` encoder outputs (the values).
            mask: ``(S, B)`` bool, ``True`` at valid positions; ``None`` means all valid.
            keys: the result of :meth:`prepare` on ``memory`` (computed here when ``None``).

        Returns:
            ``context``: ``(B, K)`` or ``(T, B, K)``; ``weights``: ``(B, S)`` or ``(T, B, S)``,
            zero at padding, each row summing to 1.
        """
        S, B, K = memory.shape
        if K != self.key_size:
            raise ValueError(f"memory has {K} features, the attention expects {self.key_size}")
        if query.shape[-1] != self.query_size or query.shape[-2] != B:
            raise ValueError(
                f"query must be (..., {B}, {self.query_size}), got {tuple(query.shape)}"
            )
        if keys is None:
            keys = self.prepare(memory)
        scores = self.score(query, keys)  # (..., B, S)
        if mask is not None:
            if mask.shape != (S, B):
                raise ValueError(f"mask must be ({S}, {B}), got {tuple(mask.shape)}")
            valid = mask.transpose(0, 1)  # (B, S)
            # A finite floor rather than -inf: a fully padded row gives uniform weights, not NaN.
            scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)  # (..., B, S)
        if mask is not None:
            weights = weights * valid  # exact zeros at padding even for an all-padding row
        values = memory.transpose(0, 1)  # (B, S, K)
        # (..., B, 1, S) @ (B, S, K) -> (..., B, 1, K) -> (..., B, K)
        context = (weights.unsqueeze(-2) @ values).squeeze(-2)
        return context, weights

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"


class AdditiveAttention(Attention):
    """Bahdanau's additive attention: ``v^T tanh(W_q h + W_k s)``.

    Args:
        query_size: Q.
        key_size: K.
        attn_size: A, width of the hidden layer of the scorer (default ``query_size``).
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int | None = None) -> None:
        super().__init__(query_size, key_size)
        attn_size = query_size if attn_size is None else attn_size
        if attn_size <= 0:
            raise ValueError(f"`attn_size` must be > 0, got {attn_size}")
        self.attn_size = attn_size
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)
        self.key_proj = nn.Linear(key_size, attn_size, bias=True)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def prepare(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory.transpose(0, 1))  # (B, S, A)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        q = self.query_proj(query).unsqueeze(-2)  # (..., B, 1, A)
        return self.v(torch.tanh(q + keys)).squeeze(-1)  # (..., B, S, 1) -> (..., B, S)


class DotAttention(Attention):
    """Luong's dot attention: ``h^T s`` (query and key sizes must match).

    Args:
        query_size: Q.
        key_size: K, equal to Q.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__(query_size, key_size)
        if query_size != key_size:
            raise ValueError(
                f"dot attention needs `query_size` == `key_size`, got {query_size} and "
                f"{key_size}; use 'general' or 'additive' for different sizes"
            )

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        # (..., B, 1, Q) @ (B, Q, S) -> (..., B, 1, S) -> (..., B, S)
        return (query.unsqueeze(-2) @ keys.transpose(-1, -2)).squeeze(-2)


class GeneralAttention(DotAttention):
    """Luong's general attention: ``h^T W s``; ``W s`` is computed once per source batch.

    Args:
        query_size: Q.
        key_size: K.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        Attention.__init__(self, query_size, key_size)
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory.transpose(0, 1))  # (B, S, Q)


def make_attention(
    kind: str, query_size: int, key_size: int, attn_size: int | None = None
) -> Attention:
    """Build an attention module by name: ``"additive"``, ``"dot"`` or ``"general"``."""
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, attn_size)
    if kind == "dot":
        return DotAttention(query_size, key_size)
    if kind == "general":
        return GeneralAttention(query_size, key_size)
    raise ValueError(f"`kind` must be one of {ATTENTION_KINDS}, got {kind!r}")
