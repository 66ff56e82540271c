"""generate(): prompt read once, O(N) steps, state carried, stopping, batches of samples."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.decoding.generate import beam_generate, generate

CHARS = "abc\n"


class Counting:
    """A Markov-table step function that counts the token positions it processes."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table  # (V, V) logits of the next token given the current one
        self.positions = 0
        self.calls = 0

    def __call__(self, ids: torch.Tensor, state):
        self.calls += 1
        self.positions += ids.shape[0]  # (T, B): T positions per row
        steps = (0 if state is None else state) + ids.shape[0]
        return self.table[ids], steps  # (T, B, V)


def _cycle_table(vocab: int = 4) -> torch.Tensor:
    return torch.eye(vocab).roll(1, dims=1) * 20.0  # i -> i + 1 (mod V), nearly surely


def test_prompt_is_read_once_and_cost_is_linear():
    step = Counting(_cycle_table())
    prompt = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    out = generate(step, prompt, None, 50, temperature=0)
    assert out == [[(3 + i) % 4 for i in range(50)]]
    assert step.positions == len(prompt) + 50 - 1  # O(N), not O(N^2)
    assert step.calls == 50


def _char_model(vocab: int) -> tuple[nn.Module, nn.GRU, nn.Module]:
    torch.manual_seed(0)
    return nn.Embedding(vocab, 8), nn.GRU(8, 16), nn.Linear(16, vocab)


def test_carried_state_equals_rereading_everything():
    emb, rnn, head = _char_model(7)

    def step(ids, h):
        out, h = rnn(emb(ids), h)  # (T, B, H)
        return head(out), h  # (T, B, V)

    prompt = torch.tensor([[1, 2], [3, 4], [5, 6]])  # (T, B): two prompts
    with torch.no_grad():
        fast = generate(step, prompt, None, 12, temperature=0)
        for b in range(2):  # the O(N^2) way: re-read the whole sequence for every token
            seq = prompt[:, b].tolist()
            for _ in range(12):
                logits, _ = step(torch.tensor(seq).unsqueeze(1), None)  # (T, 1, V)
                seq.append(int(logits[-1, 0].argmax()))
            assert fast[b] == seq[3:]


def test_stop_ids_and_per_row_stopping():
    step = Counting(_cycle_table())
    prompt = torch.tensor([[0, 2]])  # (1, B=2)
    out = generate(step, prompt, None, 10, temperature=0, stop_ids=[3])
    assert out == [[1, 2], []]  # row 0 stops after 1, 2; row 1 at once; stop id excluded
    assert step.calls == 3  # stops as soon as every row is done


def test_stop_strings_with_decode_callback():
    step = Counting(_cycle_table())
    decode = lambda ids: "".join(CHARS[i] for i in ids)  # noqa: E731
    prompt = torch.tensor([[0, 1, 3]])  # rows start after 'a', 'b', '\n'
    out = generate(step, prompt, None, 20, temperature=0, stop_strings=["c\na"], decode=decode)
    texts = [decode(ids) for ids in out]
    assert texts == ["bc\na", "c\na", "abc\na"]  # each row stops where the string completes
    out = generate(step, prompt, None, 2, temperature=0, stop_strings=["zz"], decode=decode)
    assert [len(ids) for ids in out] == [2, 2, 2]  # max length
    with pytest.raises(ValueError, match="decode"):
        generate(step, prompt, None, 5, stop_strings=["x"])


def test_batch_of_samples_from_one_prompt_and_state():
    emb, rnn, head = _char_model(7)

    def step(ids, h):
        out, h = rnn(emb(ids), h)
        return head(out), h

    h0 = torch.zeros(1, 1, 16)  # a 1-row state, tiled to every sample
    with torch.no_grad():
        a = generate(step, torch.tensor([1, 2]), h0, 15, num_samples=6, top_k=5,
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
        b = generate(step, torch.tensor([1, 2]), h0, 15, num_samples=6, top_k=5,
                     generator=torch.Generator().manual_seed(0))  # fmt: skip
        single = generate(step, torch.tensor([1, 2]), None, 15, temperature=0)
        greedy6 = generate(step, torch.tensor([1, 2]), h0, 15, temperature=0, num_samples=6)
    assert a == b and len(a) == 6 and all(len(row) == 15 for row in a)
    assert len({tuple(row) for row in a}) > 1  # different samples
    assert greedy6 == single * 6


def test_argument_errors():
    step = Counting(_cycle_table())
    with pytest.raises(ValueError, match="empty"):
        generate(step, torch.tensor([], dtype=torch.long), None, 3)
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, B\)"):
        generate(step, torch.zeros(1, 1, 1, dtype=torch.long), None, 3)
    with pytest.raises(ValueError, match="batch sizes"):
        generate(step, torch.tensor([[0, 1, 2]]), torch.zeros(1, 2, 4), 3)
    assert generate(step, torch.tensor([0]), None, 0) == [[]]


def test_beam_generate_reads_the_prompt_once_and_beam_one_is_greedy():
    emb, rnn, head = _char_model(7)
    positions = []

    def step(ids, h):
        positions.append(ids.shape[0])
        out, h = rnn(emb(ids), h)
        return head(out), h

    prompt = torch.tensor([[1, 2], [3, 4], [5, 6]])  # (T, B): two prompts
    with torch.no_grad():
        greedy = generate(step, prompt, None, 10, temperature=0)
        positions.clear()
        one = beam_generate(step, prompt, None, 10, beam_size=1)
        assert positions == [2] + [1] * 10  # prompt[:-1] once, then one token per step
        four = beam_generate(step, prompt, None, 10, beam_size=4, n_best=2, eos_id=0)
    assert [row[0].tokens for row in one] == greedy
    for b in range(2):
        assert four[b][0].log_prob >= one[b][0].log_prob - 1e-6  # beam never worse
        assert four[b][0].score >= four[b][1].score
        assert all(0 not in h.tokens[:-1] and len(h.tokens) <= 10 for h in four[b])
