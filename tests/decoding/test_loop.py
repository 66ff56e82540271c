"""sample_loop(): the one sampling loop behind LM generation and seq2seq greedy/sampling."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

import rnnkit.decoding.beam as beam_module
import rnnkit.models.seq2seq_decode as seq2seq_decode
from rnnkit.decoding.beam import beam_search, greedy_search
from rnnkit.decoding.generate import generate
from rnnkit.decoding.loop import Sample, sample_loop
from rnnkit.decoding.sampling import sample
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

BOS, EOS = 2, 3
# the module, not the function of the same name that rnnkit.decoding exports
generate_module = importlib.import_module("rnnkit.decoding.generate")


def _cycle_step(vocab: int = 4):
    table = torch.eye(vocab).roll(1, dims=1) * 20.0  # i -> i + 1 (mod V), nearly surely

    def step(x, state):
        onehot = nn.functional.one_hot(x, vocab).float()  # extra output (B, V)
        return table[x].log_softmax(-1), state, onehot

    return step


def test_rows_stop_at_stop_ids_or_their_own_max_len_and_keep_their_extras():
    step = _cycle_step()
    first = torch.tensor([0, 1, 2])
    kept = sample_loop(
        step, first, None, torch.tensor([5, 5, 1]), temperature=0, stop_ids=[3], include_stop=True
    )
    assert [s.tokens for s in kept] == [[1, 2, 3], [2, 3], [3]]
    assert [s.stopped for s in kept] == [True, True, True]
    dropped = sample_loop(step, first, None, torch.tensor([5, 5, 1]), temperature=0, stop_ids=[3])
    assert [s.tokens for s in dropped] == [[1, 2], [2], []]
    cut = sample_loop(step, first, None, torch.tensor([2, 0, 4]), temperature=0)
    assert [s.tokens for s in cut] == [[1, 2], [], [3, 0, 1, 2]]
    assert not any(s.stopped for s in cut)
    # extras: the input fed at each step, one row per step the row took
    assert kept[0].extras.argmax(-1).tolist() == [0, 1, 2]
    assert cut[2].extras.argmax(-1).tolist() == [2, 3, 0, 1]
    assert all(s.log_prob == pytest.approx(0.0, abs=1e-6) for s in kept)  # sure steps


def test_step_is_called_once_per_position_and_never_after_the_last():
    calls = []

    def step(x, state):
        calls.append(x.shape)
        return torch.tensor([[0.0, 5.0, 0.0]]).expand(x.shape[-1], -1), state

    out = sample_loop(step, torch.tensor([[0, 0], [0, 0]]), None, 3, temperature=0)  # (T, B)
    assert out == [Sample([1, 1, 1], out[0].log_prob), Sample([1, 1, 1], out[1].log_prob)]
    assert calls == [(2, 2), (2,), (2,)]  # the prompt in one call, then one token at a time


def test_temperature_zero_is_argmax_and_never_touches_the_generator():
    torch.manual_seed(0)
    logits = torch.randn(6, 11)
    gen = torch.Generator().manual_seed(5)
    before = gen.get_state()
    step = lambda x, state: (logits, state)  # noqa: E731
    out = sample_loop(
        step,
        torch.zeros(6, dtype=torch.long),
        None,
        4,
        temperature=0,
        top_k=3,
        top_p=0.5,
        generator=gen,
    )
    assert torch.equal(gen.get_state(), before)
    assert [s.tokens for s in out] == [[t] * 4 for t in logits.argmax(-1).tolist()]


def test_argument_errors():
    step = _cycle_step()
    with pytest.raises(ValueError, match="decode"):
        sample_loop(step, torch.tensor([0]), None, 3, stop_strings=["x"])
    with pytest.raises(ValueError, match=r"`max_len` tensor must be \(B,\)"):
        sample_loop(step, torch.tensor([0, 1]), None, torch.tensor([3]))
    with pytest.raises(ValueError, match="`max_len` must be >= 0"):
        sample_loop(step, torch.tensor([0]), None, -1)
    with pytest.raises(ValueError, match=r"expected \(2, V\)"):
        sample_loop(lambda x, s: (torch.zeros(3, 4), s), torch.tensor([0, 1]), None, 2)
    with pytest.raises(ValueError, match="must return"):
        sample_loop(lambda x, s: torch.zeros(1, 4), torch.tensor([0]), None, 2)


def _seq2seq() -> tuple[Seq2Seq, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    config = Seq2SeqConfig(12, 9, embedding_dim=8, hidden_size=8, dropout=0.0, num_layers=2)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 12, (6, 4), generator=g)
    lengths = torch.tensor([6, 3, 5, 1])
    src[torch.arange(6)[:, None] >= lengths[None]] = 0
    return Seq2Seq(config).eval(), src, lengths


def test_greedy_equals_temperature_zero_equals_beam_one_on_a_random_seq2seq():
    model, src, lengths = _seq2seq()
    kw = {"bos_id": BOS, "eos_id": EOS, "max_len_a": 2.0, "max_len_b": 3}
    kw["return_attention"] = True
    greedy = seq2seq_decode.greedy_search(model, src, lengths, **kw)
    temp0 = seq2seq_decode.sample_search(model, src, lengths, temperature=0.0, **kw)
    beam1 = [h[0] for h in seq2seq_decode.beam_search(model, src, lengths, beam_size=1, **kw)]
    assert len({tuple(h.tokens) for h in greedy}) > 1  # rows differ: a real check
    for g, t, b in zip(greedy, temp0, beam1, strict=True):
        assert g.tokens == t.tokens == b.tokens and g.ended == t.ended == b.ended
        assert g.score == t.score == b.score  # summed the same way, bit for bit
        assert torch.equal(g.attention, t.attention) and torch.equal(g.attention, b.attention)


def test_greedy_equals_temperature_zero_equals_beam_one_on_a_random_lm():
    torch.manual_seed(0)
    emb, rnn, head = nn.Embedding(7, 8), nn.GRU(8, 16), nn.Linear(16, 7)

    def step(ids, h):  # (T, B) -> (T, B, V)
        out, h = rnn(emb(ids), h)
        return head(out).log_softmax(-1), h

    def token_step(tokens, h):  # (B,) -> (B, V), the beam search contract
        log_probs, h = step(tokens.unsqueeze(0), h)
        return log_probs[0], h

    for first in (1, 4, 5):
        with torch.no_grad():
            lm = generate(step, torch.tensor([first]), None, 12, temperature=0.0)[0]
            g = greedy_search(token_step, None, 1, first, EOS, max_len=12)[0][0]
            b = beam_search(token_step, None, 1, first, EOS, beam_size=1, max_len=12)[0][0]
        assert g.tokens == b.tokens and g.log_prob == b.log_prob and g.score == b.score
        assert (lm + [EOS])[: len(g.tokens)] == g.tokens  # generate has no stop id here


def test_lm_and_seq2seq_decoding_run_through_the_same_loop(monkeypatch):
    assert generate_module.sample_loop is sample_loop
    assert seq2seq_decode.sample_loop is sample_loop
    assert beam_module.sample_loop is sample_loop
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("temperature"))
        return sample_loop(*args, **kwargs)

    for module in (generate_module, seq2seq_decode, beam_module):
        monkeypatch.setattr(module, "sample_loop", spy)
    step = lambda ids, state: (torch.zeros(ids.shape[0], ids.shape[1], 5), state)  # noqa: E731
    generate(step, torch.tensor([0]), None, 2, temperature=0.5)
    model, src, lengths = _seq2seq()
    kw = {"bos_id": BOS, "eos_id": EOS, "max_len_a": 0.0, "max_len_b": 2}
    seq2seq_decode.greedy_search(model, src, lengths, **kw)
    seq2seq_decode.sample_search(model, src, lengths, temperature=2.0, **kw)
    seq2seq_decode.decode(model, src, lengths, method="greedy", **kw)
    greedy_search(_cycle_step(), None, 1, 0, 3, max_len=2)
    assert seen == [0.5, 0.0, 2.0, 0.0, 0]


def _old_seq2seq_sampling(model, src, lengths, limit, gen, **kw) -> list[list[int]]:
    """The loop seq2seq_decode.sample_search had before it used sample_loop."""
    state, memory = seq2seq_decode.start_search(model, src, lengths)
    step = seq2seq_decode.make_step(model, memory)
    tokens = torch.full((src.shape[1],), BOS)
    out, open_rows = [[] for _ in range(src.shape[1])], set(range(src.shape[1]))
    for t in range(max(limit)):
        log_probs, state, _ = step(tokens, state)
        tokens = sample(log_probs, generator=gen, **kw)
        for b, tok in enumerate(tokens.tolist()):
            if b in open_rows:
                out[b].append(tok)
                if tok == EOS or t + 1 >= limit[b]:
                    open_rows.discard(b)
        if not open_rows:
            break
    return [row[:-1] if row[-1] == EOS else row for row in out]


@pytest.mark.parametrize(
    "settings",
    [{"temperature": 1.0}, {"temperature": 2.0, "top_k": 5}, {"temperature": 0.8, "top_p": 0.9}],
)
def test_the_same_seed_gives_the_same_translation_as_the_old_loop(settings):
    model, src, lengths = _seq2seq()
    limit = [int(n) * 2 + 3 for n in lengths]
    kw = {"bos_id": BOS, "eos_id": EOS, "max_len_a": 2.0, "max_len_b": 3}
    for seed in range(3):
        with torch.no_grad():
            old = _old_seq2seq_sampling(
                model, src, lengths, limit, torch.Generator().manual_seed(seed), **settings
            )
        new = seq2seq_decode.sample_search(
            model, src, lengths, **settings, **kw, generator=torch.Generator().manual_seed(seed)
        )
        assert [h.tokens for h in new] == old
