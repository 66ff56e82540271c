"""Choosing the next token from logits ``(B, V)``: greedy, temperature, top-k, top-p.

Filters return new logits with the removed tokens set to ``-inf``; :func:`sample` combines
them. Randomness comes only from the ``generator`` passed in.
"""

from __future__ import annotations

import torch

__all__ = ["apply_temperature", "greedy", "sample", "top_k_filter", "top_p_filter"]


def _check_logits(logits: torch.Tensor) -> None:
    if logits.dim() != 2:
        raise ValueError(f"`logits` must be (B, V), got shape {tuple(logits.shape)}")


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """The most likely token of each row: ``(B, V) -> (B,)`` (lowest id on ties)."""
    _check_logits(logits)
    return logits.argmax(dim=-1)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``; ``temperature`` must be > 0 (0 means greedy in
    :func:`sample`)."""
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0 here, got {temperature}")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep exactly the ``k`` largest logits of each row (``(B, V)``), others ``-inf``."""
    _check_logits(logits)
    if k < 1:
        raise ValueError(f"`top_k` must be >= 1, got {k}")
    if k >= logits.shape[-1]:
        return logits
    keep = logits.topk(k, dim=-1).indices  # (B, k)
    out = torch.full_like(logits, float("-inf"))
    return out.scatter(-1, keep, logits.gather(-1, keep))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability sums
    to at least ``p`` (always at least the most likely token); others ``-inf``."""
    _check_logits(logits)
    if not 0.0 < p <= 1.0:
        raise ValueError(f"`top_p` must be in (0, 1], got {p}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability mass of the better tokens
    drop_sorted = before >= p  # already reached p without this token
    drop_sorted[:, 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from ``logits`` ``(B, V)`` -> ``(B,)``.

    Temperature first, then top-k, then top-p (as Hugging Face orders them). ``temperature
    == 0`` is greedy decoding (no randomness).
    """
    _check_logits(logits)
    if temperature < 0:
        raise ValueError(f"`temperature` must be >= 0, got {temperature}")
    if temperature == 0:
        return greedy(logits)
    logits = apply_temperature(logits.float(), temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B, 1) -> (B,)
