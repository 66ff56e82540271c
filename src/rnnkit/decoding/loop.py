"""The one sampling loop: every decoder's greedy and sampled decoding runs through it.

The decoder is a *step function* ``step(x_t, state) -> (logits (B, V), state)`` or
``-> (logits, state, extra)``, where ``extra`` ``(B, ...)`` is any per-step output to keep
with each row (e.g. attention weights ``(B, S)``). The first input ``x_t`` is ``first``
(``<bos>`` ids ``(B,)``, or a whole prompt ``(T, B)`` read in one call); every later one is
the ``(B,)`` tokens just chosen. Anything else the step needs (encoder memory, input
feeding) lives in its closure or in the carried state. Temperature 0 is greedy decoding
(argmax, the generator is not used); see :func:`rnnkit.decoding.sampling.sample`.

Rows stop at a stop id, at a stop string, or at their own maximum length; the loop ends
when every row has stopped, and the step is called once per generated position, never
again after the last.

>>> import torch
>>> table = torch.eye(4).roll(1, dims=1) * 10  # token i is followed by i + 1 (mod 4)
>>> step = lambda x, state: (table[x], state)  # (B,) -> logits (B, V)
>>> [s.tokens for s in sample_loop(step, torch.tensor([0, 2]), None, 3, temperature=0)]
[[1, 2, 3], [3, 0, 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from rnnkit.decoding.sampling import sample
from rnnkit.decoding.state import State

__all__ = ["LoopStepFn", "Sample", "call_step", "max_lengths", "sample_loop"]

logger = logging.getLogger(__name__)

LoopStepFn = Callable[[torch.Tensor, State], tuple[Any, ...]]


class Sample(NamedTuple):
    """One row's decoded sequence.

    Attributes:
        tokens: the chosen ids; a stop id ends it and is kept only with ``include_stop``.
        log_prob: the sum of the chosen tokens' entries of the step's output (their
            log-probability when the step returns log-probabilities, as beam search needs).
        extras: the step's extra outputs stacked over the row's steps ``(n, ...)``, or None.
        stopped: whether a stop id or stop string ended it (False: cut at its max length).
    """

    tokens: list[int]
    log_prob: float
    extras: torch.Tensor | None = None
    stopped: bool = False


def call_step(
    step: LoopStepFn, x: torch.Tensor, state: State, batch: int
) -> tuple[torch.Tensor, State, Any]:
    """``step(x, state)`` checked: ``(scores (batch, V), state, extra or None)``."""
    out = step(x, state)
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise ValueError("`step` must return (logits, state) or (logits, state, extra)")
    scores = out[0]
    if scores.dim() != 2 or scores.shape[0] != batch:
        raise ValueError(
            f"`step` returned scores of shape {tuple(scores.shape)}, expected ({batch}, V)"
        )
    return scores, out[1], out[2] if len(out) == 3 else None


def max_lengths(max_len: int | torch.Tensor, batch: int, minimum: int = 1) -> list[int]:
    """The most tokens of each of ``batch`` rows, from an int or a ``(B,)`` tensor."""
    if isinstance(max_len, torch.Tensor):
        if max_len.shape != (batch,):
            raise ValueError(
                f"`max_len` tensor must be (B,) = ({batch},), got {tuple(max_len.shape)}"
            )
        lens = [int(v) for v in max_len.tolist()]
    else:
        lens = [int(max_len)] * batch
    if min(lens, default=minimum) < minimum:
        raise ValueError(f"`max_len` must be >= {minimum}, got {min(lens)}")
    return lens


def sample_loop(
    step: LoopStepFn,
    first: torch.Tensor,
    state: State,
    max_len: int | torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stop_ids: Sequence[int] = (),
    include_stop: bool = False,
    stop_strings: Sequence[str] = (),
    decode: Callable[[list[int]], str] | None = None,
) -> list[Sample]:
    """Decode ``B`` rows token by token, each from its own carried state.

    Args:
        step: ``(x_t, state) -> (logits (B, V), state[, extra (B, ...)])``.
        first: the first input: ``(B,)`` ids (e.g. ``<bos>``) or a ``(T, B)`` prompt;
            ``B = first.shape[-1]``.
        state: the state for the ``B`` rows (or ``None``), as ``step`` expects it.
        max_len: the most tokens per row (``>= 0``), an int or a ``(B,)`` tensor.
        temperature, top_k, top_p, generator: see :func:`rnnkit.decoding.sampling.sample`;
            ``temperature=0`` is greedy.
        stop_ids: a row stops when it emits one of these ids.
        include_stop: keep that stop id as the row's last token (default: drop it).
        stop_strings: a row stops once ``decode(its ids)`` contains one of these; the ids
            up to and including the token that completed it are kept. Only the last
            ``len(stop)`` tokens are decoded each step, which assumes tokens decode to at
            least one character each.
        decode: ids -> text, needed for ``stop_strings``.

    Returns:
        One :class:`Sample` per row.
    """
    if stop_strings and decode is None:
        raise ValueError("`stop_strings` need a `decode` callback (ids -> text)")
    stop = _Stop(frozenset(int(i) for i in stop_ids), include_stop, tuple(stop_strings), decode)
    batch = first.shape[-1]
    limits = max_lengths(max_len, batch, minimum=0)
    tokens: list[list[int]] = [[] for _ in range(batch)]
    result: list[Sample | None] = [Sample([], 0.0) if n == 0 else None for n in limits]
    steps: list[torch.Tensor] = []  # per-step extras, each (B, ...)
    log_prob = torch.zeros(batch)  # (B,) promoted to the scores' dtype if wider
    x = first
    for t in range(max(limits, default=0)):
        scores, state, extra = call_step(step, x, state, batch)
        if extra is not None:
            steps.append(extra.detach())
        x = sample(scores, temperature, top_k, top_p, generator)  # (B, V) -> (B,)
        log_prob = log_prob.to(scores.device) + scores.gather(1, x.unsqueeze(1))[:, 0]
        for b, tok in enumerate(x.tolist()):
            if result[b] is not None:
                continue
            stopped = stop.take(tokens[b], tok)
            if stopped or t + 1 >= limits[b]:
                ext = torch.stack([e[b] for e in steps]) if steps else None  # (t + 1, ...)
                result[b] = Sample(tokens[b], float(log_prob[b]), ext, stopped)
        if all(r is not None for r in result):
            break
    return result  # type: ignore[return-value]  # every row ends by its max length


class _Stop(NamedTuple):
    """When a row stops: stop ids (kept or dropped) and stop strings."""

    ids: frozenset[int]
    keep: bool
    strings: tuple[str, ...]
    decode: Callable[[list[int]], str] | None

    def take(self, row: list[int], token: int) -> bool:
        """Append ``token`` to ``row`` (unless it is a dropped stop id); whether it stops."""
        stopped = token in self.ids
        if not stopped or self.keep:
            row.append(token)
        if not stopped and self.strings and self.decode is not None:
            text = self.decode(row[-max(len(s) for s in self.strings) :])
            stopped = any(s in text for s in self.strings)
        return stopped
