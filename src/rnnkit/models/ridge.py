"""Closed-form ridge classification with leave-one-out selection of the penalty.

:func:`fit_ridge` fits ``scores = Z W + b`` to ``+1/-1`` one-hot targets by ridge
regression (the intercept unpenalised), for every penalty in ``alphas`` at the cost of one
eigendecomposition, and keeps the penalty with the lowest exact leave-one-out squared error
(the hat-matrix identity ``e_loo = e / (1 - h_ii)``). A temperature ``tau`` then turns the
scores into probabilities, ``softmax(tau * scores)``: it is chosen to minimise the
cross-entropy of the *leave-one-out* scores, so it is calibrated on predictions the model
did not fit. With ``N`` examples and ``F`` features the cost is ``O(N F min(N, F))``.
Example weights (``sample_weight``, e.g. balanced class weights) make it weighted least
squares: the same fit on rows scaled by ``sqrt(w)``, the intercept the weighted mean, and
the penalty chosen by the weighted leave-one-out error (as scikit-learn's
``RidgeClassifierCV(class_weight=...)``).

>>> import torch
>>> z = torch.randn(40, 5, dtype=torch.float64)
>>> y = (z[:, 0] > 0).long()
>>> fit = fit_ridge(z, y, 2)
>>> tuple(fit.weight.shape), fit.loo_accuracy > 0.8
((2, 5), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ALPHAS", "RidgeFit", "fit_ridge"]

ALPHAS = tuple(float(10.0**e) for e in torch.linspace(-3, 3, 10).tolist())
"""The penalties tried (ROCKET's grid: 10 values from 1e-3 to 1e3)."""
_TAUS = torch.logspace(-2, 3, 61, dtype=torch.float64)


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge classifier: ``logits = tau * (z @ weight.T + bias)``."""

    weight: Tensor
    """``(C, F)`` the temperature already folded in."""
    bias: Tensor
    """``(C,)``, temperature folded in."""
    alpha: float
    """The penalty chosen by leave-one-out error."""
    temperature: float
    """The scale of the scores chosen by leave-one-out cross-entropy."""
    loo_accuracy: float
    """Accuracy of the leave-one-out predictions at ``alpha``."""
    train_accuracy: float
    """Accuracy of the fitted scores on the training examples themselves."""


def fit_ridge(
    z: Tensor,
    y: Tensor,
    num_classes: int,
    alphas: tuple[float, ...] = ALPHAS,
    sample_weight: Tensor | None = None,
) -> RidgeFit:
    """Ridge classifier on features ``z`` ``(N, F)`` and class ids ``y`` ``(N,)``, each
    example weighted by ``sample_weight`` ``(N,)`` (positive; None: all 1).

    ``z`` should be standardised (the penalty treats every feature alike). Returns a
    :class:`RidgeFit` in ``z``'s dtype; the fit itself runs in float64.
    """
    if z.dim() != 2 or y.shape != (z.shape[0],):
        raise ValueError(
            f"`z` must be (N, F) and `y` (N,), got {tuple(z.shape)} and {tuple(y.shape)}"
        )
    n = z.shape[0]
    if n < 2:
        raise ValueError(f"ridge needs at least 2 training examples, got {n}")
    if not alphas or min(alphas) <= 0:
        raise ValueError(f"`alphas` must be positive penalties, got {alphas}")
    w = _weights(sample_weight, n)  # (N,)
    root = w.sqrt()[:, None]  # (N, 1): every row scaled by sqrt(w)
    share = w / w.sum()  # (N,): the weights as shares, for the weighted means
    x = z.double()
    mean = share @ x  # (F,)
    x = (x - mean) * root  # (N, F): the intercept is the targets' weighted mean, unpenalised
    targets = -torch.ones(n, num_classes, dtype=torch.float64)
    targets[torch.arange(n), y] = 1.0
    t_mean = share @ targets  # (C,)
    t = (targets - t_mean) * root  # (N, C)
    lam, proj = _spectrum(x)  # (r,), (N, r): x x^T = proj diag(lam) proj^T
    best = None
    for alpha in alphas:
        shrink = lam / (lam + alpha)  # (r,)
        fitted = proj @ (shrink[:, None] * (proj.T @ t))  # (N, C) = H t
        # diagonal of the hat matrix; the intercept's column sqrt(w) is orthogonal to x
        h = (proj**2 @ shrink) + share  # (N,)
        loo = t - (t - fitted) / (1.0 - h).clamp_min(1e-12)[:, None]  # (N, C) LOO fits
        err = float(((t - loo) ** 2).mean())  # = the weighted error of the unscaled fits
        if best is None or err < best[0]:
            best = (err, alpha, loo, fitted)
    assert best is not None
    _, alpha, loo, fitted = best
    loo_scores = loo / root + t_mean  # (N, C), unscaled
    fitted = fitted / root
    tau = _temperature(loo_scores, y)
    coef = x.T @ (proj @ ((1.0 / (lam + alpha))[:, None] * (proj.T @ t)))  # (F, C)
    bias = t_mean - mean @ coef  # (C,)
    return RidgeFit(
        weight=(tau * coef.T).to(z.dtype),
        bias=(tau * bias).to(z.dtype),
        alpha=float(alpha),
        temperature=tau,
        loo_accuracy=float((loo_scores.argmax(1) == y).double().mean()),
        train_accuracy=float(((fitted + t_mean).argmax(1) == y).double().mean()),
    )


def _weights(sample_weight: Tensor | None, n: int) -> Tensor:
    """``sample_weight`` as float64 ``(N,)``, checked; all ones when None."""
    if sample_weight is None:
        return torch.ones(n, dtype=torch.float64)
    w = torch.as_tensor(sample_weight, dtype=torch.float64)
    if w.shape != (n,):
        raise ValueError(f"`sample_weight` must be ({n},), got {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or float(w.min()) <= 0:
        raise ValueError(f"`sample_weight` must be positive and finite, got min {float(w.min())}")
    return w


def _spectrum(x: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues ``lam`` (r,) of ``x x^T`` and its unit eigenvectors ``u`` (N, r), from the
    smaller of the two Gram matrices (``x`` is (N, F))."""
    if x.shape[0] <= x.shape[1]:
        lam, u = torch.linalg.eigh(x @ x.T)  # (N,), (N, N)
    else:
        lam, v = torch.linalg.eigh(x.T @ x)  # (F,), (F, F)
        u = x @ v / lam.clamp_min(1e-12).sqrt()  # (N, F)
    keep = lam > lam.max().clamp_min(1e-30) * 1e-12
    return lam[keep], u[:, keep]


def _temperature(scores: Tensor, y: Tensor) -> float:
    """The ``tau`` of ``softmax(tau * scores)`` with the lowest cross-entropy on ``y``."""
    logp = torch.log_softmax(_TAUS[:, None, None] * scores[None], dim=-1)  # (K, N, C)
    nll = -logp[:, torch.arange(len(y)), y].mean(1)  # (K,)
    return float(_TAUS[int(nll.argmin())])
