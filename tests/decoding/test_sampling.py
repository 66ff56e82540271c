"""Sampling: each method's statistics over many draws from an explicit generator."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding.sampling import greedy, sample, top_k_filter, top_p_filter

DRAWS = 20_000


def _freqs(ids: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.bincount(ids, minlength=vocab).double() / ids.numel()


def test_plain_sampling_matches_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0]])
    gen = torch.Generator().manual_seed(0)
    ids = sample(logits.expand(DRAWS, -1), generator=gen)
    expected = logits[0].double().softmax(-1)
    assert torch.allclose(_freqs(ids, 5), expected, atol=0.015)


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    for temp in (0.5, 2.0):
        gen = torch.Generator().manual_seed(1)
        ids = sample(logits.expand(DRAWS, -1), temperature=temp, generator=gen)
        assert torch.allclose(_freqs(ids, 3), (logits[0].double() / temp).softmax(-1), atol=0.015)


def test_top_k_never_leaves_the_top_k():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 50, generator=gen)
    ids = sample(logits.repeat(1000, 1), top_k=5, generator=gen).view(1000, 4)  # (draws, rows)
    top = logits.topk(5, dim=-1).indices  # (4, 5)
    for row in range(4):
        assert set(ids[:, row].tolist()) <= set(top[row].tolist())
        assert len(set(ids[:, row].tolist())) == 5  # and uses all of them
    filtered = top_k_filter(logits, 5)
    assert (filtered.isfinite().sum(-1) == 5).all()


def test_top_k_frequencies_are_renormalised_softmax():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
    gen = torch.Generator().manual_seed(3)
    ids = sample(logits.expand(DRAWS, -1), top_k=2, generator=gen)
    expected = torch.tensor([3.0, 2.0]).double().softmax(-1)
    assert torch.allclose(_freqs(ids, 5)[:2], expected, atol=0.015)


def test_top_p_never_leaves_the_nucleus():
    probs = torch.tensor([[0.05, 0.5, 0.1, 0.3, 0.05]])
    logits = probs.log()
    gen = torch.Generator().manual_seed(4)
    ids = sample(logits.expand(DRAWS, -1), top_p=0.75, generator=gen)
    assert set(ids.tolist()) == {1, 3}  # 0.5 + 0.3 is the smallest set reaching 0.75
    assert torch.allclose(_freqs(ids, 5)[[1, 3]], torch.tensor([0.625, 0.375]).double(), atol=0.015)
    # the most likely token is always kept, even for a tiny p
    assert top_p_filter(logits, 1e-6).isfinite().sum() == 1
    assert top_p_filter(logits, 1.0).isfinite().all()


def test_temperature_to_zero_is_greedy_and_greedy_is_deterministic():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(64, 30, generator=gen)
    best = greedy(logits)
    assert torch.equal(best, logits.argmax(-1)) and torch.equal(greedy(logits), best)
    assert torch.equal(sample(logits, temperature=0.0, generator=gen), best)
    assert torch.equal(sample(logits, temperature=1e-4, generator=gen), best)


def test_seeded_generator_reproduces_draws():
    logits = torch.randn(8, 20, generator=torch.Generator().manual_seed(6))
    a = sample(logits, top_k=10, top_p=0.9, generator=torch.Generator().manual_seed(7))
    b = sample(logits, top_k=10, top_p=0.9, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -1.0}, "`temperature` must be >= 0"),
        ({"top_k": 0}, "`top_k` must be >= 1"),
        ({"top_p": 0.0}, r"`top_p` must be in \(0, 1\]"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample(torch.zeros(1, 3), **kwargs)
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        greedy(torch.zeros(3))
