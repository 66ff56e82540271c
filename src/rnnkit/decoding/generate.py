"""Autoregressive generation from a prompt, carrying the recurrent state.

A front end of the one sampling loop, :func:`rnnkit.decoding.loop.sample_loop`, for
language models.

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

from rnnkit.decoding.beam import BEAM_SIZE, LENGTH_PENALTY, Hypothesis, Penalty, beam_search
from rnnkit.decoding.loop import sample_loop
from rnnkit.decoding.state import State, expand_state, map_state

__all__ = ["StepFn", "beam_generate", "generate"]

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
    prompt = _prompt(prompt_ids, num_samples)  # (T, B)

    def last_step(x: torch.Tensor, s: State) -> tuple[torch.Tensor, State]:
        logits, s = step(x if x.dim() == 2 else x.unsqueeze(0), s)  # (T, B, V); T = 1 after
        return logits[-1], s  # (B, V)

    samples = sample_loop(
        last_step, prompt, _tile(state, prompt.shape[1], state_dim), max_new_tokens,
        temperature=temperature, top_k=top_k, top_p=top_p, generator=generator,
        stop_ids=stop_ids, stop_strings=stop_strings, decode=decode,
    )  # fmt: skip
    return [s.tokens for s in samples]


def beam_generate(
    step: StepFn,
    prompt_ids: torch.Tensor,
    state: State,
    max_new_tokens: int,
    *,
    beam_size: int = BEAM_SIZE,
    eos_id: int | None = None,
    length_penalty: float = LENGTH_PENALTY,
    penalty: Penalty = "gnmt",
    n_best: int = 1,
    state_dim: int = 1,
) -> list[list[Hypothesis]]:
    """The most likely continuations of a prompt: :func:`rnnkit.decoding.beam.beam_search`
    over a language model's step function (the same one :func:`generate` takes).

    Args:
        step: ``(ids (T, B), state) -> (logits (T, B, V), state)``.
        prompt_ids: ``(T,)`` one prompt or ``(T, B)`` prompts of equal length; ``T >= 1``.
        state: the state before the prompt for 1 or B rows, or ``None``.
        max_new_tokens: the most tokens per hypothesis (``>= 1``).
        beam_size, length_penalty, penalty, n_best: see :func:`beam_search`.
        eos_id: the id that ends a hypothesis (kept as its last token); ``None``: every
            hypothesis runs to ``max_new_tokens``.
        state_dim: the batch dimension of the state's tensors.

    Returns:
        For each row, its ``n_best`` hypotheses, best first (prompt excluded).
    """
    prompt = _prompt(prompt_ids, 1)  # (T, B)
    batch = prompt.shape[1]
    state = _tile(state, batch, state_dim)
    if prompt.shape[0] > 1:  # all but the last prompt token, in one call
        _, state = step(prompt[:-1], state)

    def token_step(tokens: torch.Tensor, s: State) -> tuple[torch.Tensor, State]:
        logits, s = step(tokens.unsqueeze(0), s)  # (1, B * K) -> (1, B * K, V)
        return logits[0].log_softmax(-1), s  # (B * K, V)

    # The last prompt token is each row's first input; -1 is an id no step emits.
    return beam_search(
        token_step, state, batch, prompt[-1], -1 if eos_id is None else eos_id,
        beam_size=beam_size, max_len=max_new_tokens, length_penalty=length_penalty,
        penalty=penalty, n_best=n_best, state_dim=state_dim,
    )  # fmt: skip


def _prompt(prompt_ids: torch.Tensor, num_samples: int) -> torch.Tensor:
    """The ``(T, B)`` prompts: a ``(T,)`` prompt repeated ``num_samples`` times."""
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
    return prompt


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
