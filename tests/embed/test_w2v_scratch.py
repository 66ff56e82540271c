"""word2vec in NumPy: the hand gradient, the sampling rules, and the two engines agreeing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.embed.engine import NumpyEngine, TorchEngine
from rnnkit.scratch import w2v_sampling as S
from rnnkit.scratch.gradcheck import gradcheck
from rnnkit.scratch.word2vec import (
    cbow_loss_and_grad,
    dense_grads,
    init_weights,
    sg_loss_and_grad,
)

V, E, P, K, C = 12, 6, 9, 4, 4


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    w_in, w_out = rng.normal(0, 0.5, (V, E)), rng.normal(0, 0.5, (V, E))
    inputs, targets = rng.integers(0, V, P), rng.integers(0, V, P)
    negatives = rng.integers(0, V, (P, K))
    negatives[0, 1] = targets[0]  # a negative equal to its target: skipped
    contexts = rng.integers(0, V, (P, C))
    mask = (rng.random((P, C)) < 0.7).astype(np.float64)
    mask[:, 0] = 1.0  # every example has a context
    return w_in, w_out, inputs, targets, negatives, contexts, mask


def _torch_loss(w_in, w_out, h_fn, targets, negatives):
    """The negative-sampling loss written with autograd (the trusted reference)."""
    h = h_fn(w_in)  # (P, E)
    t = torch.as_tensor(targets)
    n = torch.as_tensor(negatives)
    pos = torch.nn.functional.logsigmoid((w_out[t] * h).sum(1))
    neg = torch.nn.functional.logsigmoid(-torch.einsum("pke,pe->pk", w_out[n], h))
    live = (n != t[:, None]).double()
    return -(pos.sum() + (neg * live).sum())


@pytest.mark.parametrize("model", ["sg", "cbow"])
def test_hand_gradient_matches_autograd_float64(model):
    w_in, w_out, inputs, targets, negatives, contexts, mask = _problem()
    a = torch.tensor(w_in, requires_grad=True)
    b = torch.tensor(w_out, requires_grad=True)
    if model == "sg":
        loss, d_in, d_out, rows = sg_loss_and_grad(w_in, w_out, inputs, targets, negatives)
        in_rows = inputs
        ref = _torch_loss(a, b, lambda w: w[torch.as_tensor(inputs)], targets, negatives)
    else:
        loss, d_in, d_out, rows = cbow_loss_and_grad(
            w_in, w_out, contexts, mask, targets, negatives
        )
        in_rows = contexts
        m = torch.as_tensor(mask)

        def mean(w):
            return (m[:, :, None] * w[torch.as_tensor(contexts)]).sum(1) / m.sum(1, keepdim=True)

        ref = _torch_loss(a, b, mean, targets, negatives)
    ref.backward()
    dw_in, dw_out = dense_grads((V, E), in_rows, d_in, rows, d_out)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dw_in, a.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw_out, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert np.abs(dw_out).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("model", ["sg", "cbow"])
def test_hand_gradient_matches_finite_differences(model):
    w_in, w_out, inputs, targets, negatives, contexts, mask = _problem(1)

    def loss_and_grads():
        if model == "sg":
            out = sg_loss_and_grad(w_in, w_out, inputs, targets, negatives)
            return out, inputs
        return cbow_loss_and_grad(w_in, w_out, contexts, mask, targets, negatives), contexts

    (loss, d_in, d_out, rows), in_rows = loss_and_grads()
    dw_in, dw_out = dense_grads((V, E), in_rows, d_in, rows, d_out)
    errors = gradcheck(
        lambda: loss_and_grads()[0][0],
        params={"w_in": w_in, "w_out": w_out},
        grads={"w_in": dw_in, "w_out": dw_out},
        max_entries=None,
    )
    assert max(errors.values()) < 1e-6, errors


def test_unigram_table_and_keep_probabilities_by_hand():
    counts = np.array([16, 1, 81])
    cdf = S.unigram_cdf(counts)
    total = 8 + 1 + 27  # 16**0.75, 1, 81**0.75
    np.testing.assert_allclose(cdf, [8 / total, 9 / total, 1.0])
    table = S.unigram_table(counts, size=36)
    np.testing.assert_array_equal(np.bincount(table, minlength=3), [8, 1, 27])
    assert list(table[:9]) == [0] * 8 + [1]  # table[i] = min{w : cdf[w] > i/T}
    rng = np.random.default_rng(0)
    draws = S.draw_negatives(S.unigram_table(counts), rng, (200_000,))
    np.testing.assert_allclose(np.bincount(draws) / 2e5, [8 / 36, 1 / 36, 27 / 36], atol=5e-3)
    # p_keep = (sqrt(f/(sN)) + 1) sN/f, capped at 1; N = 98, s = 0.01 -> sN = 0.98
    keep = S.keep_probabilities(counts, 0.01)
    expect = [(np.sqrt(f / 0.98) + 1) * 0.98 / f for f in (16, 1, 81)]
    np.testing.assert_allclose(keep, [expect[0], 1.0, expect[2]])
    assert expect[1] > 1 and 0 < keep[2] < keep[0] < 1
    np.testing.assert_array_equal(S.keep_probabilities(counts, 0), 1.0)


def test_dynamic_window_pairs_by_hand():
    # positions 0..5; sentences [0 0 0 0 | 1 1]; reach b = 2 1 1 2 1 2; window 2
    sentence = np.array([0, 0, 0, 0, 1, 1])
    pos, valid = S.window_pairs(sentence, np.array([2, 1, 1, 2, 1, 2]), 2)
    pairs = {(int(i), int(pos[i, j])) for i, j in zip(*np.nonzero(valid), strict=True)}
    assert pairs == {
        (0, 1), (0, 2),  # b=2: right side only (start of sentence)
        (1, 0), (1, 2),
        (2, 1), (2, 3),
        (3, 1), (3, 2),  # b=2, but the sentence ends at 3
        (4, 5),
        (5, 4),  # b=2, only one word before it in its sentence
    }  # fmt: skip


def test_batch_of_a_fixed_seed_by_hand():
    """make_batch's draws in order: keep, reach, negatives (one generator per chunk)."""
    ids = np.array([3, 1, 4, 1, 5])
    sentence = np.zeros(5, dtype=np.int32)
    keep = np.ones(6)
    table = S.unigram_table(np.ones(6), size=6)  # table[i] = i
    batch = S.make_batch(
        ids, sentence, np.random.default_rng(7), keep=keep, table=table, window=2,
        negative=2, cbow=False,
    )  # fmt: skip
    rng = np.random.default_rng(7)
    rng.random(5)
    reach = rng.integers(1, 3, size=5)
    expect = [
        (ids[j], ids[i]) for i in range(5) for j in range(5)
        if j != i and abs(i - j) <= reach[i]
    ]  # fmt: skip  # (input = context, target = centre), centre-major
    assert [(int(a), int(b)) for a, b in zip(batch.inputs, batch.targets, strict=True)] == expect
    np.testing.assert_array_equal(batch.negatives.ravel(), rng.integers(0, 6, 2 * len(expect)))
    assert batch.words == 5


def test_chunks_are_whole_sentences():
    starts = np.array([0, 3, 5, 12, 13])
    np.testing.assert_array_equal(S.chunk_bounds(starts, 5), [0, 5, 12, 13])
    np.testing.assert_array_equal(S.chunk_bounds(starts, 100), [0, 13])


def test_vocab_order_frequency_then_first_appearance():
    counts = np.array([2, 5, 2, 1, 5])
    np.testing.assert_array_equal(S.vocab_order(counts, 2), [1, 4, 0, 2])
    np.testing.assert_array_equal(S.vocab_order(counts, 1, max_vocab=3), [1, 4, 0])


def _batches(model: str, n: int = 4):
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 40, 600).astype(np.int32)
    sentence = np.repeat(np.arange(30), 20).astype(np.int32)
    counts = np.bincount(ids, minlength=40) + 1
    it = S.iter_batches(
        ids, sentence, S.chunk_bounds(np.arange(0, 601, 20), 150),
        keep=S.keep_probabilities(counts, 0.01), table=S.unigram_table(counts), window=3,
        negative=5, cbow=model == "cbow", seed=0, epoch=0,
    )  # fmt: skip
    return [b for _, b in it][:n]


@pytest.mark.parametrize("model", ["sg", "cbow"])
def test_numpy_and_torch_engines_agree(model):
    w_in, w_out = init_weights(40, 16, np.random.default_rng(0), np.float64)
    batches = _batches(model)
    assert sum(len(b.targets) for b in batches) > 100
    engines64 = [NumpyEngine(w_in, w_out, np.float64),
                 TorchEngine(w_in, w_out, dtype=torch.float64, kernel=False)]  # fmt: skip
    engines32 = [NumpyEngine(w_in, w_out), TorchEngine(w_in, w_out, kernel=False)]
    kernel = TorchEngine(w_in, w_out, threads=2)  # the C kernel, if a compiler is here
    for step, batch in enumerate(batches * 3):
        alpha = 0.025 * (1 - step / 12)
        losses = [e.step(batch, alpha, True) for e in [*engines64, *engines32, kernel]]
        assert losses[1] == pytest.approx(losses[0], rel=1e-10)
        assert losses[4] == pytest.approx(losses[0], rel=1e-4)
    ref = engines64[0].weights()[0]
    assert np.abs(ref - w_in).max() > 1e-3  # training moved the vectors
    np.testing.assert_allclose(engines64[1].weights()[0], ref, rtol=0, atol=1e-12)
    for e in [*engines32, kernel]:
        np.testing.assert_allclose(e.weights()[0], ref, rtol=0, atol=1e-5)
        np.testing.assert_allclose(e.weights()[1], engines64[0].weights()[1], atol=1e-5)
