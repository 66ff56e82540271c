"""Batched generation: concurrent streams of one language model advanced step by step together.

One worker thread per model owns the network. Each step it

1. admits waiting streams (up to ``max_streams`` active): each new stream's prompt is read
   alone, in one call, as :meth:`rnnkit.tasks.lm.TextLM.generate` reads it, and its first
   token sampled;
2. runs ONE forward for all active streams: their last tokens ``(1, B)`` with their
   recurrent states stacked along the batch axis (``(L, B, H)``, or ``LSTMState(h, c)``);
3. samples each stream's next token from its own row with its OWN seeded
   ``torch.Generator`` and its own temperature / top-k / top-p, so a stream's tokens do not
   depend on which other streams share its batch: batched output equals unbatched output
   for the same seed (the tests check it against ``TextLM.generate``);
4. drops the rows of finished or cancelled streams (``index_select`` on the state).

New streams join between steps; finished ones leave. Tokens reach the asyncio side through
each stream's ``asyncio.Queue`` (``loop.call_soon_threadsafe``). With ``batching=False`` at
most one stream is active (the others queue), the one-at-a-time baseline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding import sample
from rnnkit.decoding.state import State, reorder_state

__all__ = ["Batcher", "BusyError", "GenParams", "Stream", "cat_states"]

log = logging.getLogger(__name__)

DONE = None  # the queue item that ends a stream (after its last token)


class BusyError(RuntimeError):
    """The model's queue is full (answered 429)."""


@dataclass(frozen=True)
class GenParams:
    """One request's sampling settings (validated by the API layer)."""

    max_tokens: int
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = 0


@dataclass(eq=False)
class Stream:
    """One generation request in flight.

    ``queue`` receives each token id, then :data:`DONE`, or an ``Exception`` if the step
    failed. Set ``cancelled`` (any thread) to make the worker drop it at the next step.
    """

    prompt: Tensor  # (T,) token ids
    params: GenParams
    queue: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)
    cancelled: bool = False

    def put(self, item: Any) -> None:
        """Hand ``item`` to the asyncio side (safe from the worker thread)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancelled = True


def cat_states(states: list[State], dim: int = 1) -> State:
    """Stack 1-row (or B_i-row) states along ``dim``, keeping their (named) tuple form."""
    first = states[0]
    if isinstance(first, Tensor):
        return torch.cat(states, dim)  # (L, B_1 + B_2 + ..., H)
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # LSTMState(h, c)
        return type(first)(*(cat_states([s[i] for s in states], dim) for i in range(len(first))))
    if isinstance(first, (tuple, list)):  # one state per layer (hidden_sizes)
        return type(first)(cat_states([s[i] for s in states], dim) for i in range(len(first)))
    raise TypeError(f"`state` must be a tensor or a tuple/list of them, got {type(first)}")


class Batcher:
    """The generation worker of one language model (a :class:`~rnnkit.tasks.lm.TextLM`).

    Args:
        lm: the loaded language model (eval mode).
        max_streams: the most streams advanced together (``batching=False``: 1).
        max_queue: the most streams waiting; :meth:`submit` raises :class:`BusyError` past it.
        batching: advance concurrent streams together.
    """

    def __init__(self, lm: Any, max_streams: int, max_queue: int, batching: bool = True) -> None:
        self.lm = lm
        self.model = lm.model
        self.unk = lm.vocab.unk_id
        self.device = next(self.model.parameters()).device
        self.max_active = max_streams if batching else 1
        self.max_queue = max_queue
        self._waiting: collections.deque[Stream] = collections.deque()
        self._active: list[Stream] = []
        self._state: State = None  # the active streams' states, stacked on dim 1
        self._last: Tensor | None = None  # (B,) each active stream's last token
        self._cond = threading.Condition()
        self._closed = False
        self.peak = 0  # the most streams ever advanced together
        self._thread = threading.Thread(target=self._run, name="rnnkit-batcher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the asyncio side

    def submit(self, prompt: Tensor, params: GenParams) -> Stream:
        """Queue a stream (call from the event loop); its tokens arrive in ``stream.queue``."""
        gen = None if params.seed is None else torch.Generator().manual_seed(params.seed)
        stream = Stream(prompt, params, asyncio.Queue(), asyncio.get_running_loop(), gen)
        with self._cond:
            if self._closed:
                raise RuntimeError("the generation worker is stopped")
            if len(self._waiting) >= self.max_queue:
                raise BusyError(f"{len(self._waiting)} generation requests are already waiting")
            self._waiting.append(stream)
            self._cond.notify()
        return stream

    @property
    def load(self) -> dict[str, int]:
        """Active and waiting streams, and the most ever active together (for /health)."""
        return {"active": len(self._active), "waiting": len(self._waiting), "peak": self.peak}

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the worker between steps while inside (streams submitted meanwhile join
        together at the next step; the tests use it to batch deterministically)."""
        with self._cond:
            yield

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker; streams still in flight are ended."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # ------------------------------------------------------------ the worker thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._closed or self._waiting or self._active):
                    self._cond.wait(timeout=1.0)
                if self._closed:
                    break
                new = self._admit()
            try:
                with torch.no_grad():
                    self._prefill(new)
                    self._step()
            except Exception as err:  # a failed forward ends the streams in it, not the server
                log.exception("generation step failed")
                for s in [*self._active, *new]:
                    s.put(err)
                self._active, self._state, self._last = [], None, None
        for s in [*self._active, *self._waiting]:
            s.put(RuntimeError("the server is shutting down"))

    def _admit(self) -> list[Stream]:
        """Waiting streams that fit into the batch now (called under the lock)."""
        new = []
        while self._waiting and len(self._active) + len(new) < self.max_active:
            s = self._waiting.popleft()
            if not s.cancelled:
                new.append(s)
        return new

    def _logits(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """``x (T, B)`` -> the last position's logits ``(B, V)`` (``<unk>`` never chosen)."""
        logits, state = self.model(x.to(self.device), state)  # (T, B, V)
        last = logits[-1]
        if self.unk is not None:
            last[:, self.unk] = float("-inf")  # as TextLM.generate: never emit <unk>
        return last, state

    def _choose(self, s: Stream, row: Tensor) -> bool:
        """Sample ``s``'s next token from ``row (1, V)``; emit it; whether ``s`` goes on."""
        p = s.params
        tok = int(sample(row, p.temperature, p.top_k, p.top_p, s.generator)[0])
        s.tokens.append(tok)
        s.put(tok)
        if len(s.tokens) >= p.max_tokens:
            s.put(DONE)
            return False
        return True

    def _prefill(self, new: list[Stream]) -> None:
        """Read each new stream's prompt alone, sample its first token, add it to the batch."""
        joined, states, last = [], [], []
        for s in new:
            logits, state = self._logits(s.prompt.unsqueeze(1), None)  # (T, 1) -> (1, V)
            if self._choose(s, logits) and not s.cancelled:
                joined.append(s)
                states.append(state)
                last.append(s.tokens[-1])
        if joined:
            self._active += joined
            self.peak = max(self.peak, len(self._active))
            self._state = cat_states([self._state, *states] if self._state is not None else states)
            tail = torch.tensor(last, dtype=torch.long)
            self._last = tail if self._last is None else torch.cat([self._last, tail])

    def _step(self) -> None:
        """One forward for every active stream, then each samples its own next token."""
        if not self._active:
            return
        self._drop([not s.cancelled for s in self._active])
        if not self._active:
            return
        logits, self._state = self._logits(self._last.unsqueeze(0), self._state)  # (1, B)
        keep = [self._choose(s, logits[b : b + 1]) for b, s in enumerate(self._active)]
        self._last = torch.tensor([s.tokens[-1] for s in self._active], dtype=torch.long)
        self._drop(keep)

    def _drop(self, keep: list[bool]) -> None:
        """Keep only the active streams (and their state rows) marked True."""
        if all(keep):
            return
        index = torch.tensor([i for i, k in enumerate(keep) if k], dtype=torch.long)
        self._active = [s for s, k in zip(self._active, keep, strict=True) if k]
        if not self._active:
            self._state, self._last = None, None
            return
        self._state = reorder_state(self._state, index, dim=1)
        assert self._last is not None
        self._last = self._last.index_select(0, index)
