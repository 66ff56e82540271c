"""Learning in scratch: the classic binary-addition RNN, and a character LM on real text."""

from __future__ import annotations

import numpy as np

from rnnkit.scratch import RNN, Adam, CharLM, Linear, clip_grad_norm, cross_entropy

BITS = 8


def to_bits(n: np.ndarray) -> np.ndarray:
    """(N,) ints -> (BITS, N) bits, least significant first (the order the RNN adds in)."""
    return (n[None, :] >> np.arange(BITS)[:, None]) & 1


def test_rnn_learns_binary_addition():
    rng = np.random.default_rng(0)
    rnn = RNN(2, 16, 1, "sigmoid", rng=rng)  # sigmoid, as in the classic blog post
    head = Linear(16, 2, rng=rng)  # logits for the sum bit being 0 or 1
    params = {**{"rnn." + k: v for k, v in rnn.params.items()}}
    params.update({"head." + k: v for k, v in head.params.items()})
    grads = {**{"rnn." + k: v for k, v in rnn.grads.items()}}
    grads.update({"head." + k: v for k, v in head.grads.items()})
    opt = Adam(params, grads, lr=0.03)

    def run(a, b):
        x = np.stack([to_bits(a), to_bits(b)], axis=-1).astype(float)  # (T=8, N, 2)
        y, _ = rnn.forward(x)
        return head.forward(y)  # (T, N, 2)

    for _ in range(300):
        a, b = rng.integers(0, 128, 64), rng.integers(0, 128, 64)
        logits = run(a, b)
        loss, d = cross_entropy(logits.reshape(-1, 2), to_bits(a + b).reshape(-1))
        rnn.zero_grad()
        head.zero_grad()
        rnn.backward(head.backward(d.reshape(logits.shape)))
        clip_grad_norm(grads, 5.0)
        opt.step()

    a, b = np.divmod(np.arange(128 * 128), 128)  # every pair of 7-bit numbers
    bits = run(a, b).argmax(axis=-1)  # (T, N)
    total = (bits << np.arange(BITS)[:, None]).sum(axis=0)
    assert np.array_equal(total, a + b)


def test_char_lm_lowers_its_loss_on_the_time_machine(data_dir):
    text = (data_dir / "timemachine" / "timemachine.txt").read_text()[5000:25000].lower()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    rng = np.random.default_rng(0)
    lm = CharLM(len(chars), 16, 48, 1, "lstm", rng=rng)
    opt = Adam(lm.parameters(), lm.gradients(), lr=0.01)
    T, B = 25, 16
    starts = np.arange(0, len(ids) - T - 1, T)
    losses = []
    for _ in range(120):
        s = rng.choice(starts, B)
        x = np.stack([ids[i : i + T] for i in s], axis=1)  # (T, B)
        y = np.stack([ids[i + 1 : i + T + 1] for i in s], axis=1)  # (T, B) next characters
        lm.zero_grad()
        loss, _ = lm.train_step(x, y)
        clip_grad_norm(lm.gradients(), 1.0)
        opt.step()
        losses.append(loss)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert first > np.log(len(chars)) - 0.5  # starts near uniform guessing
    assert last < first - 0.8, (first, last)
    sample = lm.generate([chars.index("t")], 20, rng=rng)
    assert len(sample) == 20
