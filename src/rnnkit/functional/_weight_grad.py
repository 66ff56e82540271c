"""One-matmul gradient of ``W_hh``: the one weight-gradient mechanism of the scan layers.

Why: plain autograd through a scan computes ``dW_hh`` as T thin matmuls
``dgates_t^T h_{t-1}`` (inner size B), each accumulated into a ``(G·H, H)`` buffer. That is
memory-bound: at H=650, B=20 it made the LSTM scan 1.6x slower than the same scan with the
sum done as ONE ``(G·H, T·B) x (T·B, H)`` matmul, which is what fused kernels do.

How: every cell computes its hidden part as ``gh_t = carrier_t + h_{t-1} W_hh^T`` with
``W_hh`` detached, so the gradient reaching ``carrier_t`` IS ``dgh_t`` and
``dW_hh = Σ_t dgh_t^T h_{t-1}``. :class:`WeightGradTap`, an identity on the carrier
``(T, B, G·H)``, returns that sum as ``W_hh``'s gradient. The carrier is the projected input
``gx`` itself where ``gates = gx + h W^T`` (Elman and LSTM without layer norm); where
``h W_hh^T`` is transformed before it meets ``gx`` (the GRU's reset product, layer norm of
the hidden part) it is a separate per-step input ``gh_in`` (``b_hh`` broadcast, or zeros).
``h_{t-1}`` comes from the scan's own outputs (:func:`previous_outputs`), stored into the
tap's record after the scan ran, before any backward. Padded and skipped steps get zero
gradient, so their ``h_{t-1}`` is irrelevant. The tap is once-differentiable (no double
backward through ``W_hh``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["Record", "WeightGradTap", "previous_outputs"]


class Record:
    """Holds ``h_prev (T, B, H_out)``, set after the scan ran (a plain object, not a pytree
    container, so ``torch.func`` transforms pass it through as the same object)."""

    h_prev: Tensor | None = None


class WeightGradTap(torch.autograd.Function):
    """``gx`` unchanged; in backward also ``dW_hh = Σ_t dgx_t^T h_{t-1}`` (one matmul)."""

    @staticmethod
    def forward(gx: Tensor, w_hh: Tensor, record: Record) -> Tensor:
        return gx.view_as(gx)  # (T, B, G·H)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.record = inputs[2]  # its h_prev is set after the scan ran

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dgx: Tensor) -> tuple[Tensor, Tensor, None]:
        h_prev = ctx.record.h_prev  # (T, B, H_out)
        d = dgx.reshape(-1, dgx.size(-1))  # (T·B, G·H)
        dw = d.t().mm(h_prev.reshape(-1, h_prev.size(-1)))  # (G·H, H_out)
        return dgx, dw, None


def previous_outputs(out: Tensor, h0: Tensor, *, reverse: bool, lengths: Tensor | None) -> Tensor:
    """``h_{t-1}``, the hidden state each step started from, ``(T, B, H)``, from the scan.

    Args:
        out: the scan's outputs ``(T, B, H)`` (zero at padded steps); h0: ``(B, H)``.
        reverse, lengths: as given to the scan.

    Only the valid steps matter (elsewhere the gates' gradient is zero).
    """
    if not reverse:
        return torch.cat([h0.unsqueeze(0), out[:-1]])  # (T, B, H)
    shifted = torch.cat([out[1:], h0.unsqueeze(0)])  # (T, B, H): out_{t+1}, h0 at T-1
    if lengths is None:
        return shifted
    # a row's reverse run starts at its last valid step t = len - 1, from h0
    steps = torch.arange(out.size(0), device=out.device).unsqueeze(1)  # (T, 1)
    starts = (steps == lengths.to(out.device) - 1).unsqueeze(-1)  # (T, B, 1)
    return torch.where(starts, h0.unsqueeze(0), shifted)
