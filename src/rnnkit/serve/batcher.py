"""Batched generation: concurrent streams of one language model advanced step by step together.

One worker thread per model owns the network. Each step it

1. admits waiting streams (up to ``max_streams`` active) and reads their prompts, prompts
   of the same length in one call (``(T, G)``), then samples each one's first token;
2. runs ONE forward for all active streams: their last tokens ``(1, B)`` with their
   recurrent states stacked along the batch axis (``(L, B, H)``, or ``LSTMState(h, c)``);
3. samples every row's next token in one vectorised call
   (:func:`rnnkit.serve.sampling.sample_rows`), each row drawing from its stream's OWN
   seeded ``torch.Generator`` with its own temperature / top-k / top-p, so a stream's
   tokens do not depend on which other streams share its batch: batched output equals
   unbatched output for the same seed (the tests check it against ``TextLM.generate``;
   only the forward's last-bit differences between batch sizes, ~1e-6, could split a
   near tie);
4. hands the step's tokens to the event loop in ONE ``call_soon_threadsafe`` call, and
   drops the rows of finished (``max_tokens`` reached, a ``stop`` string generated) or
   cancelled streams (``index_select`` on the state).

New streams join between steps; finished ones leave. A stream asked for without
``stream_tokens`` gets only :data:`DONE` (its tokens are in ``stream.tokens``), so a plain
JSON request costs the event loop one wake-up, not one per token.

``batching=False`` is the honest one-at-a-time baseline: the same worker, the same code,
but at most ONE stream is decoded at a time and the others wait in arrival order (not
several unbatched streams racing in parallel threads).
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

from rnnkit.decoding.state import State, reorder_state
from rnnkit.serve.sampling import RowSampling, sample_rows

__all__ = ["Batcher", "BusyError", "GenParams", "Stream", "cat_states"]

log = logging.getLogger(__name__)

DONE = None  # the queue item that ends a stream (after its last token)

Outbox = list[tuple["Stream", Any]]  # (stream, token id | DONE | Exception) of one step


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
    stop: tuple[str, ...] = ()
    """The stream ends as soon as its generated text contains one of these."""

    @property
    def sampling(self) -> RowSampling:
        return RowSampling(self.temperature, self.top_k, self.top_p)


@dataclass(eq=False)
class Stream:
    """One generation request in flight.

    ``queue`` receives each token id (when ``stream_tokens``), then :data:`DONE`, or an
    ``Exception`` if the step failed; ``tokens`` holds every id generated and ``finish``
    why it ended (``"length"`` or ``"stop"``) once :data:`DONE` is sent. Set ``cancelled``
    (any thread) to make the worker drop it at the next step.
    """

    prompt: Tensor  # (T,) token ids
    params: GenParams
    queue: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    generator: torch.Generator | None = None
    stream_tokens: bool = True
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None
    cancelled: bool = False


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


def _put_all(items: Outbox) -> None:
    """On the event loop: hand one step's items to their streams' queues."""
    for stream, item in items:
        stream.queue.put_nowait(item)


def _deliver(items: Outbox) -> None:
    """From the worker: one ``call_soon_threadsafe`` per event loop for the whole step."""
    by_loop: dict[asyncio.AbstractEventLoop, Outbox] = {}
    for stream, item in items:
        by_loop.setdefault(stream.loop, []).append((stream, item))
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, batch)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            for stream, _ in batch:
                stream.cancelled = True


class Batcher:
    """The generation worker of one language model (a :class:`~rnnkit.tasks.lm.TextLM`).

    Args:
        lm: the loaded language model (eval mode).
        max_streams: the most streams advanced together (``batching=False``: 1).
        max_queue: the most streams waiting; :meth:`submit` raises :class:`BusyError` past it.
        batching: advance concurrent streams together.
        threads: torch intra-op threads of the worker (``torch.set_num_threads`` in its
            thread; None leaves torch's setting alone).
    """

    def __init__(
        self,
        lm: Any,
        max_streams: int,
        max_queue: int,
        batching: bool = True,
        threads: int | None = 1,
    ) -> None:
        self.lm = lm
        self.model = lm.model
        self.unk = lm.vocab.unk_id
        self.device = next(self.model.parameters()).device
        self.max_active = max_streams if batching else 1
        self.max_queue = max_queue
        self.threads = threads
        self._waiting: collections.deque[Stream] = collections.deque()
        self._active: list[Stream] = []
        self._state: State = None  # the active streams' states, stacked on dim 1
        self._last: Tensor | None = None  # (B,) each active stream's last token
        self._noise: Tensor | None = None  # (max_active, V) the sampler's draws
        self._cond = threading.Condition()
        self._closed = False
        self.peak = 0  # the most streams ever advanced together
        self._thread = threading.Thread(target=self._run, name="rnnkit-batcher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the asyncio side

    def submit(self, prompt: Tensor, params: GenParams, stream_tokens: bool = True) -> Stream:
        """Queue a stream (call from the event loop); its tokens arrive in ``stream.queue``
        (only :data:`DONE` without ``stream_tokens``)."""
        gen = None if params.seed is None else torch.Generator().manual_seed(params.seed)
        loop = asyncio.get_running_loop()
        stream = Stream(prompt, params, asyncio.Queue(), loop, gen, stream_tokens)
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
        if self.threads is not None:
            torch.set_num_threads(self.threads)  # this thread's intra-op pool
        while True:
            with self._cond:
                while not (self._closed or self._waiting or self._active):
                    self._cond.wait(timeout=1.0)
                if self._closed:
                    break
                new = self._admit()
            out: Outbox = []
            try:
                with torch.inference_mode():
                    self._prefill(new, out)
                    self._step(out)
            except Exception as err:  # a failed forward ends the streams in it, not the server
                log.exception("generation step failed")
                out += [(s, err) for s in [*self._active, *new]]
                self._active, self._state, self._last = [], None, None
            _deliver(out)
        _deliver([(s, RuntimeError("the server is shutting down"))
                  for s in [*self._active, *self._waiting]])  # fmt: skip

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

    def _sample(self, streams: list[Stream], logits: Tensor) -> Tensor:
        """Each stream's next token from its row of ``logits (B, V)`` -> ``(B,)``."""
        if self._noise is None or self._noise.shape[1] != logits.shape[1]:
            self._noise = torch.empty(self.max_active, logits.shape[1])
        settings = [s.params.sampling for s in streams]
        return sample_rows(logits.cpu(), settings, [s.generator for s in streams], self._noise)

    def _advance(self, streams: list[Stream], tokens: list[int], out: Outbox) -> list[bool]:
        """Record each stream's new token; which streams go on (the others get DONE)."""
        keep = []
        for s, tok in zip(streams, tokens, strict=True):
            s.tokens.append(tok)
            if s.stream_tokens:
                out.append((s, tok))
            if s.params.stop and self._stopped(s):
                s.finish = "stop"
            elif len(s.tokens) >= s.params.max_tokens:
                s.finish = "length"
            if s.finish is not None:
                out.append((s, DONE))
            keep.append(s.finish is None and not s.cancelled)
        return keep

    def _stopped(self, s: Stream) -> bool:
        """Whether ``s``'s text holds a stop string; only its last ``len(stop)`` tokens are
        decoded (each token is at least one character), as ``TextLM.generate`` checks."""
        n = max(len(x) for x in s.params.stop)
        tail = self.lm.tokenizer.detokenize(self.lm.vocab.decode(s.tokens[-n:]))
        return any(x in tail for x in s.params.stop)

    def _prefill(self, new: list[Stream], out: Outbox) -> None:
        """Read the new streams' prompts (equal lengths together), sample their first
        tokens, add those that go on to the batch."""
        by_length: dict[int, list[Stream]] = {}
        for s in new:
            by_length.setdefault(len(s.prompt), []).append(s)
        joined, states, firsts = [], [], []
        for group in by_length.values():
            x = torch.stack([s.prompt for s in group], dim=1)  # (T, G)
            logits, state = self._logits(x, None)  # (G, V)
            tokens = self._sample(group, logits)  # (G,)
            keep = self._advance(group, tokens.tolist(), out)
            rows = [i for i, k in enumerate(keep) if k]
            if rows:
                index = torch.tensor(rows, dtype=torch.long)
                joined += [group[i] for i in rows]
                states.append(state if len(rows) == len(group) else reorder_state(state, index))
                firsts.append(tokens.index_select(0, index))
        if joined:
            self._active += joined
            self.peak = max(self.peak, len(self._active))
            old = [] if self._state is None else [self._state]
            self._state = cat_states([*old, *states])
            self._last = torch.cat(([] if self._last is None else [self._last]) + firsts)

    def _step(self, out: Outbox) -> None:
        """One forward for every active stream, then one vectorised sampling call."""
        self._drop([not s.cancelled for s in self._active])
        if not self._active:
            return
        assert self._last is not None
        logits, self._state = self._logits(self._last.unsqueeze(0), self._state)  # (1, B)
        tokens = self._sample(self._active, logits)  # (B,)
        self._last = tokens
        self._drop(self._advance(self._active, tokens.tolist(), out))

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
