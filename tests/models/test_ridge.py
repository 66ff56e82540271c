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


def _ridge(
    x: np.ndarray, t: np.ndarray, alpha: float, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge with an unpenalised intercept, by the normal equations: (F, C), (C,)."""
    xm, tm = w @ x / w.sum(), w @ t / w.sum()
    xc = x - xm
    gram = xc.T @ (w[:, None] * xc) + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ (w[:, None] * (t - tm)))
    return coef, tm - xm @ coef


def _problem(n: int, f: int, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    x = rng.normal(size=(n, f)) + 0.8 * np.eye(c, f)[y]
    return x, y


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n, f", [(12, 30), (40, 6)])  # both Gram matrices
def test_fit_is_ridge_at_the_penalty_leave_one_out_refits_choose(
    n: int, f: int, weighted: bool
) -> None:
    x, y = _problem(n, f)
    w = np.random.default_rng(1).uniform(0.2, 3.0, n) if weighted else np.ones(n)
    alphas = (0.01, 1.0, 30.0)
    t = _targets(y, 3)
    errors, loo_right = [], []
    for a in alphas:  # refit without each example in turn
        err, right = 0.0, 0
        for i in range(n):
            keep = np.arange(n) != i
            coef, b = _ridge(x[keep], t[keep], a, w[keep])
            score = x[i] @ coef + b
            err += w[i] * ((t[i] - score) ** 2).sum()
            right += int(score.argmax() == y[i])
        errors.append(err)
        loo_right.append(right / n)
    k = int(np.argmin(errors))
    weights = torch.tensor(w) if weighted else None
    fit = fit_ridge(torch.tensor(x), torch.tensor(y), 3, alphas, sample_weight=weights)
    assert fit.alpha == alphas[k]
    assert fit.loo_accuracy == pytest.approx(loo_right[k])
    scores = x @ fit.weight.numpy().T + fit.bias.numpy()  # the returned classifier's own
    assert fit.train_accuracy == pytest.approx(np.mean(scores.argmax(1) == y))
    coef, b = _ridge(x, t, alphas[k], w)
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
    with pytest.raises(ValueError, match=r"`sample_weight` must be \(4,\), got \(3,\)"):
        fit_ridge(
            torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), 2, sample_weight=torch.ones(3)
        )
    with pytest.raises(ValueError, match="`sample_weight` must be positive"):
        fit_ridge(
            torch.zeros(4, 3),
            torch.zeros(4, dtype=torch.long),
            2,
            sample_weight=torch.tensor([1.0, 0.0, 1.0, 1.0]),
        )


def test_weights_are_an_example_counted_twice() -> None:
    """Weight 2 on an example is the fit with that example given twice (in the fit itself;
    leave-one-out then differs, since the copy would stay in)."""
    x, y = _problem(20, 5)
    w = np.ones(20)
    w[3] = 2.0
    fit = fit_ridge(torch.tensor(x), torch.tensor(y), 3, (1.0,), sample_weight=torch.tensor(w))
    twice = fit_ridge(
        torch.tensor(np.vstack([x, x[3:4]])), torch.tensor(np.append(y, y[3])), 3, (1.0,)
    )
    scale = twice.temperature / fit.temperature
    np.testing.assert_allclose(
        scale * fit.weight.numpy(), twice.weight.numpy(), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(scale * fit.bias.numpy(), twice.bias.numpy(), rtol=1e-6, atol=1e-9)
