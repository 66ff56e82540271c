"""RG-LRU, the Real-Gated Linear Recurrent Unit of Hawk/Griffin (De et al. 2024): the math.

The paper's equations (section 2.4), with a projection of the input in front (the layer's
``k = x W^T + b`` gives ``u``, the recurrence gate logit and the input gate logit)::

    r_t = σ(k_r)                      recurrence gate
    i_t = σ(k_i)                      input gate
    a_t = a^(c r_t),  a = σ(Λ)        so  log a_t = -c · r_t · softplus(-Λ)
    h_t = a_t ⊙ h_{t-1} + sqrt(1 - a_t²) ⊙ (i_t ⊙ u_t)

with ``c = 8`` and ``Λ`` initialised so that ``a^c`` is uniform in ``[0.9, 0.999]``
(:func:`init_lambda`). The gates depend on ``x_t`` only, so the recurrence is linear in ``h``:
``h_t = a_t h_{t-1} + b_t``. It trains as a scan over all steps (:func:`linear_scan`: the
blocked two-level scan of :mod:`rnnkit.functional.minrnn` in one autograd node, backward by
the adjoint recurrence) and generates one step at a time (:func:`rglru_step`); both compute
the same function.

``sqrt(1 - a_t²)`` is computed as ``sqrt(-expm1(2 log a_t))`` (no cancellation when ``a_t``
is near 1), with its derivative bounded by :data:`SQRT_GRAD_MAX` where ``1 - a_t² -> 0``
(``r_t -> 0``): the exact derivative is infinite there, the value is not. Hawk's reference
implementation bounds it the same way.
Shapes: T time, B batch, I input features, H hidden.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional.minrnn import _block, _blocked_recurrence

__all__ = [
    "C",
    "SQRT_GRAD_MAX",
    "init_lambda",
    "linear_scan",
    "rglru_coeffs",
    "rglru_layer",
    "rglru_step",
]

C = 8.0
"""The paper's constant ``c`` in ``a_t = a^(c r_t)``."""

SQRT_GRAD_MAX = 1000.0
"""Bound on ``d sqrt(y)/dy`` (reached for ``y < 1/(4·1000²)``)."""


def init_lambda(
    hidden_size: int,
    *,
    low: float = 0.9,
    high: float = 0.999,
    c: float = C,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``Λ (H,)`` with ``a^c = σ(Λ)^c`` uniform in ``[low, high]`` (the paper's init)."""
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"need 0 < `low` < `high` < 1, got low={low}, high={high}")
    u = torch.empty(hidden_size, dtype=torch.float64).uniform_(low, high, generator=generator)
    a = u ** (1.0 / c)  # a = (a^c)^(1/c)
    return torch.logit(a).to(dtype=dtype or torch.get_default_dtype(), device=device)


class _BoundedSqrt(torch.autograd.Function):
    """``sqrt(y)`` whose derivative ``1 / (2 sqrt(y))`` is capped at :data:`SQRT_GRAD_MAX`."""

    @staticmethod
    def forward(ctx, y: Tensor) -> Tensor:  # noqa: ANN001
        root = torch.sqrt(y)
        ctx.save_for_backward(root)
        return root

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        (root,) = ctx.saved_tensors
        return grad / (2.0 * root).clamp_min(1.0 / SQRT_GRAD_MAX)


def rglru_coeffs(k: Tensor, lam: Tensor, *, c: float = C) -> tuple[Tensor, Tensor]:
    """``a_t, b_t`` of ``h_t = a_t h_{t-1} + b_t`` from ``k (..., 3H)`` (blocks u | r | i).

    Args:
        k: ``(..., 3H)`` the projected input, ``x W^T + b``.
        lam: ``Λ (H,)``; ``a = σ(Λ)``.

    Returns:
        ``(a, b)``, each ``(..., H)``: ``a = exp(-c σ(k_r) softplus(-Λ))`` and
        ``b = sqrt(1 - a²) ⊙ σ(k_i) ⊙ u``.
    """
    u, k_r, k_i = k.chunk(3, dim=-1)  # (..., H) each
    log_a = -c * torch.sigmoid(k_r) * F.softplus(-lam)  # (..., H), <= 0
    scale = _BoundedSqrt.apply(-torch.expm1(2.0 * log_a))  # sqrt(1 - a²)
    return torch.exp(log_a), scale * torch.sigmoid(k_i) * u


def rglru_step(
    x: Tensor,
    h: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    lam: Tensor,
) -> Tensor:
    """One RG-LRU step: ``x (B, I)``, ``h (B, H)``, ``weight (3H, I)``, ``Λ (H,)`` -> ``h'``.

    With ``weight=None``, ``x`` is the projection ``k (B, 3H)`` already.
    """
    k = x if weight is None else F.linear(x, weight, bias)  # (B, 3H)
    a, b = rglru_coeffs(k, lam)
    return torch.addcmul(b, a, h)


class _LinearScan(torch.autograd.Function):
    """``h_t = a_t h_{t-1} + b_t`` over all t, one node; backward by the adjoint recurrence.

    ``δ_t = ∂L/∂h_t + a_{t+1} δ_{t+1}`` (the same scan, reversed), then ``∂L/∂b_t = δ_t``,
    ``∂L/∂a_t = δ_t h_{t-1}`` and ``∂L/∂h_0 = a_1 δ_1``.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:  # noqa: ANN001
        with torch.no_grad():
            h = _blocked_recurrence(a, b, h0, _block(a.size(0)))  # (T, B, H)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, dh: Tensor):  # noqa: ANN001, ANN205
        a, h, h0 = ctx.saved_tensors
        a_next = torch.cat([a[1:], a.new_zeros((1, *a.shape[1:]))])  # (T, B, H): a_{t+1}
        delta = _blocked_recurrence(
            a_next.flip(0), dh.flip(0).contiguous(), torch.zeros_like(h0), _block(a.size(0))
        ).flip(0)  # (T, B, H)
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])  # (T, B, H): h_{t-1}
        return delta * h_prev, delta, a[0] * delta[0]


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` for every t (a two-level scan, O(√T) dispatches).

    Args:
        a, b: ``(T, B, H)``; h0: ``(B, H)`` or None for zeros.

    Returns:
        ``h (T, B, H)``.
    """
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(
            f"`a` and `b` must be the same (T, B, H) shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    h0 = b.new_zeros(b.shape[1:]) if h0 is None else h0.to(b.dtype)
    return _LinearScan.apply(a.contiguous(), b.contiguous(), h0)


def rglru_layer(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    lam: Tensor,
    h0: Tensor | None = None,
    *,
    valid: Tensor | None = None,
) -> Tensor:
    """One RG-LRU layer·direction over a whole sequence, as a parallel linear scan.

    Args:
        x: ``(T, B, I)``; weight: ``(3H, I)`` (blocks u | r | i); bias: ``(3H,)`` or None;
        lam: ``Λ (H,)``; h0: ``(B, H)`` or None for zeros.
        valid: ``(T, B, 1)`` bool, False at padded steps (there ``a = 1, b = 0``: the state
            carries over unchanged), or None.

    Returns:
        ``h (T, B, H)``; at padded steps the last valid state.
    """
    a, b = rglru_coeffs(F.linear(x, weight, bias), lam)  # (T, B, H) each
    if valid is not None:
        a = torch.where(valid, a, 1.0)
        b = torch.where(valid, b, 0.0)
    return linear_scan(a, b, h0)
