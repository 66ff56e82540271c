"""minGRU / minLSTM gate coefficients: ``a, b`` of ``h_t = a_t ⊙ h_{t-1} + b_t`` from ``k``.

The maths of :mod:`rnnkit.functional.minrnn` (which re-exports these names), kept apart so
the scans there read on their own. ``k = x W_ih^T + b_ih`` ``(..., G·H)`` with blocks
z | h (minGRU, G = 2) or i | f | h (minLSTM, G = 3); ``g`` is the paper's positive
activation of the candidate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "COEFFS",
    "KINDS",
    "LOG_COEFFS",
    "g",
    "grad_parts",
    "log_g",
    "mingru_coeffs",
    "mingru_log_coeffs",
    "minlstm_coeffs",
    "minlstm_log_coeffs",
]

KINDS = {"mingru": 2, "minlstm": 3}
"""Cell name -> number G of H-wide blocks in ``k = x W_ih^T + b_ih`` (z|h and i|f|h)."""


def g(x: Tensor) -> Tensor:
    """The paper's positive activation: ``x + 0.5`` for ``x >= 0``, ``σ(x)`` below (C¹ at 0)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` without forming g: ``log(x + 0.5)`` for ``x >= 0``, ``-softplus(-x)`` below."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def _minlstm_diff(k_i: Tensor, k_f: Tensor) -> Tensor:
    """``log i - log f`` with ``i = σ(k_i)``, ``f = σ(k_f)``; then ``f' = σ(-d)``, ``i' = σ(d)``."""
    return F.softplus(-k_f) - F.softplus(-k_i)


# -- coefficients a, b of h_t = a_t h_{t-1} + b_t, from k (T, B, G·H) ----------------------


def mingru_log_coeffs(k: Tensor) -> tuple[Tensor, Tensor]:
    """``log a, log b`` of minGRU from ``k (..., 2H)`` (blocks z | h): each ``(..., H)``."""
    k_z, k_h = k.chunk(2, dim=-1)  # (..., H) each
    return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)  # log(1 - z), log z + log g(h~)


def minlstm_log_coeffs(k: Tensor) -> tuple[Tensor, Tensor]:
    """``log a, log b`` of minLSTM from ``k (..., 3H)`` (blocks i | f | h): each ``(..., H)``."""
    k_i, k_f, k_h = k.chunk(3, dim=-1)  # (..., H) each
    d = _minlstm_diff(k_i, k_f)
    return -F.softplus(d), -F.softplus(-d) + log_g(k_h)  # log f', log i' + log g(h~)


def mingru_coeffs(k: Tensor) -> tuple[Tensor, Tensor]:
    """``a, b`` of minGRU from ``k (..., 2H)``: ``a = 1 - z``, ``b = z ⊙ g(k_h)``."""
    k_z, k_h = k.chunk(2, dim=-1)  # (..., H) each
    z = torch.sigmoid(k_z)
    return 1.0 - z, z * g(k_h)


def minlstm_coeffs(k: Tensor) -> tuple[Tensor, Tensor]:
    """``a, b`` of minLSTM from ``k (..., 3H)``: ``a = f'``, ``b = i' ⊙ g(k_h)``."""
    k_i, k_f, k_h = k.chunk(3, dim=-1)  # (..., H) each
    d = _minlstm_diff(k_i, k_f)
    return torch.sigmoid(-d), torch.sigmoid(d) * g(k_h)


COEFFS = {"mingru": mingru_coeffs, "minlstm": minlstm_coeffs}
LOG_COEFFS = {"mingru": mingru_log_coeffs, "minlstm": minlstm_log_coeffs}


def grad_parts(kind: str, k: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """What the fused backward needs, recomputed from ``k (T, B, G·H)``.

    Returns ``a, w, s, g(k_h), g'(k_h)`` (each (T, B, H)) where ``w = 1 - a`` weighs the
    candidate (``b = w ⊙ g``) and ``s`` is the derivative of ``w`` with respect to the gate
    logit it comes from.
    """
    if kind == "mingru":
        k_z, k_h = k.chunk(2, dim=-1)  # (T, B, H) each
        w = torch.sigmoid(k_z)  # z
    else:
        k_i, k_f, k_h = k.chunk(3, dim=-1)  # (T, B, H) each
        w = torch.sigmoid(_minlstm_diff(k_i, k_f))  # i' = σ(d)
    a = 1.0 - w
    s = w * a  # dw/d(logit) for σ
    sig_h = torch.sigmoid(k_h)
    pos = k_h >= 0
    gh = torch.where(pos, k_h + 0.5, sig_h)
    dgh = torch.where(pos, torch.ones_like(sig_h), sig_h * (1.0 - sig_h))
    return a, w, s, gh, dgh
