"""adversarial_perturbation: its size, its direction (first order), padding, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.train import adversarial_perturbation

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
