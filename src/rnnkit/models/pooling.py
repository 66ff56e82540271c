"""Masked pooling of RNN outputs over time: last valid state, mean, max, attention.

Every mode reads only the valid steps of each row (``t < lengths[b]``): whatever sits in
the padding, and however long the padded batch is, the result is the same.

Shapes: ``output: (T, B, F)`` with ``F = D * H`` (the RNN's output, time-major),
``lengths: (B,)``; the pooled result is ``(B, F)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["POOLINGS", "AttentionPool", "Pooling", "check_series", "length_mask"]

POOLINGS = ("last", "mean", "max", "attention")


def length_mask(lengths: Tensor, total_length: int) -> Tensor:
    """Boolean mask ``(T, B)``, True where ``t < lengths[b]``."""
    steps = torch.arange(total_length, device=lengths.device)  # (T,)
    return steps[:, None] < lengths.to(steps.device)[None, :]  # (T, B)


def check_series(x: Tensor, lengths: Tensor | None, input_size: int) -> Tensor:
    """Check a padded series batch ``x`` ``(T, B, input_size)``; its ``lengths`` ``(B,)`` on
    ``x``'s device (None: every row all ``T`` steps)."""
    if x.dim() != 3 or x.shape[-1] != input_size:
        raise ValueError(
            f"`x` must be (T, B, {input_size}) features (`input_size`), got shape {tuple(x.shape)}"
        )
    T, B = x.shape[:2]
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long)
    if lengths.shape != (B,):
        raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
    return lengths.to(x.device)


class AttentionPool(nn.Module):
    """Additive self-attention pooling: ``a = softmax_t(v^T tanh(W o_t + b))``, ``sum_t a_t o_t``.

    Padded steps get weight exactly 0 (their scores are masked before the softmax).

    Args:
        features: F, the size of each output vector.
        attention_size: size of the hidden scoring layer (default F).
    """

    def __init__(self, features: int, attention_size: int | None = None) -> None:
        super().__init__()
        size = attention_size or features
        self.proj = nn.Linear(features, size)
        self.score = nn.Linear(size, 1, bias=False)

    def forward(self, output: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """output: (T, B, F), mask: (T, B) -> pooled (B, F), weights (T, B)."""
        scores = self.score(torch.tanh(self.proj(output))).squeeze(-1)  # (T, B)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=0)  # (T, B)
        pooled = (weights.unsqueeze(-1) * output).sum(dim=0)  # (B, F)
        return pooled, weights


class Pooling(nn.Module):
    """Reduce ``(T, B, F)`` RNN outputs to ``(B, F)`` using only each row's valid steps.

    Modes:
        ``last``: the state after each row's last valid step. With two directions
        (``F = 2H``) the forward half is read at ``t = lengths[b] - 1`` and the backward half
        at ``t = 0`` (where the reverse pass ends), i.e. the concatenated final states.
        ``mean``: mean over valid steps. ``max``: elementwise max over valid steps.
        ``attention``: :class:`AttentionPool`.

    Args:
        mode: one of ``last``, ``mean``, ``max``, ``attention``.
        features: F = D * H.
        num_directions: D, 1 or 2 (only ``last`` needs it).
    """

    def __init__(self, mode: str, features: int, num_directions: int = 1) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {', '.join(POOLINGS)}, got {mode!r}")
        if num_directions not in (1, 2):
            raise ValueError(f"`num_directions` must be 1 or 2, got {num_directions}")
        if features % num_directions:
            raise ValueError(f"`features` ({features}) must divide by D={num_directions}")
        self.mode = mode
        self.num_directions = num_directions
        self.attention = AttentionPool(features) if mode == "attention" else None
        self.last_weights: Tensor | None = None  # (T, B), set by attention pooling

    def forward(self, output: Tensor, lengths: Tensor) -> Tensor:
        """output: (T, B, F), lengths: (B,) -> (B, F)."""
        if output.dim() != 3:
            raise ValueError(f"`output` must be (T, B, F), got shape {tuple(output.shape)}")
        T, B, F = output.shape
        if lengths.shape != (B,):
            raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
        if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
            raise ValueError(f"`lengths` must lie in [1, {T}], got {lengths.tolist()}")
        mask = length_mask(lengths, T)  # (T, B)
        if self.mode == "last":
            return self._last(output, lengths)
        if self.mode == "mean":
            summed = output.masked_fill(~mask.unsqueeze(-1), 0.0).sum(dim=0)  # (B, F)
            return summed / lengths.to(output.device, output.dtype).unsqueeze(-1)
        if self.mode == "max":
            return output.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=0)
        assert self.attention is not None
        pooled, self.last_weights = self.attention(output, mask)
        return pooled

    def _last(self, output: Tensor, lengths: Tensor) -> Tensor:
        T, B, F = output.shape
        idx = (lengths.to(output.device) - 1).view(1, B, 1).expand(1, B, F)  # (1, B, F)
        last = output.gather(0, idx).squeeze(0)  # (B, F)
        if self.num_directions == 1:
            return last
        H = F // 2
        # forward half ends at the last valid step, backward half at t = 0
        return torch.cat([last[:, :H], output[0, :, H:]], dim=-1)  # (B, 2H)
