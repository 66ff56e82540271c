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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import torch

from rnnkit.decoding.state import State, expand_state, reorder_state

__all__ = ["BeamStepFn", "Hypothesis", "beam_search", "greedy_search", "length_penalty_factor"]

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


def _max_lens(max_len: int | torch.Tensor, batch_size: int) -> list[int]:
    if isinstance(max_len, torch.Tensor):
        if max_len.shape != (batch_size,):
            raise ValueError(
                f"`max_len` tensor must be (B,) = ({batch_size},), got {tuple(max_len.shape)}"
            )
        lens = [int(v) for v in max_len.tolist()]
    else:
        lens = [int(max_len)] * batch_size
    if min(lens, default=1) < 1:
        raise ValueError(f"`max_len` must be >= 1, got {min(lens)}")
    return lens


def _call(step: BeamStepFn, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State, Any]:
    out = step(tokens, state)
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise ValueError("`step` must return (log_probs, state) or (log_probs, state, extra)")
    log_probs = out[0]
    if log_probs.dim() != 2 or log_probs.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"`step` returned log_probs of shape {tuple(log_probs.shape)}, "
            f"expected ({tokens.shape[0]}, V)"
        )
    return log_probs, out[1], out[2] if len(out) == 3 else None


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
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    max_len: int | torch.Tensor = 50,
    length_penalty: float = 0.0,
    penalty: Penalty = "gnmt",
    n_best: int = 1,
    state_dim: int = 1,
) -> list[list[Hypothesis]]:
    """Beam search for ``batch_size`` rows at once.

    Args:
        step: ``(tokens (B * K,), state) -> (log_probs (B * K, V), state[, extra])``.
        init_state: the decoder state for the ``B`` rows (batch on ``state_dim``), or ``None``.
        batch_size: ``B``.
        bos_id: first input token of every beam.
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
    max_lens = _max_lens(max_len, B)
    state = expand_state(init_state, K, state_dim)  # batch B -> B * K
    tokens = torch.full((B * K,), bos_id, dtype=torch.long)
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0  # all beams start equal: only one may expand at the first step
    history = torch.empty(B, K, 0, dtype=torch.long)  # (B, K, t) tokens of the live beams
    extras: torch.Tensor | None = None  # (B * K, t, ...) their extra outputs
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    for t in range(max(max_lens)):
        log_probs, state, extra = _call(step, tokens.to(_device(state, tokens)), state)
        V = log_probs.shape[-1]
        scores = scores.to(log_probs.device)
        if extra is not None:
            extra = extra.detach().unsqueeze(1)  # (B * K, 1, ...)
            extras = extra if extras is None else torch.cat([extras.to(extra.device), extra], 1)
        cand = (scores.unsqueeze(-1) + log_probs.view(B, K, V)).view(B, K * V)  # (B, K * V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K)
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        new_scores = torch.full((B, K), float("-inf"))
        new_origin = torch.arange(K).repeat(B, 1)  # (B, K) beam each new beam comes from
        new_tokens = torch.full((B, K), eos_id, dtype=torch.long)
        length = t + 1
        for b in range(B):
            if done[b]:
                continue
            slot = 0
            for rank, (s, idx) in enumerate(zip(top_scores[b], top_idx[b], strict=True)):
                if s == float("-inf") or slot == K:
                    break
                origin, token = divmod(idx, V)
                if token == eos_id:
                    if rank < K:  # eos closes a hypothesis only from the K best
                        hyp = _hypothesis(history, extras, b, origin, token, s, alpha, penalty)
                        finished[b].append(hyp)
                    continue
                new_scores[b, slot], new_origin[b, slot], new_tokens[b, slot] = s, origin, token
                slot += 1
            if length >= max_lens[b] and len(finished[b]) < K:
                for k in range(slot):  # cut at max_len: close the live beams without eos
                    origin, token, s = (
                        int(new_origin[b, k]),
                        int(new_tokens[b, k]),
                        float(new_scores[b, k]),
                    )
                    hyp = _hypothesis(history, extras, b, origin, token, s, alpha, penalty)
                    finished[b].append(hyp)
            if len(finished[b]) >= K or length >= max_lens[b]:
                done[b] = True
                new_scores[b] = float("-inf")
        if all(done):
            break
        index = (torch.arange(B).unsqueeze(1) * K + new_origin).view(-1)  # (B * K,)
        gather = new_origin.unsqueeze(-1).expand(-1, -1, history.shape[-1])  # (B, K, t)
        history = torch.cat([history.gather(1, gather), new_tokens.unsqueeze(-1)], dim=-1)
        if extras is not None:
            extras = extras.index_select(0, index.to(extras.device))
        state = reorder_state(state, index, state_dim)
        tokens = new_tokens.view(-1)  # (B, K) -> (B * K,)
        scores = new_scores
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


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
    bos_id: int,
    eos_id: int,
    beam_size: int = 1,
    max_len: int | torch.Tensor = 50,
    length_penalty: float = 0.0,
    penalty: Penalty = "gnmt",
    n_best: int = 1,
    state_dim: int = 1,
) -> list[list[Hypothesis]]:
    """Greedy decoding with :func:`beam_search`'s signature and output (one hypothesis per
    row); ``beam_size`` and ``n_best`` must be 1. The step function sees ``B`` rows."""
    if beam_size != 1 or n_best != 1:
        raise ValueError(f"greedy search has beam_size = n_best = 1, got {beam_size}, {n_best}")
    _check(batch_size, 1, 1)
    length_penalty_factor(1, length_penalty, penalty)
    B = batch_size
    max_lens = _max_lens(max_len, B)
    tokens = torch.full((B,), bos_id, dtype=torch.long)
    state = init_state
    scores = torch.zeros(B, 1)
    out: list[list[int]] = [[] for _ in range(B)]
    steps: list[torch.Tensor] = []
    result: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(max(max_lens)):
        log_probs, state, extra = _call(step, tokens.to(_device(state, tokens)), state)
        if extra is not None:
            steps.append(extra.detach())
        best = log_probs.argmax(dim=-1)  # (B,)
        scores = scores.to(log_probs.device) + log_probs.gather(1, best.unsqueeze(1))  # (B, 1)
        for b, token in enumerate(best.tolist()):
            if result[b]:
                continue
            out[b].append(token)
            if token == eos_id or t + 1 >= max_lens[b]:
                ext = torch.stack([e[b] for e in steps]) if steps else None
                score = float(scores[b, 0])
                norm = score / length_penalty_factor(len(out[b]), length_penalty, penalty)
                result[b] = [Hypothesis(out[b], norm, score, ext)]
        if all(result):
            break
        tokens = best  # finished rows are fed anything; their outputs are ignored
    return result
