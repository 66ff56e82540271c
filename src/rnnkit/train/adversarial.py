"""Adversarial training on embedded inputs (Goodfellow et al. 2015, "Explaining and
Harnessing Adversarial Examples"; Miyato et al. 2017, "Adversarial Training Methods for
Semi-Supervised Text Classification").

A step adds the loss of the same batch with each sequence's embedded inputs moved, to first
order, in the direction that most raises the loss::

    g   = d loss / d e                                  e: (T, B, E) embedded inputs
    r_b = eps * ||e_b|| * g_b / ||g_b||                 norms over sequence b's valid steps
    loss_total = loss(e) + loss(e + r)

The size is relative to each sequence's own embedding norm (Miyato et al. normalise the
embeddings and use an absolute ``eps`` instead): a network cannot make the perturbation
negligible by growing its embeddings. ``r`` is a constant (no gradient flows through it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.functional import valid_mask

__all__ = ["adversarial_perturbation"]


def adversarial_perturbation(loss: Tensor, embedded: Tensor, lengths: Tensor, eps: float) -> Tensor:
    """The perturbation of ``embedded`` that most raises ``loss`` (to first order).

    Args:
        loss: a scalar computed from ``embedded`` (its graph is kept for the caller's
            backward).
        embedded: ``(T, B, E)`` embedded inputs, part of ``loss``'s graph.
        lengths: ``(B,)`` valid steps per sequence; steps past them get no perturbation.
        eps: the size of each sequence's perturbation, as a fraction of the norm of its
            embedded inputs (``0`` gives zeros).

    Returns:
        ``r`` ``(T, B, E)``, detached: ``||r_b|| = eps * ||embedded_b||`` over the valid
        steps of each sequence ``b`` (zero where the gradient is zero).
    """
    if embedded.dim() != 3:
        raise ValueError(f"`embedded` must be (T, B, E), got shape {tuple(embedded.shape)}")
    T, B = embedded.shape[:2]
    if lengths.shape != (B,):
        raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
    if not eps >= 0:
        raise ValueError(f"`eps` must be >= 0, got {eps}")
    (grad,) = torch.autograd.grad(loss, embedded, retain_graph=True)
    valid = valid_mask(lengths, T, embedded.device).to(grad.dtype)  # (T, B, 1)
    grad = grad.detach() * valid
    grad_norm = grad.pow(2).sum((0, 2)).sqrt()  # (B,)
    emb_norm = (embedded.detach().pow(2) * valid).sum((0, 2)).sqrt()  # (B,)
    scale = torch.where(grad_norm > 0, eps * emb_norm / grad_norm.clamp_min(1e-30), 0.0)
    return grad * scale[None, :, None]
