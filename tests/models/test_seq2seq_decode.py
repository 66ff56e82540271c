"""Decoding: beam search finds the known best where greedy misses it, beam 1 == greedy,
length penalty, n-best, max length relative to the source, batching, sampling."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnkit.models.seq2seq import DecoderState, Memory, Seq2Seq, Seq2SeqConfig
from rnnkit.models.seq2seq_decode import beam_search, decode, greedy_search, sample_search

BOS, EOS, A, B, C = 2, 3, 4, 5, 6
V = 7


class Automaton(nn.Module):
    """A hand-built "model": the state is a node of a graph; each node has fixed
    next-token probabilities ``probs[node]`` and successors ``succ[node][token]``."""

    def __init__(self, probs: dict[int, dict[int, float]], succ: dict[int, dict[int, int]]):
        super().__init__()
        table = torch.full((len(probs), V), float("-inf"), dtype=torch.double)
        nxt = torch.zeros(len(probs), V, dtype=torch.long)
        for node, dist in probs.items():
            for tok, p in dist.items():
                table[node, tok] = math.log(p)
                nxt[node, tok] = succ.get(node, {}).get(tok, node)
        self.table, self.next = table, nxt
        self.steps = 0

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[DecoderState, Memory]:
        S, Bn = src.shape
        node = torch.zeros(1, Bn, 1)  # (L_d=1, B, 1) the node id, as a float "hidden state"
        mask = torch.arange(S)[:, None] < lengths[None]
        return DecoderState(node, torch.zeros(Bn, 0)), Memory(torch.zeros(S, Bn, 1), mask, None)

    def step(self, tokens: torch.Tensor, state: DecoderState, memory: Memory):
        self.steps += 1
        node = state.rnn[0, :, 0].long()  # (B,)
        moved = torch.where(tokens == BOS, node, self.next[node, tokens])
        return self.table[moved], DecoderState(moved.double()[None, :, None], state.feed), None


def _src(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((max(lengths), len(lengths)), 4), torch.tensor(lengths)


KW = {"bos_id": BOS, "eos_id": EOS, "max_len_a": 0.0, "max_len_b": 6}


def test_beam_finds_the_known_best_sequence_that_greedy_misses() -> None:
    # node 0: A 0.6, B 0.4; after A (node 1): A/B/C about a third each, then <eos>;
    # after B (node 2): <eos> 0.99. Greedy: A A <eos> = 0.6*0.34; best: B <eos> = 0.396.
    probs = {
        0: {A: 0.6, B: 0.4},
        1: {A: 0.34, B: 0.33, C: 0.33},
        2: {EOS: 0.99, C: 0.01},
        3: {EOS: 1.0},
    }
    succ = {0: {A: 1, B: 2}, 1: {A: 3, B: 3, C: 3}, 2: {C: 3}}
    model = Automaton(probs, succ)
    src, lengths = _src([3, 2])
    greedy = greedy_search(model, src, lengths, return_attention=False, **KW)
    assert greedy[0].tokens[0] == A and greedy[0].score == pytest.approx(math.log(0.6 * 0.34))
    beam = beam_search(model, src, lengths, beam_size=2, n_best=2, **KW)
    assert [h.tokens for h in beam[0]] == [[B], greedy[0].tokens]
    assert beam[0][0].score == pytest.approx(math.log(0.396))
    assert beam[1][0].tokens == [B]  # every row of the batch
    assert beam_search(model, src, lengths, beam_size=1, **KW)[0][0].tokens == greedy[0].tokens


def test_length_penalty_favours_longer_output() -> None:
    # <eos> at once: 0.4; "A A <eos>" (or "B A <eos>"): 0.3 * 0.99 * 0.99 = 0.294.
    probs = {0: {EOS: 0.4, A: 0.3, B: 0.3}, 1: {A: 0.99, EOS: 0.01}, 2: {EOS: 0.99, C: 0.01}}
    probs[3] = {EOS: 1.0}
    succ = {0: {A: 1, B: 1}, 1: {A: 2}, 2: {C: 3}}
    model = Automaton(probs, succ)
    src, lengths = _src([2])
    plain = beam_search(model, src, lengths, beam_size=2, length_penalty=0.0, n_best=2, **KW)[0]
    assert plain[0].tokens == [] and plain[0].score == pytest.approx(math.log(0.4))
    assert plain[1].tokens in ([A, A], [B, A])
    long = beam_search(model, src, lengths, beam_size=2, length_penalty=2.0, n_best=2, **KW)[0]
    assert {tuple(h.tokens) for h in long} == {(A, A), (B, A)}  # both now outrank <eos>
    assert long[0].score == pytest.approx(math.log(0.3 * 0.99 * 0.99))  # the raw log-prob
    assert greedy_search(model, src, lengths, **KW)[0].tokens == []


def test_max_length_is_relative_to_the_source() -> None:
    model = Automaton({0: {A: 0.5, B: 0.4999, EOS: 0.0001}}, {})  # never wants to stop
    src, lengths = _src([4, 2])
    kw = {**KW, "max_len_a": 1.5, "max_len_b": 1}  # at most 7 and 4 tokens
    for hyps in (
        [h[0] for h in beam_search(model, src, lengths, beam_size=2, **kw)],
        greedy_search(model, src, lengths, return_attention=False, **kw),
        sample_search(model, src, lengths, return_attention=False, **kw),
    ):
        assert [len(h.tokens) for h in hyps] == [7, 4]  # cut there, without <eos>
        assert not any(h.ended for h in hyps)
    model.steps = 0
    greedy_search(model, src, lengths, return_attention=False, **kw)
    assert model.steps == 7  # one step per token: the state is carried, not recomputed


@pytest.fixture(scope="module")
def model() -> Seq2Seq:
    torch.manual_seed(0)
    config = Seq2SeqConfig(12, 9, embedding_dim=8, hidden_size=8, dropout=0.0, num_layers=2)
    return Seq2Seq(config).eval()


def _random_src() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 12, (6, 4), generator=g)
    lengths = torch.tensor([6, 3, 5, 1])
    src[torch.arange(6)[:, None] >= lengths[None]] = 0
    return src, lengths


def test_beam_one_equals_greedy_exactly(model: Seq2Seq) -> None:
    src, lengths = _random_src()
    kw = {**KW, "max_len_a": 2.0, "max_len_b": 3}
    greedy = greedy_search(model, src, lengths, return_attention=True, **kw)
    beam = beam_search(model, src, lengths, beam_size=1, return_attention=True, **kw)
    for g, (b,) in zip(greedy, beam, strict=True):
        assert g.tokens == b.tokens and g.score == pytest.approx(b.score, abs=1e-9)
        torch.testing.assert_close(g.attention, b.attention)


def test_batched_beam_equals_one_sentence_at_a_time(model: Seq2Seq) -> None:
    src, lengths = _random_src()
    batched = beam_search(model, src, lengths, beam_size=3, n_best=2, return_attention=True, **KW)
    for b, n in enumerate(lengths.tolist()):
        alone = beam_search(
            model, src[:n, b : b + 1], lengths[b : b + 1], beam_size=3, n_best=2,
            return_attention=True, **KW,
        )[0]  # fmt: skip
        assert [h.tokens for h in alone] == [h.tokens for h in batched[b]]
        for x, y in zip(alone, batched[b], strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-5)
            assert x.attention.shape == (len(x.tokens) + x.ended, n)
            torch.testing.assert_close(x.attention, y.attention, atol=1e-5, rtol=1e-4)


def test_beam_score_never_below_greedy(model: Seq2Seq) -> None:
    src, lengths = _random_src()
    greedy = greedy_search(model, src, lengths, return_attention=False, **KW)
    beam = beam_search(model, src, lengths, beam_size=4, **KW)
    for g, (b,) in zip(greedy, beam, strict=True):
        assert b.score >= g.score - 1e-6


def test_sampling_is_reproducible_and_degenerates_to_greedy(model: Seq2Seq) -> None:
    src, lengths = _random_src()
    greedy = [h.tokens for h in greedy_search(model, src, lengths, return_attention=False, **KW)]
    top1 = sample_search(model, src, lengths, top_k=1, return_attention=False, **KW)
    assert [h.tokens for h in top1] == greedy
    kw = {**KW, "temperature": 2.0, "return_attention": False}
    draws = [
        [
            h.tokens
            for h in sample_search(
                model, src, lengths, generator=torch.Generator().manual_seed(s), **kw
            )
        ]
        for s in (0, 0, 1, 2)
    ]
    assert draws[0] == draws[1]
    assert any(d != draws[0] for d in draws[2:])


def test_decode_front_end_checks_and_restores_mode(model: Seq2Seq) -> None:
    src, lengths = _random_src()
    model.train()
    out = decode(model, src, lengths, method="beam", beam_size=2, n_best=2, **KW)
    assert model.training and len(out) == 4 and all(len(h) == 2 for h in out)
    model.eval()
    with pytest.raises(ValueError, match="`method`"):
        decode(model, src, lengths, method="nucleus", **KW)
    with pytest.raises(ValueError, match="`n_best`"):
        decode(model, src, lengths, beam_size=2, n_best=3, **KW)
