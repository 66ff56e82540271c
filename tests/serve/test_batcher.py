"""Batched generation: streams advanced together give exactly the tokens each would get
alone (TextLM.generate, same seed), streams join and leave between steps, a full queue is
refused, and the HTTP layer batches concurrent requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import torch

from batcher_streams import drain
from rnnkit.nn import LSTMState
from rnnkit.serve import ServeSettings, create_app
from rnnkit.serve.batcher import DONE, Batcher, BusyError, GenParams, cat_states
from rnnkit.serve.handlers import joined_text
from rnnkit.tasks.lm import TextLM

pytestmark = pytest.mark.slow  # a tiny training first

# (prompt, max_tokens, temperature, top_k, top_p, seed): lengths, samplers and seeds differ
CASES = [
    ("The ", 20, 0.8, None, None, 0),
    ("The Time Traveller", 7, 1.3, None, None, 1),
    ("It", 30, 0.0, None, None, None),  # greedy
    ("The ", 20, 0.8, None, None, 0),  # the same request twice: the same text twice
    ("and the", 15, 1.0, 5, None, 3),
    ("I ", 25, 0.9, None, 0.8, 4),
]


def test_cat_states_keeps_the_tuple_form() -> None:
    a = LSTMState(torch.zeros(2, 1, 3), torch.ones(2, 1, 3))
    b = LSTMState(torch.ones(2, 2, 3), torch.zeros(2, 2, 3))
    both = cat_states([a, b])
    assert isinstance(both, LSTMState) and both.h.shape == (2, 3, 3)
    assert both.c[:, 0].eq(1).all() and both.c[:, 1:].eq(0).all()
    layers = cat_states([[torch.zeros(1, 1, 2)], [torch.ones(1, 1, 2)]])
    assert isinstance(layers, list) and layers[0].shape == (1, 2, 2)


async def _generate_all(batcher: Batcher, lm: TextLM) -> list[list[int]]:
    with batcher.hold():  # all six join the batch at the same step
        streams = [
            batcher.submit(lm.encode_prompt(p), GenParams(n, t, k, top_p, seed))
            for p, n, t, k, top_p, seed in CASES
        ]
    return [await drain(s) for s in streams]


@pytest.mark.parametrize("batching", [True, False])
def test_batched_equals_unbatched_for_the_same_seeds(lm_run: Path, batching: bool) -> None:
    lm = TextLM.load(lm_run)
    batcher = Batcher(lm, max_streams=8, max_queue=16, batching=batching)
    try:
        rows = asyncio.run(_generate_all(batcher, lm))
    finally:
        batcher.close()
    assert batcher.peak == (len(CASES) if batching else 1)
    for (prompt, n, temp, k, p, seed), tokens in zip(CASES, rows, strict=True):
        assert len(tokens) == n
        if seed is None and temp > 0:
            continue
        alone = lm.generate(prompt, n, temperature=temp, top_k=k, top_p=p, seed=seed)[0]
        assert joined_text(lm, prompt, tokens)[0] == alone
    assert rows[0] == rows[3]


def test_streams_join_and_leave_between_steps(lm_run: Path) -> None:
    """A stream submitted while others run joins them; short ones leave, long ones go on."""
    lm = TextLM.load(lm_run)
    batcher = Batcher(lm, max_streams=2, max_queue=8)  # the third waits for a free row

    async def run() -> list[list[int]]:
        params = [GenParams(3, 0.8, seed=1), GenParams(40, 0.8, seed=2), GenParams(10, 0.8, seed=3)]
        streams = [batcher.submit(lm.encode_prompt("The "), p) for p in params]
        return [await drain(s) for s in streams]

    try:
        rows = asyncio.run(run())
    finally:
        batcher.close()
    assert [len(r) for r in rows] == [3, 40, 10] and batcher.peak <= 2
    for r, seed in zip(rows, (1, 2, 3), strict=True):
        alone = lm.generate("The ", len(r), temperature=0.8, seed=seed)[0]
        assert joined_text(lm, "The ", r)[0] == alone


def test_a_stream_without_token_items_gets_only_done(lm_run: Path) -> None:
    """A plain JSON request is woken once: DONE, its tokens in ``stream.tokens``; a stop
    string ends it early with ``finish == "stop"``."""
    lm = TextLM.load(lm_run)
    batcher = Batcher(lm, max_streams=4, max_queue=8)

    async def run() -> list:
        ids = lm.encode_prompt("The ")
        with batcher.hold():
            quiet = batcher.submit(ids, GenParams(20, 0.8, seed=2), stream_tokens=False)
            loud = batcher.submit(ids, GenParams(20, 0.8, seed=2))
        items = [await asyncio.wait_for(quiet.queue.get(), 60), *await drain(loud)]
        stop = joined_text(lm, "The ", loud.tokens)[1][5:7]
        stopped = batcher.submit(ids, GenParams(20, 0.8, seed=2, stop=(stop,)), False)
        assert await asyncio.wait_for(stopped.queue.get(), 60) is DONE
        return [items, quiet, loud, stopped, stop]

    try:
        items, quiet, loud, stopped, stop = asyncio.run(run())
    finally:
        batcher.close()
    assert items[0] is DONE and items[1:] == loud.tokens == quiet.tokens
    assert quiet.finish == "length" and len(quiet.tokens) == 20
    assert stopped.finish == "stop" and len(stopped.tokens) <= 7
    assert stopped.tokens == quiet.tokens[: len(stopped.tokens)]
    alone = lm.generate("The ", 20, temperature=0.8, seed=2, stop=[stop])[0]
    assert joined_text(lm, "The ", stopped.tokens, (stop,))[0] == alone


def test_a_full_queue_is_refused_and_cancelled_streams_leave(lm_run: Path) -> None:
    lm = TextLM.load(lm_run)
    batcher = Batcher(lm, max_streams=1, max_queue=1)

    async def run() -> None:
        ids = lm.encode_prompt("The ")
        with batcher.hold():
            first = batcher.submit(ids, GenParams(400, 0.8))
            with pytest.raises(BusyError, match="already waiting"):
                batcher.submit(ids, GenParams(5))
        assert await asyncio.wait_for(first.queue.get(), 60) is not DONE
        first.cancelled = True  # the client left
        second = batcher.submit(ids, GenParams(5, 0.0))  # room again once it is dropped
        assert len(await drain(second)) == 5

    try:
        asyncio.run(run())
    finally:
        batcher.close()


def test_concurrent_http_requests_are_batched(lm_run: Path) -> None:
    app = create_app([lm_run], ServeSettings(max_new_tokens=60))
    batcher = app.state.batchers["lm"]
    lm = app.state.models["lm"].run

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            bodies = [{"model": "lm", "prompt": "The ", "max_tokens": 60, "seed": s}
                      for s in range(8)]  # fmt: skip
            with batcher.hold():  # every request is submitted before the worker steps
                tasks = [asyncio.ensure_future(c.post("/v1/generate", json=b)) for b in bodies]
                for _ in range(200):  # bounded: let the handlers reach the queue
                    await asyncio.sleep(0.01)
                    if batcher.load["waiting"] == len(bodies):
                        break
            return [(await t).json() for t in tasks]

    try:
        outs = asyncio.run(run())
    finally:
        app.state.close()
    assert batcher.peak == 8
    for seed, out in enumerate(outs):
        assert out["text"] == lm.generate("The ", 60, temperature=0.8, seed=seed)[0]
