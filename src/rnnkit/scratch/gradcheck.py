"""Finite-difference gradient check for any scratch model or loss function (float64)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["gradcheck", "numerical_gradient"]

logger = logging.getLogger(__name__)


def numerical_gradient(
    f: Callable[[], float],
    x: np.ndarray,
    index: tuple[int, ...],
    eps: float = 1e-6,
) -> float:
    """Central difference (f(x + eps e_i) - f(x - eps e_i)) / 2 eps at one entry of x,
    perturbing x in place and restoring it."""
    old = x[index]
    x[index] = old + eps
    f_plus = f()
    x[index] = old - eps
    f_minus = f()
    x[index] = old
    return (f_plus - f_minus) / (2.0 * eps)


def gradcheck(
    model_or_fn,
    loss_fn: Callable | None = None,
    *,
    params: Mapping[str, np.ndarray] | None = None,
    grads: Mapping[str, np.ndarray] | None = None,
    eps: float = 1e-6,
    max_entries: int | None = 30,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Compare hand-written gradients with central finite differences.

    Two ways to call it:

    - ``gradcheck(model, loss_fn)``: ``model`` is a scratch module (``parameters()``,
      ``gradients()``, ``zero_grad()``); ``loss_fn(model) -> float`` runs forward, loss and
      backward. The analytic gradients are those of one ``loss_fn`` call after ``zero_grad``.
    - ``gradcheck(fn, params=..., grads=...)``: ``fn() -> float`` reads the arrays in
      ``params``; ``grads`` holds their analytic gradients (same keys).

    ``max_entries`` entries per parameter are checked (chosen with ``rng``; all when None).
    Returns, per parameter, ``max |analytic - numeric| / max(max |analytic|, max |numeric|)``
    over the checked entries: the largest error relative to that parameter's gradient scale.
    Parameters must be float64 (float32 finite differences are too coarse to mean anything).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if loss_fn is not None:
        model = model_or_fn
        params = model.parameters()
        model.zero_grad()
        loss_fn(model)
        grads = {k: g.copy() for k, g in model.gradients().items()}

        def f() -> float:
            return float(loss_fn(model))
    else:
        if params is None or grads is None:
            raise ValueError("`gradcheck(fn, ...)` needs both `params` and `grads`")
        f = model_or_fn
    missing = sorted(set(params) - set(grads))
    if missing:
        raise ValueError(f"`grads` lacks gradients for {missing}")
    errors = {}
    for name, p in params.items():
        if p.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64 parameters, `{name}` is {p.dtype}")
        flat = np.arange(p.size)
        if max_entries is not None and p.size > max_entries:
            flat = rng.choice(p.size, size=max_entries, replace=False)
        analytic = np.array([grads[name].flat[i] for i in flat])
        numeric = np.array(
            [numerical_gradient(f, p, np.unravel_index(i, p.shape), eps) for i in flat]
        )
        scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-12)
        errors[name] = float(np.abs(analytic - numeric).max() / scale)
        logger.debug("gradcheck %s: max relative error %.2e", name, errors[name])
    if loss_fn is not None:  # leave the analytic gradients in place, not the probes' sums
        model.zero_grad()
        for k, g in model.gradients().items():
            g += grads[k]
    return errors
