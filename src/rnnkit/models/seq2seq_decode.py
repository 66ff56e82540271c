"""Decoding a :class:`~rnnkit.models.seq2seq.Seq2Seq`: greedy, sampling and beam search, batched.

The source is encoded once; after that each step feeds one token per hypothesis and carries
the decoder state (never re-running the prefix). For the search the decoder state and the
encoder memory are kept in one :class:`SearchState` whose tensors all have the batch on
dimension 1, so :func:`rnnkit.decoding.state.reorder_state` / ``expand_state`` move whole
hypotheses (the memory along with them) when beams are pruned.

Every function returns, per source sentence, :class:`Hypothesis` objects: the target ids
(without ``<bos>``/``<eos>``), the summed log-probability, and optionally the attention
weights ``(len + 1, S)`` (one row per emitted token, the ``<eos>`` included).

Stopping: a hypothesis ends at ``<eos>``; none runs past ``max_len_a * S_b + max_len_b``
tokens for its own source length ``S_b`` (then ``<eos>`` is forced).

Length penalty (Wu et al., 2016): beams are ranked by ``score / ((5 + n) / 6) ** alpha`` with
``n`` the number of tokens emitted (``<eos>`` included); ``alpha = 0`` ranks by raw score,
larger ``alpha`` favours longer output. Beam size 1 is greedy decoding exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.decoding.sampling import sample
from rnnkit.decoding.state import expand_state, reorder_state
from rnnkit.models.seq2seq import DecoderState, Memory, Seq2Seq

__all__ = [
    "Hypothesis",
    "SearchState",
    "beam_search",
    "decode",
    "greedy_search",
    "make_step",
    "sample_search",
    "start_search",
]


@dataclass
class Hypothesis:
    """One output sentence."""

    tokens: list[int]
    """Target ids, without ``<bos>`` and ``<eos>``."""
    score: float
    """Sum of the log-probabilities of the tokens and the final ``<eos>``."""
    attention: Tensor | None = None
    """``(len(tokens) + 1, S_b)`` attention weights (None unless asked for or no attention)."""


class SearchState(NamedTuple):
    """Decoder state plus memory, every tensor batch-on-dim-1 (``B`` rows or ``B*beam``)."""

    rnn: Any
    """``(L_d, B, H_d)`` or an LSTM ``(h, c)``."""
    feed: Tensor
    """``(1, B, H_d)`` the input-feeding vector (``(1, B, 0)`` without it)."""
    values: Tensor
    """``(S, B, K)`` encoder outputs."""
    mask: Tensor
    """``(S, B)`` valid source positions."""
    keys: Tensor | None
    """``(S, B, ·)`` prepared attention keys (None without attention)."""


def start_search(model: Seq2Seq, src: Tensor, src_lengths: Tensor) -> SearchState:
    """Encode ``src (S, B)`` once and pack the result for a search."""
    state, memory = model.encode(src, src_lengths)
    keys = None if memory.keys is None else memory.keys.transpose(0, 1)  # (B,S,·) -> (S,B,·)
    return SearchState(state.rnn, state.feed.unsqueeze(0), memory.values, memory.mask, keys)


def make_step(model: Seq2Seq) -> Callable[[Tensor, SearchState], tuple[Tensor, SearchState, Any]]:
    """``step(tokens (B,), state) -> (log_probs (B, V), state, weights (B, S) or None)``."""

    def step(tokens: Tensor, s: SearchState) -> tuple[Tensor, SearchState, Any]:
        keys = None if s.keys is None else s.keys.transpose(0, 1)  # (S,B,·) -> (B,S,·)
        memory = Memory(s.values, s.mask, keys)
        log_probs, state, weights = model.step(tokens, DecoderState(s.rnn, s.feed[0]), memory)
        return log_probs, s._replace(rnn=state.rnn, feed=state.feed.unsqueeze(0)), weights

    return step


def _max_lengths(src_lengths: Tensor, a: float, b: int) -> Tensor:
    """``(B,)`` most tokens (``<eos>`` included) each row may emit."""
    return (src_lengths.double() * a + b).floor().long().clamp(min=1)


def _force_eos(log_probs: Tensor, rows: Tensor, eos_id: int) -> Tensor:
    """Rows ``rows (B,) bool`` may only emit ``<eos>`` (with log-prob 0: no extra cost)."""
    forced = torch.full_like(log_probs, float("-inf"))
    forced[:, eos_id] = 0.0
    return torch.where(rows[:, None], forced, log_probs)


@torch.no_grad()
def _one_path(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    pick: Callable[[Tensor], Tensor],
    *,
    bos_id: int,
    eos_id: int,
    max_len_a: float,
    max_len_b: int,
    return_attention: bool,
) -> list[Hypothesis]:
    """Greedy or sampled decoding: one hypothesis per row, ``pick(log_probs) -> (B,)``."""
    B = src.shape[1]
    state = start_search(model, src, src_lengths)
    step = make_step(model)
    limit = _max_lengths(src_lengths, max_len_a, max_len_b).to(src.device)
    tokens = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    scores = torch.zeros(B, dtype=torch.double, device=src.device)
    out, attn = [], []
    for t in range(int(limit.max())):
        log_probs, state, weights = step(tokens, state)
        log_probs = _force_eos(log_probs, done | (t + 1 >= limit), eos_id)
        tokens = pick(log_probs)
        scores += torch.where(done, 0.0, log_probs.gather(1, tokens[:, None])[:, 0].double())
        out.append(torch.where(done, eos_id, tokens))
        if return_attention and weights is not None:
            attn.append(weights)
        done |= tokens == eos_id
        if bool(done.all()):
            break
    ids = torch.stack(out, 1).tolist()  # (B, steps)
    weights_all = torch.stack(attn, 1) if attn else None  # (B, steps, S)
    hyps = []
    for b in range(B):
        n = ids[b].index(eos_id) if eos_id in ids[b] else len(ids[b])
        a = None if weights_all is None else weights_all[b, : n + 1, : int(src_lengths[b])]
        hyps.append(Hypothesis(ids[b][:n], float(scores[b]), a))
    return hyps


def greedy_search(model: Seq2Seq, src: Tensor, src_lengths: Tensor, **kw: Any) -> list[Hypothesis]:
    """The most likely next token at every step. Keywords: ``bos_id``, ``eos_id``,
    ``max_len_a``, ``max_len_b``, ``return_attention`` (as :func:`decode`)."""
    # topk, not argmax: the same tie-breaking as beam search, so beam 1 == greedy exactly
    return _one_path(model, src, src_lengths, lambda lp: lp.topk(1, -1).indices[:, 0], **kw)


def sample_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    **kw: Any,
) -> list[Hypothesis]:
    """Sampled tokens (temperature, then top-k, then top-p; see ``rnnkit.decoding.sampling``)."""

    def pick(log_probs: Tensor) -> Tensor:
        # A row forced to <eos> has a single finite entry, so it draws <eos> with certainty.
        return sample(log_probs, temperature, top_k, top_p, generator)

    return _one_path(model, src, src_lengths, pick, **kw)


def _penalty(lengths: Tensor, alpha: float) -> Tensor:
    return ((5.0 + lengths.double()) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    n_best: int = 1,
    bos_id: int,
    eos_id: int,
    max_len_a: float = 1.5,
    max_len_b: int = 5,
    return_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Batched beam search: the ``n_best`` best of ``beam_size`` beams per source, best first.

    Finished beams stay in the beam (extended only by a free ``<eos>``), so they compete
    with the open ones on raw score; the final ranking applies the length penalty.
    """
    if beam_size < 1:
        raise ValueError(f"`beam_size` must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"`n_best` must be in [1, beam_size={beam_size}], got {n_best}")
    S, B = src.shape
    K, dev = beam_size, src.device
    state = expand_state(start_search(model, src, src_lengths), K)  # B -> B*K, beams adjacent
    step = make_step(model)
    limit = _max_lengths(src_lengths, max_len_a, max_len_b).to(dev).repeat_interleave(K)  # (B*K,)
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=dev)
    scores = torch.zeros(B, K, dtype=torch.double, device=dev)
    scores[:, 1:] = float("-inf")  # all beams start equal: let only the first one expand
    done = torch.zeros(B * K, dtype=torch.bool, device=dev)
    lengths = torch.zeros(B * K, dtype=torch.long, device=dev)
    history = torch.empty(B * K, 0, dtype=torch.long, device=dev)
    attn_history = torch.empty(B * K, 0, S, device=dev) if return_attention else None
    base = (torch.arange(B, device=dev) * K)[:, None]  # (B, 1)
    for t in range(int(limit.max())):
        log_probs, state, weights = step(tokens, state)  # (B*K, V)
        V = log_probs.shape[-1]
        log_probs = _force_eos(log_probs.double(), done | (t + 1 >= limit), eos_id)
        total = scores[:, :, None] + log_probs.view(B, K, V)  # (B, K, V)
        scores, flat = total.view(B, K * V).topk(K, dim=-1)  # (B, K)
        origin = (base + flat // V).view(-1)  # (B*K,) row each new beam comes from
        tokens = (flat % V).view(-1)  # (B*K,)
        state = reorder_state(state, origin)
        was_done = done[origin]
        lengths = lengths[origin] + (~was_done).long()
        done = was_done | (tokens == eos_id)
        history = torch.cat([history[origin], tokens[:, None]], 1)  # (B*K, t+1)
        if attn_history is not None and weights is not None:
            attn_history = torch.cat([attn_history[origin], weights[origin][:, None].float()], 1)
        if bool(done.all()):
            break
    ranked = (scores.view(-1) / _penalty(lengths, length_penalty)).view(B, K)
    order = ranked.argsort(dim=-1, descending=True)  # (B, K)
    ids = history.tolist()
    results = []
    for b in range(B):
        best = []
        for k in order[b, :n_best].tolist():
            row = b * K + k
            n = int(lengths[row]) - 1  # tokens before <eos>
            a = None
            if attn_history is not None and attn_history.shape[1] > 0:
                a = attn_history[row, : n + 1, : int(src_lengths[b])]
            best.append(Hypothesis(ids[row][:n], float(scores[b, k]), a))
        results.append(best)
    return results


def decode(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    method: str = "beam",
    beam_size: int = 5,
    length_penalty: float = 0.0,
    n_best: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    max_len_a: float = 1.5,
    max_len_b: int = 5,
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
