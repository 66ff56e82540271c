"""Attention modules: scores match their equations, padding never matters, weights returned."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn.attention import (
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    make_attention,
)

KINDS = ["additive", "dot", "general"]


def _make(kind: str, q: int = 6, k: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    return make_attention(kind, q, k, attn_size=5).double()


@pytest.mark.parametrize("kind", KINDS)
def test_weights_are_a_distribution_and_context_is_their_mix(kind: str) -> None:
    attn = _make(kind)
    memory = torch.randn(7, 3, 6, dtype=torch.double)
    context, weights = attn(torch.randn(3, 6, dtype=torch.double), memory)
    assert weights.shape == (3, 7) and context.shape == (3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.double))
    expected = torch.einsum("bs,sbk->bk", weights, memory)
    torch.testing.assert_close(context, expected)


def test_scores_follow_their_equations() -> None:
    q, memory = torch.randn(2, 6, dtype=torch.double), torch.randn(4, 2, 6, dtype=torch.double)
    keys = memory.transpose(0, 1)  # (B, S, K)
    dot = DotAttention(6, 6)
    raw = torch.einsum("bq,bsq->bs", q, keys)
    torch.testing.assert_close(dot(q, memory)[1], torch.softmax(raw, -1))
    gen = GeneralAttention(6, 6).double()
    w = gen.key_proj.weight  # (Q, K)
    raw = torch.einsum("bq,qk,bsk->bs", q, w, keys)
    torch.testing.assert_close(gen(q, memory)[1], torch.softmax(raw, -1))
    add = AdditiveAttention(6, 6, attn_size=5).double()
    hidden = torch.tanh(
        (q @ add.query_proj.weight.T)[:, None, :] + keys @ add.key_proj.weight.T + add.key_proj.bias
    )  # (B, S, A)
    raw = (hidden @ add.v.weight.T).squeeze(-1)
    torch.testing.assert_close(add(q, memory)[1], torch.softmax(raw, -1))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_never_changes_attention(kind: str) -> None:
    """Rows padded with garbage give the same weights and context as the unpadded rows."""
    attn = _make(kind)
    lengths = [5, 2, 3]
    memory = torch.randn(5, 3, 6, dtype=torch.double)
    mask = torch.arange(5)[:, None] < torch.tensor(lengths)[None, :]  # (S, B)
    query = torch.randn(3, 6, dtype=torch.double)
    context, weights = attn(query, memory, mask)
    garbage = memory.clone()
    garbage[~mask] = 1e3 * torch.randn(int((~mask).sum()), 6, dtype=torch.double)
    context2, weights2 = attn(query, garbage, mask)
    torch.testing.assert_close(context, context2)
    torch.testing.assert_close(weights, weights2)
    assert (weights[~mask.T] == 0).all()
    for b, n in enumerate(lengths):  # each row alone, unpadded
        c, w = attn(query[b : b + 1], memory[:n, b : b + 1])
        torch.testing.assert_close(context[b : b + 1], c)
        torch.testing.assert_close(weights[b : b + 1, :n], w)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_gets_no_gradient(kind: str) -> None:
    attn = _make(kind)
    memory = torch.randn(4, 2, 6, dtype=torch.double, requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 1], [1, 0], [1, 0]], dtype=torch.bool)
    context, _ = attn(torch.randn(2, 6, dtype=torch.double), memory, mask)
    context.sum().backward()
    assert memory.grad[~mask].abs().max() == 0
    assert memory.grad[mask].abs().max() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_many_queries_at_once_equal_one_at_a_time(kind: str) -> None:
    attn = _make(kind)
    memory = torch.randn(5, 2, 6, dtype=torch.double)
    mask = torch.tensor([[1, 1]] * 3 + [[1, 0]] * 2, dtype=torch.bool)
    queries = torch.randn(4, 2, 6, dtype=torch.double)  # (T, B, Q)
    keys = attn.prepare(memory)
    context, weights = attn(queries, memory, mask, keys=keys)
    assert context.shape == (4, 2, 6) and weights.shape == (4, 2, 5)
    for t in range(4):
        c, w = attn(queries[t], memory, mask)
        torch.testing.assert_close(context[t], c)
        torch.testing.assert_close(weights[t], w)


def test_all_padding_row_gives_zero_context_not_nan() -> None:
    attn = _make("general")
    memory = torch.randn(3, 2, 6, dtype=torch.double)
    mask = torch.tensor([[1, 0], [1, 0], [0, 0]], dtype=torch.bool)
    context, weights = attn(torch.randn(2, 6, dtype=torch.double), memory, mask)
    assert torch.isfinite(context).all() and (context[1] == 0).all() and (weights[1] == 0).all()


def test_sizes_may_differ_except_for_dot() -> None:
    memory = torch.randn(3, 2, 10)
    for kind in ("additive", "general"):
        context, _ = make_attention(kind, 4, 10)(torch.randn(2, 4), memory)
        assert context.shape == (2, 10)
    with pytest.raises(ValueError, match="query_size.*key_size"):
        make_attention("dot", 4, 10)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="`kind`"):
        make_attention("cosine", 4, 4)
    with pytest.raises(ValueError, match="`query_size` must be > 0"):
        make_attention("general", 0, 4)
    attn = make_attention("dot", 4, 4)
    with pytest.raises(ValueError, match="memory has 5 features"):
        attn(torch.randn(2, 4), torch.randn(3, 2, 5))
    with pytest.raises(ValueError, match="mask must be"):
        attn(torch.randn(2, 4), torch.randn(3, 2, 4), torch.ones(2, 3, dtype=torch.bool))
