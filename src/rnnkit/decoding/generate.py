"""Autoregressive generation from a prompt, carrying the recurrent state.

The model is a *step function*: ``step(ids (T, B), state) -> (logits (T, B, V), state)``.
The prompt is read once, in one call with ``T`` = its length; afterwards one token at a
time is fed with the carried state. Producing ``N`` tokens therefore costs ``T + N - 1``
token positions, O(N), never re-reading the prompt (O(N^2)).

>>> import torch
>>> table = torch.eye(4).roll(1, dims=1) * 10  # token i is followed by i + 1 (mod 4)
>>> step = lambda ids, state: (table[ids], state)  # logits (T, B, V)
>>> generate(step, torch.tensor([0]), None, 5, temperature=0)
[[1, 2, 3, 0, 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from rnnkit.decoding.sampling import sample
from rnnkit.decoding.state import State, expand_state, map_state

__all__ = ["StepFn", "generate"]

logger = logging.getLogger(__name__)

StepFn = Callable[[torch.Tensor, State], tuple[torch.Tensor, State]]


def generate(
    step: StepFn,
    prompt_ids: torch.Tensor,
    state: State,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stop_ids: Sequence[int] = (),
    stop_strings: Sequence[str] = (),
    decode: Callable[[list[int]], str] | None = None,
    num_samples: int = 1,
    state_dim: int = 1,
) -> list[list[int]]:
    """Generate up to ``max_new_tokens`` tokens after a prompt, for a batch of rows.

    Args:
        step: ``(ids (T, B), state) -> (logits (T, B, V), state)``; ``state`` may be ``None``
            at first (the model's zero state).
        prompt_ids: ``(T,)`` one prompt (repeated ``num_samples`` times) or ``(T, B)``
            prompts of equal length, one per row; ``T >= 1`` (e.g. just ``<bos>``).
        state: the state before the prompt, for 1 row or B rows (batch on ``state_dim``),
            or ``None``; a 1-row state is tiled to all rows.
        max_new_tokens: the most tokens generated per row.
        temperature, top_k, top_p, generator: see :func:`rnnkit.decoding.sampling.sample`;
            ``temperature=0`` is greedy.
        stop_ids: a row stops when it emits one of these ids (not included in its output).
        stop_strings: a row stops once ``decode(its generated ids)`` contains one of these
            strings; the ids up to and including the token that completed it are returned
            (cut the text at the stop string yourself). Needs ``decode``. Only the last
            ``len(stop)`` tokens are decoded each step, which assumes tokens decode to at
            least one character each.
        decode: ids -> text, for ``stop_strings``.
        num_samples: rows for a ``(T,)`` prompt.
        state_dim: the batch dimension of the state's tensors (1 for ``(L * D, B, H)``).

    Returns:
        For each row, its generated ids (prompt excluded, stop id excluded).
    """
    if max_new_tokens < 0:
        raise ValueError(f"`max_new_tokens` must be >= 0, got {max_new_tokens}")
    if stop_strings and decode is None:
        raise ValueError("`stop_strings` need a `decode` callback (ids -> text)")
    if prompt_ids.dim() == 1:
        if num_samples < 1:
            raise ValueError(f"`num_samples` must be >= 1, got {num_samples}")
        prompt = prompt_ids.unsqueeze(1).expand(-1, num_samples)  # (T,) -> (T, B)
    elif prompt_ids.dim() == 2:
        if num_samples != 1 and num_samples != prompt_ids.shape[1]:
            raise ValueError(
                f"`num_samples` is {num_samples} but `prompt_ids` has {prompt_ids.shape[1]} rows"
            )
        prompt = prompt_ids
    else:
        raise ValueError(
            f"`prompt_ids` must be (T,) or (T, B), got shape {tuple(prompt_ids.shape)}"
        )
    if prompt.shape[0] < 1:
        raise ValueError("`prompt_ids` is empty; give at least one token (e.g. <bos>)")
    batch = prompt.shape[1]
    state = _tile(state, batch, state_dim)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    if max_new_tokens == 0:
        return outputs
    stop_set = {int(i) for i in stop_ids}
    longest_stop = max((len(s) for s in stop_strings), default=0)
    done = [False] * batch

    logits, state = step(prompt, state)  # the prompt, read once: (T, B, V)
    for t in range(max_new_tokens):
        nxt = sample(logits[-1], temperature, top_k, top_p, generator)  # (B, V) -> (B,)
        for b, tok in enumerate(nxt.tolist()):
            if done[b]:
                continue
            if tok in stop_set:
                done[b] = True
                continue
            outputs[b].append(tok)
            if stop_strings and any(s in decode(outputs[b][-longest_stop:]) for s in stop_strings):
                done[b] = True
        if all(done) or t == max_new_tokens - 1:
            break
        logits, state = step(nxt.unsqueeze(0), state)  # (1, B) -> (1, B, V)
    return outputs


def _tile(state: State, batch: int, dim: int) -> State:
    """A 1-row state tiled to ``batch`` rows; a ``batch``-row state unchanged."""
    if state is None:
        return None
    sizes = set()

    def collect(t: torch.Tensor) -> torch.Tensor:
        sizes.add(t.shape[dim])
        return t

    map_state(state, collect)
    if sizes == {batch}:
        return state
    if sizes == {1}:
        return expand_state(state, batch, dim)
    raise ValueError(
        f"`state` has batch sizes {sorted(sizes)} on dim {dim}, expected 1 or {batch} rows"
    )
