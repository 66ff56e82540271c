"""Adversarial and virtual adversarial training on embedded inputs (Goodfellow et al. 2015,
"Explaining and Harnessing Adversarial Examples"; Miyato et al. 2016, "Distributional
Smoothing with Virtual Adversarial Training"; Miyato et al. 2017, "Adversarial Training
Methods for Semi-Supervised Text Classification").

Adversarial training adds the loss of the same batch with each sequence's embedded inputs
moved, to first order, in the direction that most raises the loss::

    g   = d loss / d e                                  e: (T, B, E) embedded inputs
    r_b = eps * ||e_b|| * g_b / ||g_b||                 norms over sequence b's valid steps
    loss_total = loss(e) + loss(e + r)

Virtual adversarial training needs no labels: it moves the inputs in the direction that most
changes the model's own prediction ``p = softmax(f(e))`` (found by one power iteration from
a random direction ``d``) and adds the divergence there::

    g     = d KL(p || softmax(f(e + d))) / d d          ||d_b|| = xi * ||e_b||, d random
    r_v,b = eps * ||e_b|| * g_b / ||g_b||
    loss_total += KL(p || softmax(f(e + r_v)))          p held constant

Sizes are relative to each sequence's own embedding norm (Miyato et al. normalise the
embeddings and use absolute sizes instead): a network cannot make the perturbation
negligible by growing its embeddings. ``r`` and ``r_v`` are constants (no gradient flows
through them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional import valid_mask

__all__ = ["adversarial_perturbation", "prediction_divergence", "virtual_adversarial_perturbation"]


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
    _check(embedded, lengths, eps)
    (grad,) = torch.autograd.grad(loss, embedded, retain_graph=True)
    return _sized(grad.detach(), embedded, lengths, eps)


def virtual_adversarial_perturbation(
    forward: Callable[[Tensor], Tensor],
    embedded: Tensor,
    logits: Tensor,
    lengths: Tensor,
    eps: float,
    xi: float = 1e-2,
) -> Tensor:
    """The perturbation of ``embedded`` that most changes the prediction (one power step).

    Args:
        forward: maps embedded inputs ``(T, B, E)`` to logits ``(B, C)`` (the network after
            its embedding layer, in the mode it trains in).
        embedded: ``(T, B, E)`` embedded inputs.
        logits: ``(B, C)``, the prediction at ``embedded`` (held constant).
        lengths: ``(B,)`` valid steps per sequence; steps past them get no perturbation.
        eps: the size of each sequence's perturbation, as a fraction of the norm of its
            embedded inputs (``0`` gives zeros).
        xi: the size of the random probe, as the same fraction (small: a finite difference).

    Returns:
        ``r_v`` ``(T, B, E)``, detached, ``||r_v,b|| = eps * ||embedded_b||`` over the valid
        steps of each sequence ``b``. The random probe draws from torch's global generator
        (as dropout does), which the trainer seeds and checkpoints.
    """
    _check(embedded, lengths, eps)
    if not xi > 0:
        raise ValueError(f"`xi` must be > 0, got {xi}")
    base = embedded.detach()
    probe = _sized(torch.randn_like(base), base, lengths, xi).requires_grad_()
    divergence = prediction_divergence(logits, forward(base + probe))
    (grad,) = torch.autograd.grad(divergence, probe)
    return _sized(grad.detach(), base, lengths, eps)


def prediction_divergence(logits: Tensor, other: Tensor) -> Tensor:
    """``KL(softmax(logits) || softmax(other))``, the mean over the batch; ``logits``
    ``(B, C)`` is held constant (detached), so only ``other`` ``(B, C)`` gets a gradient."""
    target = F.log_softmax(logits.detach(), -1)
    return F.kl_div(F.log_softmax(other, -1), target, reduction="batchmean", log_target=True)


def _check(embedded: Tensor, lengths: Tensor, eps: float) -> None:
    if embedded.dim() != 3:
        raise ValueError(f"`embedded` must be (T, B, E), got shape {tuple(embedded.shape)}")
    B = embedded.shape[1]
    if lengths.shape != (B,):
        raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
    if not eps >= 0:
        raise ValueError(f"`eps` must be >= 0, got {eps}")


def _sized(direction: Tensor, embedded: Tensor, lengths: Tensor, size: float) -> Tensor:
    """``direction`` ``(T, B, E)`` on each sequence's valid steps, scaled to ``size`` times
    the norm of its embedded inputs (zero where the direction is zero)."""
    valid = valid_mask(lengths, embedded.shape[0], embedded.device).to(direction.dtype)
    direction = direction * valid  # (T, B, E)
    norm = direction.pow(2).sum((0, 2)).sqrt()  # (B,)
    emb_norm = (embedded.detach().pow(2) * valid).sum((0, 2)).sqrt()  # (B,)
    scale = torch.where(norm > 0, size * emb_norm / norm.clamp_min(1e-30), 0.0)
    return direction * scale[None, :, None]
