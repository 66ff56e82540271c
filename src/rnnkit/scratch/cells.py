"""Cell steps and their hand-written backward: RNN (tanh, relu, sigmoid), LSTM, GRU.

Conventions are torch's, so the same weights give the same numbers as ``torch.nn``:
``W_ih`` (G*H, I), ``W_hh`` (G*H, H), ``b_ih`` and ``b_hh`` (G*H,), with G = 1 (RNN),
4 (LSTM gates i, f, g, o) or 3 (GRU gates r, z, n, where ``b_hn`` sits inside the reset
product). A state is a tuple: ``(h,)`` for RNN and GRU, ``(h, c)`` for LSTM.

Each cell is written as two halves so that a layer can do the input matmul for all T steps
at once (one big matmul instead of T small ones)::

    gx = x @ W_ih.T + b_ih                                  # input part, (B, G*H)
    state', cache = <cell>_step(gx, state, W_hh, b_hh)      # recurrent part, one step

and its backward mirrors it, line for line::

    dgx, dgh, dstate = <cell>_step_backward(dstate', cache, W_hh)
    dW_ih = dgx.T @ x;  db_ih = sum_B dgx;  dx = dgx @ W_ih
    dW_hh = dgh.T @ h;  db_hh = sum_B dgh

``dgx`` is the gradient of the loss w.r.t. the input pre-activations ``gx`` and ``dgh`` the
one w.r.t. the hidden pre-activations ``gh = h @ W_hh.T + b_hh``; they differ only for GRU
(the reset gate multiplies the hidden part of n). ``cell_forward`` / ``cell_backward``
glue the halves into one complete cell. The derivations are in ``docs/derivations/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "CELLS",
    "CellOps",
    "cell_backward",
    "cell_forward",
    "gru_step",
    "gru_step_backward",
    "lstm_step",
    "lstm_step_backward",
    "rnn_step",
    "rnn_step_backward",
    "sigmoid",
]

State = tuple[np.ndarray, ...]


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, ``1 / (1 + exp(-a))``, written as ``(1 + tanh(a/2)) / 2``.

    The tanh form never overflows (``exp(-a)`` does for a < -709 in float64) and costs
    three array operations.
    """
    s = np.tanh(0.5 * a)
    s *= 0.5
    s += 0.5
    return s


# ----------------------------------------------------------------------------- RNN
# h' = act(gx + h @ W_hh.T + b_hh),  act in {tanh, relu, sigmoid}


def rnn_step(
    gx: np.ndarray, state: State, W_hh: np.ndarray, b_hh: np.ndarray, nonlinearity: str = "tanh"
) -> tuple[State, tuple]:
    """One Elman step. gx: (B, H) input pre-activation; state: (h,) with h (B, H)."""
    (h,) = state
    a = h @ W_hh.T  # (B, H); then in place: a = gx + h @ W_hh.T + b_hh, the pre-activation
    a += gx
    a += b_hh
    if nonlinearity == "tanh":
        h_new = np.tanh(a)
    elif nonlinearity == "relu":
        h_new = np.maximum(a, 0.0)
    elif nonlinearity == "sigmoid":
        h_new = sigmoid(a)
    else:
        raise ValueError(
            f"`nonlinearity` must be 'tanh', 'relu' or 'sigmoid', got {nonlinearity!r}"
        )
    return (h_new,), (h_new, nonlinearity)


def rnn_step_backward(dstate: State, cache: tuple, W_hh: np.ndarray) -> tuple:
    """Backward of :func:`rnn_step`: returns ``dgx, dgh, (dh_prev,)``, each (B, H)."""
    (dh_new,) = dstate
    h_new, nonlinearity = cache
    if nonlinearity == "tanh":
        da = dh_new * (1.0 - h_new * h_new)  # d tanh(a)/da = 1 - tanh(a)^2
    elif nonlinearity == "relu":
        da = dh_new * (h_new > 0.0)  # d relu(a)/da = 1[a > 0]
    else:
        da = dh_new * h_new * (1.0 - h_new)  # d sigmoid(a)/da = s (1 - s)
    dh = da @ W_hh  # a = ... + h @ W_hh.T  =>  dL/dh = da @ W_hh
    return da, da, (dh,)  # gx and gh enter a with weight 1: dgx = dgh = da


# ----------------------------------------------------------------------------- LSTM
# [i, f, g, o] = [sig, sig, tanh, sig](gx + h @ W_hh.T + b_hh)
# c' = f * c + i * g ;  h' = o * tanh(c')


def lstm_step(
    gx: np.ndarray, state: State, W_hh: np.ndarray, b_hh: np.ndarray
) -> tuple[State, tuple]:
    """One LSTM step. gx: (B, 4H); state: (h, c), each (B, H)."""
    h, c = state
    H = c.shape[-1]  # h has P < H features when the layer projects it
    a = h @ W_hh.T  # (B, 4H); then in place: a = gx + h @ W_hh.T + b_hh, blocks i|f|g|o
    a += gx
    a += b_hh
    gates = sigmoid(a)  # (B, 4H); the g block is overwritten with tanh just below
    gates[:, 2 * H : 3 * H] = np.tanh(a[:, 2 * H : 3 * H])
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    h_new = o * tanh_c
    return (h_new, c_new), (gates, c, tanh_c)


def lstm_step_backward(dstate: State, cache: tuple, W_hh: np.ndarray) -> tuple:
    """Backward of :func:`lstm_step`: returns ``dgx, dgh`` (B, 4H) and ``(dh_prev, dc_prev)``."""
    dh_new, dc_new = dstate
    gates, c, tanh_c = cache
    H = c.shape[-1]
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    do = dh_new * tanh_c  # h' = o * tanh(c')          -> dL/do
    dc = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)  # h' through tanh(c') -> dL/dc' (total)
    da = np.empty_like(gates)  # (B, 4H) gradient w.r.t. the pre-activations
    da[:, :H] = dc * g * i * (1.0 - i)  # c' = ... + i * g, i = sig(a_i) -> dL/da_i
    da[:, H : 2 * H] = dc * c * f * (1.0 - f)  # c' = f * c + ..., f = sig(a_f) -> dL/da_f
    da[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)  # c' = ... + i * g, g = tanh(a_g) -> dL/da_g
    da[:, 3 * H :] = do * o * (1.0 - o)  # o = sig(a_o) -> dL/da_o
    dc_prev = dc * f  # c' = f * c + ... -> dL/dc
    dh_prev = da @ W_hh  # a = ... + h @ W_hh.T -> dL/dh
    return da, da, (dh_prev, dc_prev)


# ----------------------------------------------------------------------------- GRU
# [r, z] = sig(gx_rz + h @ W_hrz.T + b_hrz)
# n = tanh(gx_n + r * (h @ W_hn.T + b_hn))      (b_hn inside the reset product, as torch)
# h' = (1 - z) * n + z * h


def gru_step(
    gx: np.ndarray, state: State, W_hh: np.ndarray, b_hh: np.ndarray
) -> tuple[State, tuple]:
    """One GRU step. gx: (B, 3H); state: (h,) with h (B, H)."""
    (h,) = state
    H = h.shape[-1]
    gh = h @ W_hh.T  # (B, 3H) hidden pre-activations h @ W_hh.T + b_hh, blocks r | z | n
    gh += b_hh
    rz = sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])  # (B, 2H) reset and update gates
    r, z = rz[:, :H], rz[:, H:]
    ghn = gh[:, 2 * H :]  # (B, H) h @ W_hn.T + b_hn
    n = np.tanh(gx[:, 2 * H :] + r * ghn)
    h_new = n + z * (h - n)  # = (1 - z) * n + z * h
    return (h_new,), (h, r, z, n, ghn)


def gru_step_backward(dstate: State, cache: tuple, W_hh: np.ndarray) -> tuple:
    """Backward of :func:`gru_step`: returns ``dgx, dgh`` (B, 3H) and ``(dh_prev,)``."""
    (dh_new,) = dstate
    h, r, z, n, ghn = cache
    H = h.shape[-1]
    dn = dh_new * (1.0 - z)  # h' = (1 - z) * n + z * h -> dL/dn
    dz = dh_new * (h - n)  # h' = n + z * (h - n) -> dL/dz
    da_n = dn * (1.0 - n * n)  # n = tanh(a_n) -> dL/da_n, a_n = gx_n + r * ghn
    dgx = np.empty((h.shape[0], 3 * H), dtype=h.dtype)  # (B, 3H)
    dgh = np.empty_like(dgx)  # (B, 3H)
    dgx[:, :H] = da_n * ghn * r * (1.0 - r)  # a_n = ... + r * ghn, r = sig(a_r) -> dL/da_r
    dgx[:, H : 2 * H] = dz * z * (1.0 - z)  # z = sig(a_z) -> dL/da_z
    dgx[:, 2 * H :] = da_n  # a_n = gx_n + ... -> dL/dgx_n
    dgh[:, : 2 * H] = dgx[:, : 2 * H]  # a_r, a_z take gx and gh with weight 1
    dgh[:, 2 * H :] = da_n * r  # a_n = ... + r * ghn -> dL/dghn
    dh_prev = dh_new * z + dgh @ W_hh  # direct path z * h, plus gh = h @ W_hh.T + b_hh
    return dgx, dgh, (dh_prev,)


# ----------------------------------------------------------------------------- registry


class CellOps(NamedTuple):
    """What a layer needs to know about a cell kind."""

    gates: int
    """G: the number of gate blocks stacked in ``W_ih`` (1, 4 or 3)."""
    step: Callable
    step_backward: Callable
    has_cell_state: bool
    """True for LSTM, whose state is ``(h, c)``."""


def _rnn(nonlinearity: str) -> CellOps:
    def step(gx, state, W_hh, b_hh):
        return rnn_step(gx, state, W_hh, b_hh, nonlinearity)

    return CellOps(1, step, rnn_step_backward, False)


CELLS: dict[str, CellOps] = {
    "RNN_TANH": _rnn("tanh"),
    "RNN_RELU": _rnn("relu"),
    "RNN_SIGMOID": _rnn("sigmoid"),
    "LSTM": CellOps(4, lstm_step, lstm_step_backward, True),
    "GRU": CellOps(3, gru_step, gru_step_backward, False),
}
"""Cell kinds by mode name (torch's names, plus RNN_SIGMOID for the classic exercise)."""


def _ops(mode: str) -> CellOps:
    if mode not in CELLS:
        raise ValueError(f"`mode` must be one of {sorted(CELLS)}, got {mode!r}")
    return CELLS[mode]


def cell_forward(
    mode: str, x: np.ndarray, state: State, params: dict[str, np.ndarray]
) -> tuple[State, tuple]:
    """One complete cell step: x (B, I), state tuple of (B, H) -> new state, cache.

    ``params`` holds ``W_ih`` (G*H, I), ``W_hh`` (G*H, H), ``b_ih``, ``b_hh`` (G*H,).
    """
    ops = _ops(mode)
    gx = x @ params["W_ih"].T + params["b_ih"]  # (B, G*H)
    new_state, cache = ops.step(gx, state, params["W_hh"], params["b_hh"])
    return new_state, (x, state[0], cache)


def cell_backward(
    mode: str, dstate: State, cache: tuple, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, State, dict[str, np.ndarray]]:
    """Backward of :func:`cell_forward`: returns ``dx`` (B, I), ``dstate`` and the grads
    ``{"dW_ih", "dW_hh", "db_ih", "db_hh"}``."""
    ops = _ops(mode)
    x, h, step_cache = cache
    dgx, dgh, dstate_prev = ops.step_backward(dstate, step_cache, params["W_hh"])
    grads = {
        "dW_ih": dgx.T @ x,  # gx = x @ W_ih.T + b_ih -> dL/dW_ih, (G*H, I)
        "dW_hh": dgh.T @ h,  # gh = h @ W_hh.T + b_hh -> dL/dW_hh, (G*H, H)
        "db_ih": dgx.sum(axis=0),  # bias broadcast over B -> sum over B
        "db_hh": dgh.sum(axis=0),
    }
    dx = dgx @ params["W_ih"]  # gx = x @ W_ih.T -> dL/dx, (B, I)
    return dx, dstate_prev, grads
