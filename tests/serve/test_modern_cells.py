"""``rnnkit serve`` with sLSTM, mLSTM and RG-LRU language models: the batcher stacks their
NamedTuple states along the batch axis, so batched generation gives exactly the tokens each
request gets alone, and /v1/generate answers (issue #19)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import torch

from batcher_streams import drain
from rnnkit.functional.mlstm import MLSTMState
from rnnkit.functional.slstm import SLSTMState
from rnnkit.serve import ServeSettings, create_app
from rnnkit.serve.batcher import Batcher, GenParams, cat_states
from rnnkit.serve.handlers import joined_text
from rnnkit.tasks.lm import TextLM

pytestmark = pytest.mark.slow  # a tiny training per cell first

CELLS = ["slstm", "mlstm", "rglru"]
# (prompt, max_tokens, temperature, top_k, seed): prompts of different lengths, greedy too
CASES = [
    ("The ", 12, 0.8, None, 0),
    ("The Time Traveller", 5, 1.3, None, 1),
    ("It", 15, 0.0, None, None),
    ("and the", 9, 1.0, 5, 3),
]


@pytest.fixture(scope="module", params=CELLS)
def modern_lm_run(
    request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A char LM of the cell on a slice of The Time Machine (4 steps)."""
    root = tmp_path_factory.mktemp(f"serve-{request.param}")
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    corpus = root / "tm.txt"
    corpus.write_text(text[5000:11000], encoding="utf-8")
    model = {"cell": request.param, "embedding_dim": 8, "hidden_size": 8, "num_layers": 2}
    lm = TextLM.create("demo", model=model, data={"data": str(corpus), "bptt": 12, "batch_size": 4})
    lm.fit(root / "lm", {"progress": False, "eval_every": None, "lr": 1e-2, "max_steps": 4})
    return root / "lm"


def test_cat_states_stacks_xlstm_states_by_row() -> None:
    a = MLSTMState(torch.zeros(2, 1, 2, 3, 3), torch.zeros(2, 1, 2, 3), torch.zeros(2, 1, 2))
    b = MLSTMState(torch.ones(2, 2, 2, 3, 3), torch.ones(2, 2, 2, 3), torch.ones(2, 2, 2))
    both = cat_states([a, b])
    assert isinstance(both, MLSTMState) and both.C.shape == (2, 3, 2, 3, 3)
    assert both.m[:, 0].eq(0).all() and both.m[:, 1:].eq(1).all()
    s = SLSTMState(*(torch.full((1, 1, 4), float(i)) for i in range(4)))
    two = cat_states([s, s])
    assert isinstance(two, SLSTMState) and two.n.shape == (1, 2, 4) and two.n.eq(2).all()


async def _generate_all(batcher: Batcher, lm: TextLM) -> list[list[int]]:
    with batcher.hold():  # all join the batch at the same step
        streams = [
            batcher.submit(lm.encode_prompt(p), GenParams(n, t, k, None, seed))
            for p, n, t, k, seed in CASES
        ]
    return [await drain(s) for s in streams]


def test_batched_equals_unbatched(modern_lm_run: Path) -> None:
    lm = TextLM.load(modern_lm_run)
    batcher = Batcher(lm, max_streams=8, max_queue=16, batching=True)
    try:
        rows = asyncio.run(_generate_all(batcher, lm))
    finally:
        batcher.close()
    assert batcher.peak == len(CASES)
    for (prompt, n, temp, k, seed), tokens in zip(CASES, rows, strict=True):
        assert len(tokens) == n
        alone = lm.generate(prompt, n, temperature=temp, top_k=k, seed=seed)[0]
        assert joined_text(lm, prompt, tokens)[0] == alone


def test_v1_generate(modern_lm_run: Path) -> None:
    app = create_app([modern_lm_run], ServeSettings(max_new_tokens=20))
    name = next(iter(app.state.batchers))
    lm = app.state.models[name].run

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            bodies = [{"model": name, "prompt": "The ", "max_tokens": 10, "seed": s}
                      for s in range(3)]  # fmt: skip
            replies = await asyncio.gather(*(c.post("/v1/generate", json=b) for b in bodies))
            for r in replies:
                assert r.status_code == 200, r.text
            return [r.json() for r in replies]

    try:
        outs = asyncio.run(run())
    finally:
        app.state.close()
    for seed, out in enumerate(outs):
        assert out["text"] == lm.generate("The ", 10, temperature=0.8, seed=seed)[0]
