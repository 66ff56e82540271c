"""Beam search on hand-built decoders whose best sequences are known."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import pytest
import torch

from rnnkit.decoding.beam import beam_search, greedy_search, length_penalty_factor
from rnnkit.decoding.state import expand_state, reorder_state

BOS, EOS, A, B = 0, 1, 2, 3


def markov_step(probs: dict[int, list[float]]):
    """First-order decoder: log P(next | current token) from a hand-written table."""
    table = torch.full((4, 4), float("-inf"))
    for token, row in probs.items():
        table[token] = torch.tensor(row).log()

    def step(tokens, state):
        return table[tokens], state  # (N, V)

    return step


class MState(NamedTuple):
    prev: torch.Tensor  # (1, N) the token before the current one
    row: torch.Tensor  # (1, N) which batch row (selects its own table)


def second_order(rows: int, vocab: int = 4, seed: int = 0):
    """Random second-order decoders, one per row: log P(next | prev, current); bos never
    generated. Its answers depend on the state, so a wrong reorder would show."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, vocab, vocab, generator=gen) * 2
    logits[..., BOS] = float("-inf")
    tables = logits.log_softmax(-1)  # (R, V, V, V)

    def step(tokens, state: MState):
        log_probs = tables[state.row[0], state.prev[0], tokens]  # (N, V)
        onehot = torch.nn.functional.one_hot(tokens, vocab).float()  # extra output (N, V)
        return log_probs, MState(tokens.unsqueeze(0), state.row), onehot

    def init(row_ids):
        row_ids = torch.as_tensor(row_ids)
        return MState(torch.full((1, len(row_ids)), BOS), row_ids.unsqueeze(0))

    return step, init, tables


def brute_force(tables, row: int, max_len: int) -> list[tuple[float, list[int]]]:
    """Every hypothesis (ends with eos, or cut at max_len), sorted by log-probability."""
    out = []
    for n in range(1, max_len + 1):
        for body in itertools.product([EOS, A, B], repeat=n):
            if EOS in body[:-1]:
                continue
            seq, prev, cur, lp = list(body), BOS, BOS, 0.0
            for tok in seq:
                lp += float(tables[row, prev, cur, tok])
                prev, cur = cur, tok
            if seq[-1] == EOS or n == max_len:
                out.append((lp, seq))
    return sorted(out, key=lambda x: -x[0])


def test_beam_finds_the_best_sequence_greedy_misses():
    step = markov_step({BOS: [0, 0, 0.55, 0.45], A: [0, 0.4, 0.3, 0.3], B: [0, 0.9, 0.05, 0.05]})
    greedy = greedy_search(step, None, 1, BOS, EOS, max_len=5)[0][0]
    assert greedy.tokens == [A, EOS] and math.isclose(
        greedy.log_prob, math.log(0.55 * 0.4), rel_tol=1e-5
    )
    best = beam_search(step, None, 1, BOS, EOS, beam_size=2, max_len=5)[0][0]
    assert best.tokens == [B, EOS]
    assert math.isclose(best.log_prob, math.log(0.45 * 0.9), rel_tol=1e-5)


def test_exhaustive_beam_equals_brute_force_with_state_reordering():
    step, init, tables = second_order(rows=2, seed=1)
    hyps = beam_search(step, init([0, 1]), 2, BOS, EOS, beam_size=16, max_len=4, n_best=5,
                       length_penalty=0.0)  # fmt: skip
    for row in range(2):
        expected = brute_force(tables, row, 4)[:5]
        assert [h.tokens for h in hyps[row]] == [seq for _, seq in expected]
        for h, (lp, _) in zip(hyps[row], expected, strict=True):
            assert math.isclose(h.log_prob, lp, rel_tol=1e-4) and h.score == h.log_prob


def test_n_best_sorted_and_extras_follow_each_hypothesis():
    step, init, _ = second_order(rows=1, seed=2)
    hyps = beam_search(step, init([0]), 1, BOS, EOS, beam_size=4, max_len=6, n_best=4)[0]
    scores = [h.score for h in hyps]
    assert len(hyps) == 4 and scores == sorted(scores, reverse=True)
    assert len({tuple(h.tokens) for h in hyps}) == 4
    for h in hyps:  # extras: one-hot of the input fed at each step = [bos] + tokens[:-1]
        assert h.extras.shape == (len(h.tokens), 4)
        assert h.extras.argmax(-1).tolist() == [BOS, *h.tokens[:-1]]


@pytest.mark.parametrize("seed", range(4))
def test_beam_one_equals_greedy_exactly(seed):
    step, init, _ = second_order(rows=3, seed=seed)
    for alpha, penalty in ((0.0, "gnmt"), (1.0, "gnmt"), (0.7, "simple")):
        kwargs = dict(max_len=7, length_penalty=alpha, penalty=penalty)
        beam = beam_search(step, init([0, 1, 2]), 3, BOS, EOS, beam_size=1, **kwargs)
        greedy = greedy_search(step, init([0, 1, 2]), 3, BOS, EOS, **kwargs)
        for b_hyp, g_hyp in zip(beam, greedy, strict=True):
            assert b_hyp[0].tokens == g_hyp[0].tokens
            assert b_hyp[0].score == g_hyp[0].score and b_hyp[0].log_prob == g_hyp[0].log_prob
            assert torch.equal(b_hyp[0].extras, g_hyp[0].extras)


def test_length_penalty_changes_the_choice():
    # [eos]: 0.5 (log -0.69, length 1); [a, eos]: 0.45 * 0.8 = 0.36 (log -1.02, length 2)
    step = markov_step({BOS: [0, 0.5, 0.45, 0.05], A: [0, 0.8, 0.1, 0.1], B: [0, 0.5, 0.25, 0.25]})
    plain = beam_search(step, None, 1, BOS, EOS, beam_size=2, max_len=5, length_penalty=0.0)[0][0]
    assert plain.tokens == [EOS]
    simple = beam_search(step, None, 1, BOS, EOS, beam_size=2, max_len=5, length_penalty=1.0,
                         penalty="simple")[0][0]  # fmt: skip
    assert simple.tokens == [A, EOS]
    assert math.isclose(simple.score, math.log(0.36) / 2, rel_tol=1e-5)
    gnmt = beam_search(step, None, 1, BOS, EOS, beam_size=2, max_len=5, length_penalty=4.0)[0][0]
    assert gnmt.tokens == [A, EOS]
    assert math.isclose(length_penalty_factor(2, 1.0, "gnmt"), 7 / 6)


def test_batched_rows_are_independent_and_max_len_per_row():
    step, init, _ = second_order(rows=3, seed=3)
    max_len = torch.tensor([2, 6, 4])
    batch = beam_search(step, init([0, 1, 2]), 3, BOS, EOS, beam_size=3, max_len=max_len, n_best=2)
    for row in range(3):
        alone = beam_search(step, init([row]), 1, BOS, EOS, beam_size=3,
                            max_len=int(max_len[row]), n_best=2)[0]  # fmt: skip
        assert [h.tokens for h in batch[row]] == [h.tokens for h in alone]
        assert all(len(h.tokens) <= int(max_len[row]) for h in batch[row])


def test_state_helpers_tile_and_reorder_named_tuples():
    state = MState(torch.tensor([[10, 20]]), torch.tensor([[0, 1]]))  # batch on dim 1
    tiled = expand_state(state, 3)
    assert isinstance(tiled, MState) and tiled.prev.tolist() == [[10, 10, 10, 20, 20, 20]]
    picked = reorder_state(tiled, torch.tensor([5, 0]))
    assert picked.prev.tolist() == [[20, 10]] and picked.row.tolist() == [[1, 0]]
    assert expand_state(None, 3) is None


def test_argument_errors():
    step = markov_step({BOS: [0, 1.0, 0, 0]})
    with pytest.raises(ValueError, match="`n_best` must be in"):
        beam_search(step, None, 1, BOS, EOS, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="`penalty`"):
        beam_search(step, None, 1, BOS, EOS, penalty="wu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`max_len` tensor must be \(B,\)"):
        beam_search(step, None, 2, BOS, EOS, max_len=torch.tensor([3]))
    with pytest.raises(ValueError, match="beam_size = n_best = 1"):
        greedy_search(step, None, 1, BOS, EOS, beam_size=2)
