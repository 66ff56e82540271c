"""Truncated backpropagation through time on a scratch recurrent layer.

Williams & Peng's TBPTT(k1, k2): every k1 steps, backpropagate the loss of those k1 steps
through the last k2 steps (k2 >= k1). k1 == k2 is the common "carried state" scheme: split
the sequence into windows, run each from the previous window's final state, and stop the
gradient there (the state is carried, its gradient is not). In NumPy the stop is free: a
window's backward simply does not go past the state it started from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnkit.scratch.layers import Recurrent

__all__ = ["truncated_bptt"]

LossFn = Callable[[np.ndarray, int], tuple[float, np.ndarray]]


def truncated_bptt(
    rnn: Recurrent, x: np.ndarray, loss_fn: LossFn, k1: int, k2: int | None = None, hx=None
) -> tuple[float, object]:
    """Run TBPTT(k1, k2) over x (T, B, I), adding the gradients into ``rnn.grads``.

    ``loss_fn(y, t0) -> (loss, dy)`` gets the outputs y (n, B, H) of steps [t0, t0 + n) (the
    steps whose loss this update counts, n <= k1) and returns their loss and its gradient
    w.r.t. y. Returns the summed loss and the final state (to carry into the next call).
    """
    k2 = k1 if k2 is None else k2
    if k1 < 1 or k2 < k1:
        raise ValueError(f"need 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    if rnn.num_directions != 1 or rnn.batch_first:
        raise ValueError("truncated_bptt needs a unidirectional, time-major (T, B, I) layer")
    T = x.shape[0]
    total, state = 0.0, hx
    prev_start, prev_end, prev_final = 0, 0, hx
    for end in range(k1, T + k1, k1):
        end = min(end, T)
        start = max(0, end - k2)
        if start == prev_end:  # the window starts where the last one ended
            h_start = prev_final
        else:  # it starts inside the last window: the state there is in its cache
            h_start = rnn.state_at(start - prev_start)
        y, state = rnn.forward(x[start:end], h_start)  # y: (end - start, B, H)
        n = end - prev_end  # steps whose loss this update counts: [prev_end, end)
        loss, dy_last = loss_fn(y[-n:], prev_end)
        dy = np.zeros_like(y)  # steps before prev_end only pass gradient through
        dy[-n:] = dy_last
        rnn.backward(dy)  # stops at h_start: the truncation
        total += loss
        prev_start, prev_end, prev_final = start, end, state
        if end == T:
            break
    return total, state
