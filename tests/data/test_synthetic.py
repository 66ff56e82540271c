"""The synthetic tasks: each generator checked against its definition written as a loop,
with tiny hand-checked examples, and the exact accuracies."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.synthetic import (
    IGNORE,
    adding,
    adding_accuracy,
    mqar,
    parity,
    selective_copy,
    token_accuracy,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_mqar_hand_checked_example():
    b = mqar(2, num_pairs=3, num_queries=2, num_keys=4, num_values=3, generator=gen())
    # checked by hand: row 0 pairs (3,6) (4,5) (1,7), queries 3 -> 6, 4 -> 5
    assert b.inputs[:, 0].tolist() == [3, 6, 4, 5, 1, 7, 3, 4]
    assert b.targets[:, 0].tolist() == [IGNORE] * 6 + [6, 5]


def test_mqar_matches_its_definition():
    N, Q, K, V = 6, 4, 10, 5
    b = mqar(16, num_pairs=N, num_queries=Q, num_keys=K, num_values=V, generator=gen(1))
    assert b.inputs.shape == b.targets.shape == (2 * N + Q, 16)
    for row in b.inputs.T.tolist():
        keys, values = row[0 : 2 * N : 2], row[1 : 2 * N : 2]
        assert len(set(keys)) == N and all(1 <= k <= K for k in keys)
        assert all(K < v <= K + V for v in values)
        queries = row[2 * N :]
        assert len(set(queries)) == Q and set(queries) <= set(keys)
    for row, target in zip(b.inputs.T.tolist(), b.targets.T.tolist(), strict=True):
        table = dict(zip(row[0 : 2 * N : 2], row[1 : 2 * N : 2], strict=True))
        assert target[: 2 * N] == [IGNORE] * (2 * N)
        assert target[2 * N :] == [table[q] for q in row[2 * N :]]


def test_selective_copy_matches_its_definition():
    b = selective_copy(16, length=20, num_tokens=5, vocab=4, generator=gen(2))
    assert b.inputs.shape == (25, 16)
    for row, target in zip(b.inputs.T.tolist(), b.targets.T.tolist(), strict=True):
        data = [t for t in row[:20] if t != 0]
        assert len(data) == 5 and all(2 <= t <= 5 for t in data)
        assert row[20:] == [1] * 5
        assert target == [IGNORE] * 20 + data  # the data tokens, in order


def test_selective_copy_hand_checked_example():
    b = selective_copy(1, length=6, num_tokens=2, vocab=3, generator=gen(5))
    row, target = b.inputs[:, 0].tolist(), b.targets[:, 0].tolist()
    data = [t for t in row[:6] if t]
    assert row[6:] == [1, 1] and target == [IGNORE] * 6 + data


def test_parity_matches_its_definition():
    b = parity(8, length=9, generator=gen(3))
    for bits, target in zip(b.inputs.T.tolist(), b.targets.T.tolist(), strict=True):
        assert set(bits) <= {0, 1}
        assert target == [sum(bits[: t + 1]) % 2 for t in range(9)]


def test_adding_matches_its_definition():
    T = 10
    b = adding(32, length=T, generator=gen(4))
    assert b.inputs.shape == (T, 32, 2) and b.targets.shape == (32,)
    marks = b.inputs[..., 1]
    assert (marks.sum(0) == 2).all()
    assert (marks[: T // 2].sum(0) == 1).all() and (marks[T // 2 :].sum(0) == 1).all()
    torch.testing.assert_close(b.targets, (b.inputs[..., 0] * marks).sum(0))


def test_accuracies_by_hand():
    targets = torch.tensor([[IGNORE, 2], [0, IGNORE]])  # (T, B): two answer steps
    logits = torch.zeros(2, 2, 3)
    logits[0, 1, 2] = 1.0  # right
    logits[1, 0, 1] = 1.0  # wrong (answer 0)
    assert token_accuracy(logits, targets) == 0.5
    pred, target = torch.tensor([1.0, 1.05, 0.5]), torch.tensor([1.03, 1.0, 0.0])
    assert adding_accuracy(pred, target) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mqar(2, num_pairs=5, num_keys=4), r"num_pairs <= num_keys"),
        (lambda: mqar(2, num_pairs=3, num_queries=4), r"num_queries <= num_pairs"),
        (lambda: selective_copy(2, length=3, num_tokens=4), r"`num_tokens` must be <= `length`"),
        (lambda: parity(0), r"`batch` must be an int >= 1, got 0"),
        (lambda: adding(2, length=1), r"`length` must be an int >= 2, got 1"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_same_seed_same_batch():
    a, b = parity(4, generator=gen(7)), parity(4, generator=gen(7))
    assert torch.equal(a.inputs, b.inputs)
