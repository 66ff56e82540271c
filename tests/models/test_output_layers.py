"""Output layers: the adaptive softmax against references, the chunked cross-entropy against
the plain one, and every registered layer inside the language model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.output_layers import (
    AdaptiveSoftmaxOutput,
    build_output,
    chunked_cross_entropy,
    default_cutoffs,
    output_layer_names,
)

TINY = {"embedding_dim": 12, "hidden_size": 12, "num_layers": 1, "dropout": 0.0}


def _adaptive(dtype: torch.dtype = torch.float32) -> AdaptiveSoftmaxOutput:
    torch.manual_seed(0)
    layer = AdaptiveSoftmaxOutput(16, 50, (6, 20, 35), div_value=2.0).to(dtype)
    with torch.no_grad():
        layer.head_bias.normal_()  # a non-zero bias, so it is exercised too
    return layer


def _reference_log_prob(layer: AdaptiveSoftmaxOutput, h: torch.Tensor) -> torch.Tensor:
    """Token by token, straight from the definition: p(y) = p(head slot) * p(y | cluster)."""
    c0, bounds = layer.cutoffs[0], (*layer.cutoffs, layer.vocab_size)
    w = torch.cat([layer.shortlist_weight[:c0], layer.cluster_weight])
    out = torch.empty(h.size(0), layer.vocab_size, dtype=h.dtype)
    for n in range(h.size(0)):
        head = (w @ h[n] + layer.head_bias).exp()
        head = head / head.sum()
        for y in range(layer.vocab_size):
            if y < c0:
                out[n, y] = head[y].log()
                continue
            i = max(k for k in range(len(layer.cutoffs)) if bounds[k] <= y)
            proj, emit = layer.tails[i]
            tail = (emit.weight @ (proj.weight @ h[n])).exp()
            out[n, y] = (head[c0 + i] * tail[y - bounds[i]] / tail.sum()).log()
    return out


def test_adaptive_log_probs_sum_to_one_and_match_a_straightforward_reference() -> None:
    layer = _adaptive(torch.float64)
    h = torch.randn(7, 16, dtype=torch.float64)
    lp = layer.log_prob(h)
    assert lp.shape == (7, 50)
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(lp, _reference_log_prob(layer, h))


def test_adaptive_equals_torch_adaptive_log_softmax_with_the_same_weights() -> None:
    layer = _adaptive()
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 50, [6, 20, 35], div_value=2.0, head_bias=True)
    with torch.no_grad():
        ref.head.weight.copy_(torch.cat([layer.shortlist_weight, layer.cluster_weight]))
        ref.head.bias.copy_(layer.head_bias)
        for ours, theirs in zip(layer.tails, ref.tail, strict=True):
            theirs[0].weight.copy_(ours[0].weight)
            theirs[1].weight.copy_(ours[1].weight)
    h, y = torch.randn(40, 16), torch.randint(0, 50, (40,))
    torch.testing.assert_close(layer.log_prob(h), ref.log_prob(h))
    torch.testing.assert_close(layer.loss(h, y), ref(h, y).loss)
    per_row = layer.loss(h, y, reduction="none")
    torch.testing.assert_close(per_row, -layer.log_prob(h).gather(1, y[:, None]).squeeze(1))
    assert torch.equal(layer.predict(h), ref.predict(h))


def test_default_cutoffs_rule_and_bad_cutoffs() -> None:
    assert default_cutoffs(10000) == (2000, 8000)
    assert default_cutoffs(50) == (10, 40)
    assert default_cutoffs(267735) == (20000, 80000)
    assert default_cutoffs(3) == (1,)
    for bad in ((0, 5), (8, 4), (5, 50)):
        with pytest.raises(ValueError, match="`cutoffs` must be increasing"):
            AdaptiveSoftmaxOutput(8, 50, bad)
    with pytest.raises(ValueError, match="vocab_size"):
        default_cutoffs(1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_cross_entropy_equals_the_plain_one(dtype: torch.dtype, reduction: str) -> None:
    torch.manual_seed(1)
    h = torch.randn(37, 8, dtype=dtype, requires_grad=True)  # 37 rows: a ragged last chunk
    w = torch.randn(50, 8, dtype=dtype, requires_grad=True)
    b = torch.randn(50, dtype=dtype, requires_grad=True)
    y = torch.randint(0, 50, (37,))
    got = chunked_cross_entropy(h, w, b, y, chunk_rows=5, reduction=reduction)
    want = F.cross_entropy(h @ w.t() + b, y, reduction=reduction)
    assert got.dtype == dtype
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 0}
    torch.testing.assert_close(got, want, **tol)
    g_got = torch.autograd.grad(2.5 * got, (h, w, b))  # a non-unit upstream gradient
    g_want = torch.autograd.grad(2.5 * want, (h, w, b))
    for a, e in zip(g_got, g_want, strict=True):
        torch.testing.assert_close(a, e, **tol)


def test_chunked_cross_entropy_under_bf16_autocast_stays_float32_and_close() -> None:
    torch.manual_seed(2)
    h = torch.randn(30, 16, requires_grad=True)
    w = torch.randn(40, 16, requires_grad=True)
    y = torch.randint(0, 40, (30,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = chunked_cross_entropy(h, w, None, y, chunk_rows=8)
    got.backward()
    assert got.dtype == torch.float32 and w.grad is not None and w.grad.dtype == torch.float32
    want = F.cross_entropy(h @ w.t(), y)
    torch.testing.assert_close(got, want, rtol=0.03, atol=0.03)  # bf16 matmuls: ~3 digits


def test_chunked_refuses_bad_arguments() -> None:
    h, w, y = torch.randn(4, 3), torch.randn(5, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="`chunk_rows` must be > 0"):
        chunked_cross_entropy(h, w, None, y, chunk_rows=0)
    with pytest.raises(ValueError, match="`reduction`"):
        chunked_cross_entropy(h, w, None, y, reduction="none")
    with pytest.raises(ValueError, match=r"`weight` must be \(V, 3\), got \(5, 4\)"):
        chunked_cross_entropy(h, torch.randn(5, 4), None, y)
    with pytest.raises(ValueError, match=r"target ids `y` must be in \[0, 5\), got 0..7"):
        chunked_cross_entropy(h, w, None, torch.tensor([0, 7, 1, 2]))
    with pytest.raises(ValueError, match="`output_layer` must be one of"):
        build_output("sampled", 3, 5)


@pytest.mark.parametrize("name", output_layer_names())
def test_every_output_layer_in_the_language_model(name: str) -> None:
    """forward's scores, log_prob and the targets= loss describe one distribution."""
    torch.manual_seed(0)
    model = LanguageModel(30, LMConfig(**TINY, output_layer=name)).eval()
    x, y = torch.randint(0, 30, (6, 3)), torch.randint(0, 30, (6, 3))
    scores, state = model(x)
    assert scores.shape == (6, 3, 30)
    loss, state2 = model(x, targets=y)
    torch.testing.assert_close(loss, F.cross_entropy(scores.flatten(0, 1), y.flatten()))
    hidden = model(x, return_hidden=True)[2][1]  # (T, B, H) dropped output
    torch.testing.assert_close(model.decoder.log_prob(hidden), F.log_softmax(scores, -1))
    assert torch.equal(model.decoder.predict(hidden), scores.argmax(-1))
    torch.testing.assert_close(state2, state)


@pytest.mark.parametrize("name", output_layer_names())
def test_tied_output_layers_share_the_embedding(name: str) -> None:
    model = LanguageModel(30, LMConfig(**TINY, output_layer=name, tie_weights=True))
    if name == "adaptive":  # the head's shortlist rows are the embedding's first rows
        assert model.decoder.shortlist_weight is model.embedding.weight
        tied = {id(p) for p in model.parameters()}
        assert len(tied) == len(list(model.parameters()))  # counted once
    else:
        assert model.decoder.weight is model.embedding.weight


def test_lm_config_checks_the_output_layer() -> None:
    with pytest.raises(ValueError, match="`output_layer` must be one of softmax, chunked"):
        LMConfig(output_layer="sampled")
    with pytest.raises(ValueError, match="`div_value` must be >= 1"):
        LMConfig(output_layer="adaptive", div_value=0.5)
    with pytest.raises(ValueError, match="`cutoffs` must be increasing"):
        LanguageModel(30, LMConfig(**TINY, output_layer="adaptive", cutoffs=(10, 40)))
