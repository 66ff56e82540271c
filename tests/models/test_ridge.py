"""Closed-form ridge with leave-one-out selection, against refits done the long way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.models.ridge import fit_ridge


def _targets(y: np.ndarray, c: int) -> np.ndarray:
    t = -np.ones((len(y), c))
    t[np.arange(len(y)), y] = 1.0
    return t


def _ridge(x: np.ndarray, t: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge with an unpenalised intercept, by the normal equations: (F, C), (C,)."""
    xm, tm = x.mean(0), t.mean(0)
    xc = x - xm
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (t - tm))
    return coef, tm - xm @ coef


def _problem(n: int, f: int, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    x = rng.normal(size=(n, f)) + 0.8 * np.eye(c, f)[y]
    return x, y


@pytest.mark.parametrize("n, f", [(12, 30), (40, 6)])  # both Gram matrices
def test_fit_is_ridge_at_the_penalty_leave_one_out_refits_choose(n: int, f: int) -> None:
    x, y = _problem(n, f)
    alphas = (0.01, 1.0, 30.0)
    t = _targets(y, 3)
    errors, loo_right = [], []
    for a in alphas:  # refit without each example in turn
        err, right = 0.0, 0
        for i in range(n):
            keep = np.arange(n) != i
            coef, b = _ridge(x[keep], t[keep], a)
            score = x[i] @ coef + b
            err += ((t[i] - score) ** 2).sum()
            right += int(score.argmax() == y[i])
        errors.append(err)
        loo_right.append(right / n)
    k = int(np.argmin(errors))
    fit = fit_ridge(torch.tensor(x), torch.tensor(y), 3, alphas)
    assert fit.alpha == alphas[k]
    assert fit.loo_accuracy == pytest.approx(loo_right[k])
    scores = x @ fit.weight.numpy().T + fit.bias.numpy()  # the returned classifier's own
    assert fit.train_accuracy == pytest.approx(np.mean(scores.argmax(1) == y))
    coef, b = _ridge(x, t, alphas[k])
    tau = fit.temperature
    np.testing.assert_allclose(fit.weight.numpy(), tau * coef.T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.bias.numpy(), tau * b, rtol=1e-6, atol=1e-9)


def test_temperature_makes_confident_scores_of_a_separable_problem() -> None:
    x, y = _problem(60, 4, c=2)
    x[:, 0] += 6.0 * y  # far apart: the leave-one-out scores are right and large
    fit = fit_ridge(torch.tensor(x), torch.tensor(y), 2)
    probs = torch.softmax(torch.tensor(x) @ fit.weight.T + fit.bias, -1)
    assert fit.loo_accuracy == 1.0 and fit.temperature > 1.0
    assert float(probs[torch.arange(60), torch.tensor(y)].min()) > 0.9


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 training examples, got 1"):
        fit_ridge(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"`z` must be \(N, F\) and `y` \(N,\), got \(4, 3\)"):
        fit_ridge(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="`alphas` must be positive"):
        fit_ridge(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 2, (0.0,))
