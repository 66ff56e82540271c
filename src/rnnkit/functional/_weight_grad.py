"""One-matmul gradient of ``W_hh`` for scans whose gates are ``gx_t + h_{t-1} W_hh^T``.

Why: plain autograd through a scan computes ``dW_hh`` as T thin matmuls
``dgates_t^T h_{t-1}`` (inner size B), each accumulated into a ``(G·H, H)`` buffer. That is
memory-bound: at H=650, B=20 it made the LSTM scan 1.6x slower than the same scan with the
sum done as ONE ``(G·H, T·B) x (T·B, H)`` matmul, which is what fused kernels do.

How: for the Elman and LSTM cells the gradient that reaches the projected input ``gx_t`` IS
the gradient of the gates, so ``dW_hh = Σ_t dgx_t^T h_{t-1}``. The scan runs with ``W_hh``
detached (so autograd computes only ``dh`` per step), and :class:`WeightGradTap`, an identity
on ``gx``, returns that sum as ``W_hh``'s gradient. ``h_{t-1}`` comes from the scan's own
outputs (:func:`previous_outputs`), stored into the tap's record after the scan ran, before
any backward. Padded and skipped steps get zero ``dgx_t``, so their ``h_{t-1}`` is irrelevant.

The GRU cell does not qualify (``W_hh h`` enters through the reset gate, not added to
``gx``), and the tap is once-differentiable (no double backward through ``W_hh``).

Cells where ``h W_hh^T`` is transformed before it meets ``gx`` (layer norm of the hidden
projection, the GRU) use the per-step variant: :func:`hidden_matmul` computes
``h_{t-1} W_hh^T`` with ``W_hh`` detached and, in backward, returns ``dh`` and records the pair
``(dgh_t, h_{t-1})``; :class:`CollectWeightGrad`, an identity on ``h_0``, runs after every
step's backward (each step's ``h`` descends from ``h_0``) and returns
``dW_hh = Σ_t dgh_t^T h_{t-1}`` as one ``(G·H, T·B) x (T·B, H)`` matmul.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    "CollectWeightGrad",
    "Record",
    "StepRecord",
    "WeightGradTap",
    "hidden_matmul",
    "previous_outputs",
]


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


class StepRecord:
    """The ``(dgh_t (B, G·H), h_{t-1} (B, H_out))`` pairs the steps' backward recorded."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Tensor, Tensor]] = []


class _HiddenMatmul(torch.autograd.Function):
    """``h W^T`` (W detached); backward gives ``dh`` and records ``(dgh, h)`` for ``dW``."""

    @staticmethod
    def forward(h: Tensor, w: Tensor, record: StepRecord) -> Tensor:
        return h.mm(w.t())  # (B, G·H)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        h, w, ctx.record = inputs
        ctx.save_for_backward(h, w)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dgh: Tensor) -> tuple[Tensor, None, None]:
        h, w = ctx.saved_tensors
        ctx.record.pairs.append((dgh, h))
        return dgh.mm(w), None, None  # (B, H_out)


def hidden_matmul(h: Tensor, *, w: Tensor, record: StepRecord) -> Tensor:
    """``h (B, H_out) @ w^T -> (B, G·H)`` with ``w`` detached; see the module docstring."""
    return _HiddenMatmul.apply(h, w, record)


class CollectWeightGrad(torch.autograd.Function):
    """``h0`` unchanged; in backward ``dW_hh = Σ_t dgh_t^T h_{t-1}`` from the record."""

    @staticmethod
    def forward(h0: Tensor, w_hh: Tensor, record: StepRecord) -> Tensor:
        return h0.view_as(h0)  # (B, H_out)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.record = inputs[2]
        ctx.w_shape = inputs[1].shape

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dh0: Tensor) -> tuple[Tensor, Tensor, None]:
        pairs, ctx.record.pairs = ctx.record.pairs, []  # a second backward records anew
        if not pairs:
            return dh0, dh0.new_zeros(ctx.w_shape), None
        dgh = torch.cat([d for d, _ in pairs])  # (T·B, G·H)
        h_prev = torch.cat([h for _, h in pairs])  # (T·B, H_out)
        return dh0, dgh.t().mm(h_prev), None  # dW_hh (G·H, H_out)
