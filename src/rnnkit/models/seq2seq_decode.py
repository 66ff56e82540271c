"""Decoding a :class:`~rnnkit.models.seq2seq.Seq2Seq`: greedy, sampling and beam search, batched.

The source is encoded once; after that each step feeds one token per hypothesis and carries
the decoder state (never re-running the prefix). The decoder state travels as a
:class:`SearchState` whose tensors all have the batch on dimension 1, so
:func:`rnnkit.decoding.state.reorder_state` / ``expand_state`` move it with the beams; the
encoder memory is constant per source, so it sits in the step function's closure, tiled
once per beam (a row's beams stay in that row's block, so it never needs reordering).

Every function returns, per source sentence, :class:`Hypothesis` objects: the target ids
(without ``<bos>``/``<eos>``), the summed log-probability, and optionally the attention
weights ``(len + 1, S)`` (one row per emitted token, the ``<eos>`` included).

Greedy decoding and sampling are the one sampling loop,
:func:`rnnkit.decoding.loop.sample_loop` (greedy is temperature 0), and beam search is
:func:`rnnkit.decoding.beam.beam_search` (fairseq-style: finished hypotheses leave the beam; a
row stops with ``beam_size`` of them), both driven through :func:`make_step`.

Stopping: a hypothesis ends at ``<eos>``; none emits more than ``max_len_a * S_b + max_len_b``
tokens (``<eos>`` included) for its own source length ``S_b``; one cut there has no ``<eos>``.

Length penalty (Wu et al., 2016): hypotheses are ranked by ``log_prob / ((5 + n) / 6) ** alpha``
with ``n`` the tokens emitted (``<eos>`` included); ``alpha = 0`` ranks by the plain
log-probability, larger ``alpha`` favours longer output. Beam size 1 is greedy exactly. The
defaults (``beam_size``, ``length_penalty``) are :mod:`rnnkit.decoding.beam`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding import beam as search
from rnnkit.decoding.beam import BEAM_SIZE, LENGTH_PENALTY
from rnnkit.decoding.loop import sample_loop
from rnnkit.models.seq2seq import DecoderState, Memory, Seq2Seq

__all__ = [
    "MAX_LEN_A",
    "MAX_LEN_B",
    "Hypothesis",
    "SearchState",
    "beam_search",
    "decode",
    "greedy_search",
    "make_step",
    "sample_search",
    "start_search",
    "tile_memory",
]

MAX_LEN_A, MAX_LEN_B = 1.5, 5
"""The default output limit: at most ``MAX_LEN_A * S_b + MAX_LEN_B`` tokens for a source of
``S_b`` tokens (every level's default, the translate task's too)."""


@dataclass
class Hypothesis:
    """One output sentence."""

    tokens: list[int]
    """Target ids, without ``<bos>`` and ``<eos>``."""
    score: float
    """Sum of the log-probabilities of the emitted tokens (``<eos>`` included)."""
    attention: Tensor | None = None
    """``(n, S_b)`` attention weights of the ``n`` emitted tokens: ``len(tokens) + 1`` with
    ``<eos>``, ``len(tokens)`` when cut at the maximum length (None unless asked for)."""
    ended: bool = True
    """Whether it closed with ``<eos>`` (False: cut at the maximum length)."""


class SearchState(NamedTuple):
    """The decoder state with the batch on dim 1 (``B`` rows, or ``B*beam``)."""

    rnn: Any
    """``(L_d, B, H_d)`` or an LSTM ``(h, c)``."""
    feed: Tensor
    """``(1, B, H_d)`` the input-feeding vector (``(1, B, 0)`` without it)."""


def start_search(model: Seq2Seq, src: Tensor, src_lengths: Tensor) -> tuple[SearchState, Memory]:
    """Encode ``src (S, B)`` once: the initial search state and the memory."""
    state, memory = model.encode(src, src_lengths)
    return SearchState(state.rnn, state.feed.unsqueeze(0)), memory


def tile_memory(memory: Memory, times: int) -> Memory:
    """Each row's memory repeated ``times`` times in place (``B -> B*times``, beams adjacent)."""
    keys = None if memory.keys is None else memory.keys.repeat_interleave(times, 0)  # (B*K,S,·)
    return Memory(
        memory.values.repeat_interleave(times, 1),  # (S, B*K, K)
        memory.mask.repeat_interleave(times, 1),  # (S, B*K)
        keys,
    )


def make_step(
    model: Seq2Seq, memory: Memory
) -> Callable[[Tensor, SearchState], tuple[Tensor, SearchState, Any]]:
    """``step(tokens (B,), state) -> (log_probs (B, V), state, weights (B, S) or None)`` over
    ``memory`` (whose batch must match the state's)."""

    def step(tokens: Tensor, s: SearchState) -> tuple[Tensor, SearchState, Any]:
        log_probs, state, weights = model.step(tokens, DecoderState(s.rnn, s.feed[0]), memory)
        return log_probs, SearchState(state.rnn, state.feed.unsqueeze(0)), weights

    return step


def _max_lengths(src_lengths: Tensor, a: float, b: int) -> Tensor:
    """``(B,)`` most tokens (``<eos>`` included) each row may emit (CPU)."""
    return (src_lengths.cpu().double() * a + b).floor().long().clamp(min=1)


def _hypothesis(
    tokens: list[int],
    log_prob: float,
    extras: Tensor | None,
    n_src: int,
    eos_id: int,
    attention: bool,
) -> Hypothesis:
    """A decoded row -> ours (``<eos>`` stripped, attention cut to the ``n_src`` real tokens)."""
    ended = bool(tokens) and tokens[-1] == eos_id
    a = extras[:, :n_src].float() if attention and extras is not None else None
    return Hypothesis(list(tokens[:-1] if ended else tokens), float(log_prob), a, ended)


@torch.no_grad()
def greedy_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len_a: float = MAX_LEN_A,
    max_len_b: int = MAX_LEN_B,
    return_attention: bool = False,
) -> list[Hypothesis]:
    """The most likely next token at every step, one hypothesis per row of ``src (S, B)``:
    :func:`sample_search` at temperature 0."""
    return sample_search(
        model, src, src_lengths, bos_id=bos_id, eos_id=eos_id, temperature=0.0,
        max_len_a=max_len_a, max_len_b=max_len_b, return_attention=return_attention,
    )  # fmt: skip


@torch.no_grad()
def sample_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    max_len_a: float = MAX_LEN_A,
    max_len_b: int = MAX_LEN_B,
    return_attention: bool = False,
) -> list[Hypothesis]:
    """Sampled tokens (temperature, then top-k, then top-p; see ``rnnkit.decoding.sampling``;
    ``temperature=0`` is greedy), one hypothesis per row of ``src (S, B)``."""
    state, memory = start_search(model, src, src_lengths)
    bos = torch.full((src.shape[1],), bos_id, dtype=torch.long, device=src.device)  # (B,)
    found = sample_loop(
        make_step(model, memory), bos, state, _max_lengths(src_lengths, max_len_a, max_len_b),
        temperature=temperature, top_k=top_k, top_p=top_p, generator=generator,
        stop_ids=[eos_id], include_stop=True,
    )  # fmt: skip
    return [
        _hypothesis(f.tokens, f.log_prob, f.extras, int(n), eos_id, return_attention)
        for f, n in zip(found, src_lengths.tolist(), strict=True)
    ]


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    beam_size: int = BEAM_SIZE,
    length_penalty: float = LENGTH_PENALTY,
    n_best: int = 1,
    bos_id: int,
    eos_id: int,
    max_len_a: float = MAX_LEN_A,
    max_len_b: int = MAX_LEN_B,
    return_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Batched beam search: the ``n_best`` best hypotheses per row of ``src (S, B)``, best
    first (ranked with the length penalty; :attr:`Hypothesis.score` is the log-probability)."""
    state, memory = start_search(model, src, src_lengths)
    limit = _max_lengths(src_lengths, max_len_a, max_len_b)
    step = make_step(model, tile_memory(memory, beam_size))
    found = search.beam_search(
        step, state, src.shape[1], bos_id, eos_id, beam_size=beam_size, max_len=limit,
        length_penalty=length_penalty, n_best=n_best,
    )  # fmt: skip
    return [
        [_hypothesis(h.tokens, h.log_prob, h.extras, int(n), eos_id, return_attention) for h in row]
        for row, n in zip(found, src_lengths.tolist(), strict=True)
    ]


def decode(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    method: str = "beam",
    beam_size: int = BEAM_SIZE,
    length_penalty: float = LENGTH_PENALTY,
    n_best: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    max_len_a: float = MAX_LEN_A,
    max_len_b: int = MAX_LEN_B,
    return_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Translate a batch ``src (S, B)``: ``n_best`` hypotheses per row (1 unless beam).

    Args:
        method: ``"greedy"``, ``"sample"`` or ``"beam"`` (``beam_size=1`` is greedy).
        beam_size, length_penalty, n_best: beam search settings.
        temperature, top_k, top_p, generator: sampling settings.
        max_len_a, max_len_b: at most ``a * S_b + b`` tokens for a source of length ``S_b``.
        return_attention: keep the attention weights of each hypothesis.
    """
    kw = {"bos_id": bos_id, "eos_id": eos_id, "max_len_a": max_len_a, "max_len_b": max_len_b}
    kw["return_attention"] = return_attention
    was_training = model.training
    model.eval()
    try:
        if method == "greedy":
            return [[h] for h in greedy_search(model, src, src_lengths, **kw)]
        if method == "sample":
            hyps = sample_search(
                model, src, src_lengths, temperature=temperature, top_k=top_k, top_p=top_p,
                generator=generator, **kw,
            )  # fmt: skip
            return [[h] for h in hyps]
        if method == "beam":
            return beam_search(
                model, src, src_lengths, beam_size=beam_size, length_penalty=length_penalty,
                n_best=n_best, **kw,
            )  # fmt: skip
        raise ValueError(f"`method` must be 'greedy', 'sample' or 'beam', got {method!r}")
    finally:
        model.train(was_training)
