"""Sampling the next token of many streams at once, each with its OWN generator.

:func:`sample_rows` draws one token per row of ``logits (B, V)``, where every row has its
own temperature / top-k / top-p and its own ``torch.Generator``, and gives exactly the
token :func:`rnnkit.decoding.sample` gives for that row alone with that generator: a
stream's text does not depend on which other streams share its batch.

Why it is exact: for one draw, ``torch.multinomial(probs, 1, generator=g)`` is the
exponential race (the Gumbel-max trick with ``exp`` applied),

    q ~ Exp(1) per token (V draws from g),    token = argmax_v probs[v] / q[v],

so here each row draws its ``q`` from its own generator (``V`` draws, as ``multinomial``
would), and the softmax, the division and the argmax run once for all rows that share
their settings. ``tests/serve/test_sampling.py`` checks the identity token for token, so
a torch release that changed ``multinomial`` would be caught there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding import apply_temperature, top_k_filter, top_p_filter

__all__ = ["RowSampling", "sample_rows"]


class RowSampling(NamedTuple):
    """One row's sampling settings (``temperature == 0`` is greedy)."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None


def _groups(settings: Sequence[RowSampling]) -> dict[RowSampling, list[int]]:
    """Row indices per distinct setting, in first-seen order."""
    groups: dict[RowSampling, list[int]] = {}
    for b, s in enumerate(settings):
        groups.setdefault(s, []).append(b)
    return groups


def _probs(logits: Tensor, s: RowSampling) -> Tensor:
    """``(G, V)`` logits -> probabilities after temperature, top-k, top-p (as ``sample``)."""
    logits = apply_temperature(logits.float(), s.temperature)
    if s.top_k is not None:
        logits = top_k_filter(logits, s.top_k)
    if s.top_p is not None:
        logits = top_p_filter(logits, s.top_p)
    return logits.softmax(dim=-1)  # (G, V)


def sample_rows(
    logits: Tensor,
    settings: Sequence[RowSampling],
    generators: Sequence[torch.Generator | None],
    noise: Tensor | None = None,
) -> Tensor:
    """One token per row: ``logits (B, V) -> (B,)`` int64.

    Args:
        logits: the step's scores, one row per stream.
        settings: ``B`` rows' :class:`RowSampling`; rows with equal settings are sampled
            in one vectorised call.
        generators: ``B`` generators (``None``: torch's default one), each advanced by
            ``V`` draws when its row samples (greedy rows draw nothing), as
            :func:`rnnkit.decoding.sample` advances it.
        noise: an optional float32 buffer of at least ``(B, V)`` to draw into (saves an
            allocation per step).
    """
    if logits.dim() != 2:
        raise ValueError(f"`logits` must be (B, V), got shape {tuple(logits.shape)}")
    batch, vocab = logits.shape
    if len(settings) != batch or len(generators) != batch:
        raise ValueError(
            f"`settings` and `generators` need one entry per row ({batch}), got "
            f"{len(settings)} and {len(generators)}"
        )
    if noise is None or noise.shape[0] < batch or noise.shape[1] != vocab:
        noise = torch.empty(batch, vocab, dtype=torch.float32)
    out = torch.empty(batch, dtype=torch.long)
    groups = _groups(settings)
    for s, rows in groups.items():
        whole = len(groups) == 1  # the common case: every row alike, no gathering
        part = logits if whole else logits[rows]  # (G, V)
        if s.temperature == 0:
            tokens = part.argmax(dim=-1)  # greedy, as ``sample``: no draws
        else:
            probs = _probs(part, s)  # (G, V)
            q = noise[:batch] if whole else noise[: len(rows)]
            for i, b in enumerate(rows):
                q[i].exponential_(1.0, generator=generators[b])  # row b's own V draws
            tokens = (probs / q).argmax(dim=-1)  # (G,)
        if whole:
            return tokens
        out[rows] = tokens
    return out
