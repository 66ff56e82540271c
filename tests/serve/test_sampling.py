"""The vectorised sampler: every row gets exactly the token ``rnnkit.decoding.sample`` gives
it alone with its own generator (so batched generation equals unbatched generation)."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import sample
from rnnkit.serve.sampling import RowSampling, sample_rows

MIXED = [
    RowSampling(0.8),
    RowSampling(1.3),
    RowSampling(0.0),  # greedy: draws nothing
    RowSampling(0.8),
    RowSampling(1.0, top_k=5),
    RowSampling(0.9, top_p=0.8),
    RowSampling(0.7, top_k=10, top_p=0.5),
]


@pytest.mark.parametrize("settings", [MIXED, [RowSampling(0.8)] * 9], ids=["mixed", "alike"])
def test_rows_match_sampling_each_row_alone(settings: list[RowSampling]) -> None:
    torch.manual_seed(0)
    batch, vocab = len(settings), 61
    mine = [torch.Generator().manual_seed(100 + b) for b in range(batch)]
    alone = [torch.Generator().manual_seed(100 + b) for b in range(batch)]
    noise = torch.empty(16, vocab)
    seen = set()
    for _ in range(40):  # 40 steps: the generators stay in step with each other
        logits = torch.randn(batch, vocab) * 3
        got = sample_rows(logits, settings, mine, noise)
        want = [
            int(sample(logits[b : b + 1], s.temperature, s.top_k, s.top_p, alone[b])[0])
            for b, s in enumerate(settings)
        ]
        assert got.tolist() == want
        seen.update(want)
    assert len(seen) > 10  # it really sampled, not always the argmax
    for g, h in zip(mine, alone, strict=True):  # and left every generator where sample does
        assert torch.equal(g.get_state(), h.get_state())


def test_one_row_and_a_missing_buffer() -> None:
    logits = torch.randn(1, 7)
    got = sample_rows(logits, [RowSampling(1.0)], [torch.Generator().manual_seed(3)])
    want = sample(logits, 1.0, generator=torch.Generator().manual_seed(3))
    assert got.tolist() == want.tolist()


def test_bad_shapes_name_the_argument() -> None:
    with pytest.raises(ValueError, match="`logits` must be"):
        sample_rows(torch.zeros(3), [RowSampling()], [None])
    with pytest.raises(ValueError, match="one entry per row"):
        sample_rows(torch.zeros(2, 3), [RowSampling()], [None, None])
