"""Pure recurrent cell steps on torch tensors, with PyTorch's gate order and biases.

Every cell here is a pure function ``cell(state, x_t, *, weights...) -> state``: no module, no
hidden buffers, so the same step serves :func:`rnnkit.functional.scan`, the ``rnnkit.nn``
cells and a learner stepping by hand.

The cell protocol (what :func:`~rnnkit.functional.scan` runs)
-------------------------------------------------------------
A *cell* is any callable ``step(state, x_t) -> state`` where

- ``x_t`` is one time step of the scanned input, ``(B, ·)``;
- ``state`` is a Tensor ``(B, H)`` or a NamedTuple of Tensors with a leading batch dim
  (``LSTMState(h, c)``); the step's *output* is the state itself for a Tensor state and
  its first field (``h``) for a tuple state;
- the step is pure: it returns a new state and does not write into the old one (the scan
  keeps old states for padded rows and for autograd).

Bind the weights with :func:`functools.partial` (``partial(lstm_cell, w_ih=None, w_hh=w)``)
or a closure. Extensions (layer norm, recurrent dropout, zoneout, minGRU...) are new
callables of the same shape; the scan needs nothing else from them.

Precomputed input projection
----------------------------
Pass ``w_ih=None`` (and ``b_ih=None``) and ``x_t`` is taken to be the input part of the
gates already computed, ``x_t @ W_ih^T + b_ih`` of shape ``(B, G·H)``. A scan then does ONE
matmul for all T steps up front and only the hidden matmul per step, which is what makes it
fast. For LSTM and Elman cells ``b_hh`` may be folded into that projection as well; for GRU
it may not (``b_hn`` sits inside the reset product).

Equations (σ the logistic sigmoid, ⊙ the elementwise product):

- Elman: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu);
- LSTM (gates i, f, g, o): ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``, with
  ``h' = W_hr h'`` when a projection ``w_hr`` is given;
- GRU (gates r, z, n): ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
  ``h' = (1 - z) ⊙ n + z ⊙ h``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LSTMState", "gru_cell", "lstm_cell", "rnn_relu_cell", "rnn_tanh_cell"]


class LSTMState(NamedTuple):
    """The LSTM state: ``h (..., B, H_out)`` and ``c (..., B, H)``; unpacks like torch's tuple.

    ``H_out`` is ``proj_size`` when the LSTM has a projection, else ``H``.
    """

    h: Tensor
    c: Tensor


def _input_part(x: Tensor, w_ih: Tensor | None, b_ih: Tensor | None) -> Tensor:
    """``x W_ih^T + b_ih`` ``(B, G)``; with ``w_ih=None``, ``x`` already is that projection."""
    if w_ih is None:
        if b_ih is not None:
            raise ValueError("`b_ih` must be None when `w_ih` is None (x is already projected)")
        return x
    return F.linear(x, w_ih, b_ih)


def _gates(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """``gx + h W_hh^T + b_hh`` ``(B, G)`` in one fused multiply-add where possible."""
    gates = torch.addmm(gx, h, w_hh.t())
    return gates if b_hh is None else gates + b_hh


def rnn_tanh_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One Elman step with tanh: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        state: ``h (B, H)``.
        x: ``(B, I)``, or the projected input ``(B, H)`` when ``w_ih`` is None.
        w_ih: ``(H, I)`` or None; w_hh: ``(H, H)``; b_ih, b_hh: ``(H,)`` or None.

    Returns:
        ``h' (B, H)``.
    """
    return torch.tanh(_gates(_input_part(x, w_ih, b_ih), state, w_hh, b_hh))


def rnn_relu_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One Elman step with relu: ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Shapes as :func:`rnn_tanh_cell`.
    """
    return torch.relu(_gates(_input_part(x, w_ih, b_ih), state, w_hh, b_hh))


def lstm_cell(
    state: LSTMState,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> LSTMState:
    """One LSTM step, gates in PyTorch's order i, f, g, o.

    Args:
        state: ``LSTMState(h (B, H_out), c (B, H))``; ``H_out`` is P with a projection.
        x: ``(B, I)``, or the projected input ``(B, 4H)`` when ``w_ih`` is None.
        w_ih: ``(4H, I)`` or None; w_hh: ``(4H, H_out)``; b_ih, b_hh: ``(4H,)`` or None;
        w_hr: the projection ``(P, H)`` or None.

    Returns:
        ``LSTMState(h' (B, H_out), c' (B, H))``.
    """
    h, c = state
    gates = _gates(_input_part(x, w_ih, b_ih), h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)  # 4 x (B, H)
    c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
    h = torch.sigmoid(o) * torch.tanh(c)
    if w_hr is not None:
        h = h.mm(w_hr.t())  # (B, P)
    return LSTMState(h, c)


def gru_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
) -> Tensor:
    """One GRU step, gates in PyTorch's order r, z, n, with ``b_hn`` inside the reset product.

    Args:
        state: ``h (B, H)``.
        x: ``(B, I)``, or the projected input ``(B, 3H)`` when ``w_ih`` is None
            (``b_hh`` must NOT be folded into it).
        w_ih: ``(3H, I)`` or None; w_hh: ``(3H, H)``; b_ih, b_hh: ``(3H,)`` or None.

    Returns:
        ``h' (B, H)``.
    """
    gx = _input_part(x, w_ih, b_ih)  # (B, 3H)
    gh = state.mm(w_hh.t()) if b_hh is None else torch.addmm(b_hh, state, w_hh.t())  # (B, 3H)
    xr, xz, xn = gx.chunk(3, 1)  # 3 x (B, H)
    hr, hz, hn = gh.chunk(3, 1)  # 3 x (B, H)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(torch.addcmul(xn, r, hn))
    return torch.lerp(n, state, z)  # (1 - z) n + z h
