"""Regularisers of ``rnnkit.nn.RNN`` / ``LSTM`` / ``GRU`` beyond torch.nn, and their masks.

Constructor keyword arguments of the layers (all off by default: the layer, its state dict and
its forward are then exactly torch.nn's). Every mask is drawn once per forward call, from the
forward's ``generator=`` when one is given (else the global RNG), only in train mode; in eval
mode every option is off, except zoneout, which uses its expectation.

==========================  ===============================================================
argument                    meaning (paper)
==========================  ===============================================================
``input_dropout=p``         locked dropout on the layer's input: one mask ``(B, I)`` per
                            sequence, the same at every step (Gal & Ghahramani 2016, "A
                            Theoretically Grounded Application of Dropout in RNNs").
``dropout=p``,              between layers: ``"standard"`` is torch.nn's (a fresh mask per
``dropout_kind=``           step and unit); ``"locked"`` is one mask ``(B, D·H_out)`` per
``"standard" | "locked"``   sequence (Gal & Ghahramani 2016; AWD-LSTM's ``dropouth``).
``output_dropout=p``        locked dropout on the last layer's output, mask ``(B, D·H_out)``.
``recurrent_dropout=p``     LSTM/GRU: dropout on the candidate update ``g`` / ``n`` with one
                            mask ``(B, H)`` per sequence (Semeniuta et al. 2016, "Recurrent
                            Dropout without Memory Loss"). Scan path.
``zoneout_h=p``,            keep each unit's previous value with probability p, per step
``zoneout_c=p``             (Krueger et al. 2017, "Zoneout"); eval: ``p·prev + (1-p)·new``.
                            ``zoneout_c`` is for the LSTM's cell state. Scan path.
``weight_drop=p``           DropConnect on ``W_hh`` (Merity et al. 2018, "Regularizing and
                            Optimizing LSTM Language Models"): one mask ``(G·H, H_out)`` per
                            forward call; the dropped matrix is computed in forward and passed
                            to the kernel, ``weight_hh_l0`` stays the real parameter.
``layer_norm=True``         layer normalisation (Ba et al. 2016); see
                            :mod:`rnnkit.functional.cells` for exactly what is normalised.
                            Parameters ``ln_ih_weight_l{k}``, ``ln_hh_weight_l{k}`` ``(G·H,)``
                            (ones), LSTM ``ln_c_weight_l{k}`` (ones), ``ln_c_bias_l{k}``
                            ``(H,)`` (zeros), ``_reverse`` for the backward direction. Scan.
==========================  ===============================================================

Weight drop and the locked dropouts keep the fused kernel (masks are applied outside it,
layer by layer when between-layer masks are locked); layer norm, recurrent dropout and
zoneout (train mode, and zoneout in eval) run on the scan. All dropout masks are scaled by
``1 / (1 - p)`` (inverted dropout).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DROPOUT_KINDS",
    "LockedDropout",
    "Masks",
    "embedding_dropout",
    "keep_mask",
    "lock",
    "packed_rows",
    "zone_mask",
]

DROPOUT_KINDS = ("standard", "locked")


def keep_mask(
    shape: tuple[int, ...], p: float, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Inverted-dropout mask: 0 with probability p, else ``1 / (1 - p)`` (p in [0, 1))."""
    mask = torch.empty(shape, dtype=like.dtype, device=like.device)
    return mask.bernoulli_(1.0 - p, generator=generator).div_(1.0 - p)


def zone_mask(
    shape: tuple[int, ...], p: float, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Zoneout mask: 1 (keep the previous value) with probability p, else 0."""
    mask = torch.empty(shape, dtype=like.dtype, device=like.device)
    return mask.bernoulli_(p, generator=generator)


class Masks(NamedTuple):
    """One forward call's masks (None: off). Batch rows in the caller's order.

    ``k`` indexes layer·D + direction as the weights do.
    """

    w_hh: list[Tensor] | None = None
    """Per k, ``(G·H, H_out)`` scaled keep mask on ``W_hh`` (weight drop)."""
    input: Tensor | None = None
    """``(B, I)`` locked mask on the input."""
    between: list[Tensor] | None = None
    """``L - 1`` locked masks ``(B, D·H_out)`` between layers."""
    output: Tensor | None = None
    """``(B, D·H_out)`` locked mask on the output."""
    recurrent: list[Tensor] | None = None
    """Per k, ``(B, H)`` scaled keep mask on the candidate (recurrent dropout)."""
    zoneout_h: list[Tensor] | None = None
    """Per k, ``(T, B, H_out)`` zoneout masks of h (1 = keep previous)."""
    zoneout_c: list[Tensor] | None = None
    """Per k, ``(T, B, H)`` zoneout masks of c."""

    def rows(self, index: Tensor) -> Masks:
        """The masks with their batch rows reordered by ``index (B,)`` (for packed input)."""

        def pick(m: Tensor | None, dim: int = 0) -> Tensor | None:
            return None if m is None else m.index_select(dim, index)

        def each(ms: list[Tensor] | None, dim: int = 0) -> list[Tensor] | None:
            return None if ms is None else [m.index_select(dim, index) for m in ms]

        return Masks(
            self.w_hh,
            pick(self.input),
            each(self.between),
            pick(self.output),
            each(self.recurrent),
            each(self.zoneout_h, 1),
            each(self.zoneout_c, 1),
        )


def lock(x: Tensor, mask: Tensor | None, *, batch_dim: int) -> Tensor:
    """``x (T, B, F)`` or ``(B, T, F)`` times a per-sequence ``mask (B, F)`` at every step."""
    if mask is None:
        return x
    return x * mask.unsqueeze(1 - batch_dim)  # (1, B, F) or (B, 1, F)


def packed_rows(batch_sizes: Tensor) -> Tensor:
    """The batch row of each row of a PackedSequence's data ``(N,)``, sorted order."""
    rows = torch.arange(int(batch_sizes[0]))  # (B,)
    return (rows.unsqueeze(0) < batch_sizes.unsqueeze(1)).nonzero()[:, 1]  # (T, B) -> (N,)


class LockedDropout(nn.Module):
    """Locked (variational) dropout: one mask per sequence, shared by every step (Gal &
    Ghahramani 2016). ``x (T, B, F)`` (or ``(B, T, F)`` with ``batch_first``); identity in
    eval mode or with ``p = 0``."""

    def __init__(self, p: float = 0.5, *, batch_first: bool = False) -> None:
        super().__init__()
        from rnnkit.nn._checks import check_probability

        self.p = check_probability("p", p)
        self.batch_first = batch_first

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        batch_dim = 0 if self.batch_first else 1
        shape = (x.size(batch_dim), x.size(-1))
        return lock(x, keep_mask(shape, self.p, x, generator), batch_dim=batch_dim)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def embedding_dropout(
    x: Tensor,
    weight: Tensor,
    p: float,
    *,
    training: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Embed token ids ``x`` with whole words dropped (Gal & Ghahramani 2016; AWD-LSTM's
    ``dropoute``): rows of ``weight (V, E)`` are zeroed with probability p (one mask per
    call, so a word dropped is dropped at every position), the rest scaled by 1/(1-p)."""
    if training and p > 0.0:
        weight = weight * keep_mask((weight.size(0), 1), p, weight, generator)  # (V, E)
    return F.embedding(x, weight)
