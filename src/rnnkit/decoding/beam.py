"""Batched beam search and greedy search over any step-wise decoder.

The decoder is a *step function* ``step(tokens (B * K,), state) -> (log_probs (B * K, V),
state)`` or ``-> (log_probs, state, extra)`` where ``extra`` ``(B * K, ...)`` is any per-step
output to keep with each hypothesis (e.g. attention weights ``(B * K, S)``). Rows are laid
out beam-major inside each batch row: entry ``b * K + k`` is beam ``k`` of row ``b``. The
state (tensors or (named) tuples of tensors with the batch on ``state_dim``) is tiled once
with :func:`expand_state` and reordered with :func:`reorder_state` (``index_select``) after
each step: it is carried, never recomputed. Constant inputs such as encoder outputs belong
in the step function's closure, tiled once with ``expand_state(memory, K, dim)``; they never
need reordering because a row's beams stay in that row's block.

Search (as fairseq and Hugging Face with ``early_stopping=True``): each step keeps the
``2K`` best continuations of the row's ``K`` beams; an ``eos`` among the best ``K`` closes
a hypothesis, the best ``K`` others stay alive. A row is done when it has ``K`` closed
hypotheses or reaches its ``max_len``, when its live beams are closed without ``eos``.
Hypotheses are ranked by ``score = log_prob / penalty(length)``, where ``length`` counts the
generated tokens including ``eos`` (not ``bos``) and ``penalty`` is

- ``"gnmt"`` (Wu et al. 2016): ``((5 + length) / 6) ** alpha``;
- ``"simple"``: ``length ** alpha`` (fairseq's ``lenpen``);

``alpha = length_penalty = 0`` ranks by the plain log-probability. With ``beam_size=1``
the search is exactly :func:`greedy_search`.

Defaults: :data:`BEAM_SIZE` beams and :data:`LENGTH_PENALTY` ``alpha``, declared here once;
every level above (:func:`rnnkit.decoding.beam_generate`, the seq2seq decoder, the
translate task and its CLI) takes its defaults from these two names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Literal, NamedTuple

import torch

from rnnkit.decoding.loop import call_step, max_lengths, sample_loop
from rnnkit.decoding.state import State, expand_state, reorder_state

__all__ = [
    "BEAM_SIZE",
    "LENGTH_PENALTY",
    "BeamStepFn",
    "Hypothesis",
    "beam_search",
    "greedy_search",
    "length_penalty_factor",
]

BEAM_SIZE = 5
"""Beams per row when not given (every level's default)."""
LENGTH_PENALTY = 0.6
"""``alpha`` of the length penalty when not given: GNMT's 0.6 (Wu et al. 2016); every
level's default. Pass 0 to rank by the plain log-probability."""

logger = logging.getLogger(__name__)

BeamStepFn = Callable[[torch.Tensor, State], tuple[Any, ...]]
Penalty = Literal["gnmt", "simple"]


class Hypothesis(NamedTuple):
    """One decoded sequence.

    Attributes:
        tokens: generated ids, ``bos`` excluded, ending with ``eos`` unless cut at ``max_len``.
        score: ``log_prob / penalty(len(tokens))``, the ranking key.
        log_prob: the sum of the tokens' log-probabilities.
        extras: the step function's extra outputs stacked over steps ``(len(tokens), ...)``,
            or ``None``.
    """

    tokens: list[int]
    score: float
    log_prob: float
    extras: torch.Tensor | None = None


def length_penalty_factor(length: int, alpha: float, penalty: Penalty = "gnmt") -> float:
    """The divisor of a hypothesis' log-probability (see the module docstring)."""
    if penalty == "gnmt":
        return ((5.0 + length) / 6.0) ** alpha
    if penalty == "simple":
        return float(max(length, 1)) ** alpha
    raise ValueError(f"`penalty` must be 'gnmt' or 'simple', got {penalty!r}")


def _check(batch_size: int, beam_size: int, n_best: int) -> None:
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
    if beam_size < 1:
        raise ValueError(f"`beam_size` must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"`n_best` must be in [1, beam_size={beam_size}], got {n_best}")


def beam_search(
    step: BeamStepFn,
    init_state: State,
    batch_size: int,
    bos_id: int | torch.Tensor,
    eos_id: int,
    beam_size: int = BEAM_SIZE,
    max_len: int | torch.Tensor = 50,
    length_penalty: float = LENGTH_PENALTY,
    penalty: Penalty = "gnmt",
    n_best: int = 1,
    state_dim: int = 1,
) -> list[list[Hypothesis]]:
    """Beam search for ``batch_size`` rows at once.

    Args:
        step: ``(tokens (B * K,), state) -> (log_probs (B * K, V), state[, extra])``.
        init_state: the decoder state for the ``B`` rows (batch on ``state_dim``), or ``None``.
        batch_size: ``B``.
        bos_id: first input token of every beam, or a ``(B,)`` tensor of one per row
            (e.g. the last token of each row's prompt).
        eos_id: closes a hypothesis.
        beam_size: ``K``.
        max_len: most generated tokens, an int or a ``(B,)`` tensor (e.g. relative to each
            source's length).
        length_penalty: ``alpha`` of the length penalty (0: none).
        penalty: ``"gnmt"`` or ``"simple"`` (see the module docstring).
        n_best: hypotheses returned per row (``<= beam_size``).
        state_dim: the batch dimension of the state's tensors (1 for ``(L * D, B, H)``).

    Returns:
        For each row, its ``n_best`` hypotheses, best first.
    """
    _check(batch_size, beam_size, n_best)
    length_penalty_factor(1, length_penalty, penalty)  # validates `penalty`
    B, K, alpha = batch_size, beam_size, length_penalty
    max_lens = max_lengths(max_len, B)
    state = expand_state(init_state, K, state_dim)  # batch B -> B * K
    tokens = _first_tokens(bos_id, B).repeat_interleave(K)  # (B * K,)
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0  # all beams start equal: only one may expand at the first step
    history = torch.empty(B, K, 0, dtype=torch.long)  # (B, K, t) tokens of the live beams
    extras: torch.Tensor | None = None  # (B * K, t, ...) their extra outputs
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    for t in range(max(max_lens)):
        log_probs, state, extra = call_step(step, tokens.to(_device(state, tokens)), state, B * K)
        V = log_probs.shape[-1]
        scores = scores.to(log_probs.device)
        extras = _append(extras, extra)
        cand = (scores.unsqueeze(-1) + log_probs.view(B, K, V)).view(B, K * V)  # (B, K * V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K)
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        nxt = _Next.empty(B, K, eos_id)
        for b in range(B):
            if done[b]:
                continue
            close = partial(_hypothesis, history, extras, b, alpha=alpha, penalty=penalty)
            at_max = t + 1 >= max_lens[b]
            finished[b] += _advance_row(
                b, top_scores[b], top_idx[b], V, eos_id, nxt, close, at_max, len(finished[b])
            )
            if len(finished[b]) >= K or at_max:
                done[b] = True
                nxt.scores[b] = float("-inf")
        if all(done):
            break
        history, extras, state = _reorder(nxt, history, extras, state, state_dim)
        tokens, scores = nxt.tokens.view(-1), nxt.scores  # (B * K,), (B, K)
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


class _Next(NamedTuple):
    """The beams of the next step, ``(B, K)`` each."""

    scores: torch.Tensor
    origin: torch.Tensor  # the beam each new beam comes from
    tokens: torch.Tensor

    @classmethod
    def empty(cls, B: int, K: int, eos_id: int) -> _Next:
        return cls(
            torch.full((B, K), float("-inf")),
            torch.arange(K).repeat(B, 1),
            torch.full((B, K), eos_id, dtype=torch.long),
        )


def _append(extras: torch.Tensor | None, extra: Any) -> torch.Tensor | None:
    """``extras (B * K, t, ...)`` with this step's ``extra (B * K, ...)`` appended."""
    if extra is None:
        return extras
    extra = extra.detach().unsqueeze(1)  # (B * K, 1, ...)
    return extra if extras is None else torch.cat([extras.to(extra.device), extra], 1)


def _reorder(
    nxt: _Next, history: torch.Tensor, extras: torch.Tensor | None, state: State, state_dim: int
) -> tuple[torch.Tensor, torch.Tensor | None, State]:
    """Move the live beams' history ``(B, K, t)``, extras and state to ``nxt``'s order
    (each new beam takes its origin's), and append ``nxt.tokens``."""
    B, K = nxt.origin.shape
    index = (torch.arange(B).unsqueeze(1) * K + nxt.origin).view(-1)  # (B * K,)
    gather = nxt.origin.unsqueeze(-1).expand(-1, -1, history.shape[-1])  # (B, K, t)
    history = torch.cat([history.gather(1, gather), nxt.tokens.unsqueeze(-1)], dim=-1)
    if extras is not None:
        extras = extras.index_select(0, index.to(extras.device))
    return history, extras, reorder_state(state, index, state_dim)


def _advance_row(
    b: int,
    top_scores: list[float],
    top_idx: list[int],
    V: int,
    eos_id: int,
    nxt: _Next,
    close: Callable[[int, int, float], Hypothesis],
    at_max: bool,
    have: int,
) -> list[Hypothesis]:
    """Fill row ``b`` of ``nxt`` from its ``2K`` best candidates (``top_*``, indices into
    ``K * V``); return the hypotheses it closes: an ``eos`` among the ``K`` best, and at
    ``max_len`` (``at_max``), unless the row already has ``K`` (``have`` before), the live
    beams without ``eos``. ``close(origin, token, score)`` builds a hypothesis."""
    K = nxt.scores.shape[1]
    closed: list[Hypothesis] = []
    slot = 0
    for rank, (s, idx) in enumerate(zip(top_scores, top_idx, strict=True)):
        if s == float("-inf") or slot == K:
            break
        origin, token = divmod(idx, V)
        if token == eos_id:
            if rank < K:  # eos closes a hypothesis only from the K best
                closed.append(close(origin, token, s))
            continue
        nxt.scores[b, slot], nxt.origin[b, slot], nxt.tokens[b, slot] = s, origin, token
        slot += 1
    if at_max and have + len(closed) < K:  # cut at max_len: close the live beams without eos
        for k in range(slot):
            origin, token = int(nxt.origin[b, k]), int(nxt.tokens[b, k])
            closed.append(close(origin, token, float(nxt.scores[b, k])))
    return closed


def _hypothesis(
    history: torch.Tensor,
    extras: torch.Tensor | None,
    b: int,
    origin: int,
    token: int,
    score: float,
    alpha: float,
    penalty: Penalty,
) -> Hypothesis:
    """Close beam ``origin`` of row ``b`` (``history`` ``(B, K, t)``) with ``token``."""
    toks = history[b, origin].tolist() + [token]
    ext = None if extras is None else extras[b * history.shape[1] + origin]  # (t + 1, ...)
    return Hypothesis(toks, score / length_penalty_factor(len(toks), alpha, penalty), score, ext)


def _first_tokens(bos_id: int | torch.Tensor, batch: int) -> torch.Tensor:
    """``(B,)`` first inputs from an int or a ``(B,)`` tensor."""
    if not isinstance(bos_id, torch.Tensor):
        return torch.full((batch,), bos_id, dtype=torch.long)
    if bos_id.shape != (batch,):
        raise ValueError(f"`bos_id` tensor must be (B,) = ({batch},), got {tuple(bos_id.shape)}")
    return bos_id.long().cpu()


def _device(state: State, default: torch.Tensor) -> torch.device:
    found: list[torch.device] = []

    def visit(s: State) -> None:
        if isinstance(s, torch.Tensor):
            found.append(s.device)
        elif isinstance(s, (tuple, list)):
            for item in s:
                visit(item)

    visit(state)
    return found[0] if found else default.device


def greedy_search(
    step: BeamStepFn,
    init_state: State,
    batch_size: int,
    bos_id: int | torch.Tensor,
    eos_id: int,
    beam_size: int = 1,
    max_len: int | torch.Tensor = 50,
    length_penalty: float = LENGTH_PENALTY,
    penalty: Penalty = "gnmt",
    n_best: int = 1,
    state_dim: int = 1,
) -> list[list[Hypothesis]]:
    """Greedy decoding with :func:`beam_search`'s signature and output (one hypothesis per
    row); ``beam_size`` and ``n_best`` must be 1. The step function sees ``B`` rows.

    It is :func:`rnnkit.decoding.loop.sample_loop` at temperature 0, stopping at ``eos_id``
    (kept as the last token); ``state_dim`` is unused (no state is tiled or reordered)."""
    if beam_size != 1 or n_best != 1:
        raise ValueError(f"greedy search has beam_size = n_best = 1, got {beam_size}, {n_best}")
    _check(batch_size, 1, 1)
    length_penalty_factor(1, length_penalty, penalty)
    max_len = torch.tensor(max_lengths(max_len, batch_size))  # validated: (B,), each >= 1
    bos = _first_tokens(bos_id, batch_size)
    bos = bos.to(_device(init_state, bos))
    found = sample_loop(step, bos, init_state, max_len, temperature=0, stop_ids=[eos_id],
                        include_stop=True)  # fmt: skip
    out = []
    for s in found:
        score = s.log_prob / length_penalty_factor(len(s.tokens), length_penalty, penalty)
        out.append([Hypothesis(s.tokens, score, s.log_prob, s.extras)])
    return out
