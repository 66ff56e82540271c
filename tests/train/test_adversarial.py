"""adversarial_perturbation: its size, its direction (first order), padding, errors;
virtual_adversarial_perturbation: its size and its direction against the exact Hessian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.train import (
    adversarial_perturbation,
    prediction_divergence,
    virtual_adversarial_perturbation,
)

LENGTHS = torch.tensor([5, 2, 3])


def _setup(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
    """Embedded inputs (T=5, B=3, E=4) in float64 and a small nonlinear loss of them."""
    gen = torch.Generator().manual_seed(seed)
    emb = torch.randn(5, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return emb, torch.tensor([0, 1, 1]), net


def _loss(net: torch.nn.Module, emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    valid = (torch.arange(5)[:, None] < LENGTHS[None, :]).double()[..., None]  # (T, B, 1)
    pooled = (net(emb) * valid).sum(0) / LENGTHS[:, None]  # (B, 2)
    return F.cross_entropy(pooled, y)


def test_size_is_eps_times_each_sequences_norm_and_padding_untouched() -> None:
    emb, y, net = _setup()
    r = adversarial_perturbation(_loss(net, emb, y), emb, LENGTHS, 0.1)
    assert r.shape == emb.shape and not r.requires_grad
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.allclose(r[:n, b].norm(), 0.1 * emb[:n, b].detach().norm(), rtol=1e-12)
        assert torch.all(r[n:, b] == 0)  # padded steps: no perturbation


def test_direction_is_the_gradients_and_raises_the_loss_to_first_order() -> None:
    emb, y, net = _setup(1)
    loss = _loss(net, emb, y)
    (g,) = torch.autograd.grad(loss, emb, retain_graph=True)
    r = adversarial_perturbation(loss, emb, LENGTHS, 1e-4)
    # the steepest direction: g . r_b = ||g_b|| ||r_b|| (Cauchy-Schwarz with equality)
    for b in range(3):
        assert torch.allclose((g[:, b] * r[:, b]).sum(), g[:, b].norm() * r[:, b].norm())
    # and a finite step along it raises the loss by g . r, to first order
    with torch.no_grad():
        rise = _loss(net, emb + r, y) - _loss(net, emb, y)
        random = torch.randn(r.shape, generator=torch.Generator().manual_seed(2), dtype=r.dtype)
        random = random * r.norm() / random.norm()
        other = _loss(net, emb + random, y) - _loss(net, emb, y)
    assert torch.allclose(rise, (g * r).sum(), rtol=1e-3)
    assert rise > other


def test_zero_eps_gives_zeros_and_bad_arguments_are_named() -> None:
    emb, y, net = _setup()
    loss = _loss(net, emb, y)
    assert torch.all(adversarial_perturbation(loss, emb, LENGTHS, 0.0) == 0)
    with pytest.raises(ValueError, match=r"`embedded` must be \(T, B, E\)"):
        adversarial_perturbation(loss, emb[:, 0], LENGTHS, 0.1)
    with pytest.raises(ValueError, match=r"`lengths` must have shape \(3,\)"):
        adversarial_perturbation(loss, emb, LENGTHS[:2], 0.1)
    with pytest.raises(ValueError, match="`eps` must be >= 0"):
        adversarial_perturbation(loss, emb, LENGTHS, -1.0)


# ------------------------------------------------------------ virtual adversarial


def _pooled(net: torch.nn.Module, emb: torch.Tensor) -> torch.Tensor:
    valid = (torch.arange(5)[:, None] < LENGTHS[None, :]).double()[..., None]  # (T, B, 1)
    return (net(emb) * valid).sum(0) / LENGTHS[:, None]  # (B, 2): each sequence on its own


def test_prediction_divergence_is_kl_and_holds_the_first_constant() -> None:
    gen = torch.Generator().manual_seed(3)
    p = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    q = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    got = prediction_divergence(p, q)
    ref = F.kl_div(F.log_softmax(q, -1), F.softmax(p, -1), reduction="batchmean")
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    got.backward()
    assert p.grad is None and q.grad is not None  # p is the target, not trained towards q
    assert float(prediction_divergence(q, q.detach().clone())) == pytest.approx(0, abs=1e-15)


def test_virtual_perturbation_size_padding_and_errors() -> None:
    emb, _, net = _setup()
    logits = _pooled(net, emb)
    r = virtual_adversarial_perturbation(lambda e: _pooled(net, e), emb, logits, LENGTHS, 0.1)
    assert r.shape == emb.shape and not r.requires_grad
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.allclose(r[:n, b].norm(), 0.1 * emb[:n, b].detach().norm(), rtol=1e-12)
        assert torch.all(r[n:, b] == 0)
    with pytest.raises(ValueError, match="`xi` must be > 0, got 0"):
        virtual_adversarial_perturbation(lambda e: _pooled(net, e), emb, logits, LENGTHS, 0.1, 0)
    with pytest.raises(ValueError, match="`eps` must be >= 0"):
        virtual_adversarial_perturbation(lambda e: _pooled(net, e), emb, logits, LENGTHS, -1)


def test_virtual_direction_is_one_power_step_on_the_divergences_hessian() -> None:
    """Near ``e`` the divergence is ``d' H d / 2`` (its gradient is zero at ``e``), so the
    probe's gradient is ``H d``: the returned direction must be the exact Hessian's ``H d``,
    sequence by sequence, with ``d`` the same random draw."""
    emb, _, net = _setup(2)
    logits = _pooled(net, emb).detach()
    torch.manual_seed(7)
    r = virtual_adversarial_perturbation(
        lambda e: _pooled(net, e), emb, logits, LENGTHS, 0.1, xi=1e-6
    )
    torch.manual_seed(7)
    d = torch.randn(emb.shape, dtype=emb.dtype)  # the draw it made
    base = emb.detach()
    for b, n in enumerate(LENGTHS.tolist()):

        def divergence(x: torch.Tensor, b: int = b, n: int = n) -> torch.Tensor:
            e = base.clone()
            e[:n, b] = x.view(n, 4)
            return prediction_divergence(logits, _pooled(net, e))

        hess = torch.autograd.functional.hessian(divergence, base[:n, b].reshape(-1))
        hd = hess @ d[:n, b].reshape(-1)  # (n * 4,)
        got = r[:n, b].reshape(-1)
        cos = float(got @ hd / (got.norm() * hd.norm()))
        assert cos == pytest.approx(1.0, abs=1e-6), (b, cos)


def test_virtual_direction_moves_the_prediction_more_than_random_ones() -> None:
    emb, _, net = _setup(4)
    logits = _pooled(net, emb).detach()
    torch.manual_seed(0)
    r = virtual_adversarial_perturbation(lambda e: _pooled(net, e), emb, logits, LENGTHS, 0.05)
    with torch.no_grad():
        moved = prediction_divergence(logits, _pooled(net, emb + r))
        gen = torch.Generator().manual_seed(1)
        others = []
        for _ in range(20):
            u = torch.randn(r.shape, generator=gen, dtype=r.dtype) * (r != 0)
            u = u * (r.norm(dim=(0, 2)) / u.norm(dim=(0, 2)))[None, :, None]  # same sizes
            others.append(float(prediction_divergence(logits, _pooled(net, emb + u))))
    assert float(moved) > max(others)
