"""Pure recurrent cell steps on torch tensors, with PyTorch's gate order and biases.

Every cell here is a pure function ``cell(state, x_t, *, weights..., options...) -> state``:
no module, no hidden buffers, so the same step serves :func:`rnnkit.functional.scan`, the
``rnnkit.nn`` layers and cells, and a learner stepping by hand. There is ONE step per kind
(Elman tanh/relu, LSTM with its projection, GRU; minGRU/minLSTM live in
:mod:`rnnkit.functional.minrnn`); the options beyond torch.nn are keyword arguments, off by
default, so a cell called with weights only is exactly torch's cell.

The cell protocol (what :func:`~rnnkit.functional.scan` runs)
-------------------------------------------------------------
A *cell* is any callable ``step(state, x_t, **per_step) -> state`` where

- ``x_t`` is one time step of the scanned input, ``(B, ·)``; ``per_step`` are further
  per-step tensors the scan hands over by keyword (zoneout masks, ``gh_in``);
- ``state`` is a Tensor ``(B, H)`` or a NamedTuple of Tensors with a leading batch dim
  (``LSTMState(h, c)``); the step's *output* is the state itself for a Tensor state and
  its first field (``h``) for a tuple state;
- the step is pure: it returns a new state and does not write into the old one.

Bind the weights with :func:`functools.partial` (``partial(lstm_cell, w_ih=None, w_hh=w)``).

Precomputed input projection
----------------------------
Pass ``w_ih=None`` (and ``b_ih=None``) and ``x_t`` is taken to be the input part of the
gates already computed (:func:`input_part` for all T steps at once). A scan then does ONE
matmul for all steps up front and only the hidden matmul per step, which is what makes it
fast. For LSTM and Elman cells ``b_hh`` may be folded into that projection as well; for GRU
it may not (``b_hn`` sits inside the reset product).

Equations (σ the logistic sigmoid, ⊙ the elementwise product), options off:

- Elman: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu);
- LSTM (gates i, f, g, o): ``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh(c')``, with
  ``h' = W_hr h'`` when a projection ``w_hr`` is given;
- GRU (gates r, z, n): ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
  ``h' = (1 - z) ⊙ n + z ⊙ h``.

The options
-----------
- **Layer normalisation** (Ba, Kiros & Hinton 2016, sec. 3.1 and appendix). ``LN_G(a)``
  normalises each of the G gate blocks of ``a (B, G·H)`` over its H units (per-gate
  statistics, as TensorFlow's ``LayerNormBasicLSTMCell``). The input and hidden parts are
  normalised separately, each with a gain (``ln_ih``, ``ln_hh``); their shift is torch's
  ``b_ih`` / ``b_hh``::

      LSTM:  gates = LN_4(W_ih x) ⊙ γ_ih + b_ih + LN_4(W_hh h) ⊙ γ_hh + b_hh
             c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(LN(c') ⊙ γ_c + β_c)
      GRU:   gx = LN_3(W_ih x) ⊙ γ_ih + b_ih,   gh = LN_3(W_hh h) ⊙ γ_hh + b_hh, then the GRU
      Elman: h' = tanh(LN(W_ih x) ⊙ γ_ih + b_ih + LN(W_hh h) ⊙ γ_hh + b_hh)

- **Recurrent dropout** (Semeniuta, Severyn & Barth 2016): ``recurrent_mask (B, H)`` drops
  the candidate, ``g -> m ⊙ tanh(g)`` (LSTM) or ``n -> m ⊙ n`` (GRU); the memory is kept.
- **Zoneout** (Krueger et al. 2017): ``zoneout_h`` / ``zoneout_c`` are this step's masks
  ``(B, ·)`` (1 = keep the previous value; training) or the probability p (evaluation, the
  expectation): new state ``d ⊙ prev + (1 - d) ⊙ new``. The LSTM's ``h'`` is computed from
  the candidate ``c'`` (before zoneout), as in the paper.
- ``gh_in (B, G·H)``: added to ``h W_hh^T`` before anything else touches it (the layers pass
  the carrier of the one-matmul ``W_hh`` gradient here, see ``rnnkit.functional._weight_grad``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GATES",
    "LSTMState",
    "group_norm",
    "gru_cell",
    "input_part",
    "lstm_cell",
    "rnn_relu_cell",
    "rnn_tanh_cell",
]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
"""Cell mode -> number G of H-wide gate blocks in ``W_ih`` / ``W_hh``."""

Zoneout = Tensor | float | None
"""A step's zoneout: a 0/1 mask (1 = keep the previous value), the eval probability, or off."""


class LSTMState(NamedTuple):
    """The LSTM state: ``h (..., B, H_out)`` and ``c (..., B, H)``; unpacks like torch's tuple.

    ``H_out`` is ``proj_size`` when the LSTM has a projection, else ``H``.
    """

    h: Tensor
    c: Tensor


def group_norm(a: Tensor, groups: int) -> Tensor:
    """``a (..., G·H)`` with each of its G blocks normalised over its H units (no affine)."""
    blocks = a.unflatten(-1, (groups, -1))  # (..., G, H)
    return F.layer_norm(blocks, blocks.shape[-1:]).flatten(-2)  # (..., G·H)


def input_part(
    x: Tensor,
    w_ih: Tensor | None,
    bias: Tensor | None = None,
    *,
    ln_ih: Tensor | None = None,
    groups: int = 1,
) -> Tensor:
    """``x W_ih^T + bias`` ``(..., G·H)``, or ``LN_G(x W_ih^T) ⊙ ln_ih + bias`` with layer norm.

    With ``w_ih=None``, ``x`` already is that input part and is returned as it is.
    """
    if w_ih is None:
        if bias is not None:
            raise ValueError("`b_ih` must be None when `w_ih` is None (x is already projected)")
        return x
    if ln_ih is None:
        return F.linear(x, w_ih, bias)
    gx = group_norm(F.linear(x, w_ih), groups)  # (..., G·H)
    return gx * ln_ih if bias is None else torch.addcmul(bias, gx, ln_ih)


def _hidden_part(
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    gh_in: Tensor | None,
    ln_hh: Tensor | None,
    groups: int,
) -> Tensor:
    """``h W_hh^T + gh_in``, layer-normed and scaled by ``ln_hh`` when given, ``+ b_hh``."""
    if ln_hh is None:  # b_hh joins the one addmm
        base = b_hh if gh_in is None else (gh_in if b_hh is None else gh_in + b_hh)
        return h.mm(w_hh.t()) if base is None else torch.addmm(base, h, w_hh.t())
    gh = h.mm(w_hh.t()) if gh_in is None else torch.addmm(gh_in, h, w_hh.t())  # (B, G·H)
    gh = group_norm(gh, groups)
    return gh * ln_hh if b_hh is None else torch.addcmul(b_hh, gh, ln_hh)


def _gates(
    gx: Tensor,
    h: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    gh_in: Tensor | None,
    ln_hh: Tensor | None,
    groups: int,
) -> Tensor:
    """``gx + hidden part`` ``(B, G·H)``; one fused multiply-add in the plain case."""
    if ln_hh is None and gh_in is None:
        gates = torch.addmm(gx, h, w_hh.t())
        return gates if b_hh is None else gates + b_hh
    return gx + _hidden_part(h, w_hh, b_hh, gh_in, ln_hh, groups)


def _zone(new: Tensor, prev: Tensor, zoneout: Zoneout) -> Tensor:
    """``d ⊙ prev + (1 - d) ⊙ new`` (``d`` a 0/1 mask or the eval probability); off: new."""
    if zoneout is None or (not isinstance(zoneout, Tensor) and not zoneout):
        return new
    return torch.lerp(new, prev, zoneout)


def _elman(
    act: Callable[[Tensor], Tensor],
    state: Tensor,
    x: Tensor,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    gh_in: Tensor | None,
    ln_ih: Tensor | None,
    ln_hh: Tensor | None,
    zoneout_h: Zoneout,
) -> Tensor:
    gx = input_part(x, w_ih, b_ih, ln_ih=ln_ih)  # (B, H)
    new = act(_gates(gx, state, w_hh, b_hh, gh_in, ln_hh, 1))
    return _zone(new, state, zoneout_h)


def rnn_tanh_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    gh_in: Tensor | None = None,
    ln_ih: Tensor | None = None,
    ln_hh: Tensor | None = None,
    zoneout_h: Zoneout = None,
) -> Tensor:
    """One Elman step with tanh: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        state: ``h (B, H)``.
        x: ``(B, I)``, or the projected input ``(B, H)`` when ``w_ih`` is None.
        w_ih: ``(H, I)`` or None; w_hh: ``(H, H)``; b_ih, b_hh: ``(H,)`` or None.
        gh_in, ln_ih, ln_hh, zoneout_h: the options (module doc), off by default.

    Returns:
        ``h' (B, H)``.
    """
    return _elman(torch.tanh, state, x, w_ih, w_hh, b_ih, b_hh, gh_in, ln_ih, ln_hh, zoneout_h)


def rnn_relu_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    gh_in: Tensor | None = None,
    ln_ih: Tensor | None = None,
    ln_hh: Tensor | None = None,
    zoneout_h: Zoneout = None,
) -> Tensor:
    """One Elman step with relu: ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Shapes and options as :func:`rnn_tanh_cell`.
    """
    return _elman(torch.relu, state, x, w_ih, w_hh, b_ih, b_hh, gh_in, ln_ih, ln_hh, zoneout_h)


def lstm_cell(
    state: LSTMState,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    w_hr: Tensor | None = None,
    gh_in: Tensor | None = None,
    ln_ih: Tensor | None = None,
    ln_hh: Tensor | None = None,
    ln_c: tuple[Tensor, Tensor] | None = None,
    recurrent_mask: Tensor | None = None,
    zoneout_h: Zoneout = None,
    zoneout_c: Zoneout = None,
) -> LSTMState:
    """One LSTM step, gates in PyTorch's order i, f, g, o.

    Args:
        state: ``LSTMState(h (B, H_out), c (B, H))``; ``H_out`` is P with a projection.
        x: ``(B, I)``, or the projected input ``(B, 4H)`` when ``w_ih`` is None.
        w_ih: ``(4H, I)`` or None; w_hh: ``(4H, H_out)``; b_ih, b_hh: ``(4H,)`` or None;
        w_hr: the projection ``(P, H)`` or None.
        gh_in ``(B, 4H)``, ln_ih / ln_hh ``(4H,)``, ln_c (gain, shift) ``(H,)``,
        recurrent_mask ``(B, H)``, zoneout_h ``(B, H_out)``, zoneout_c ``(B, H)``: the options
        (module doc), off by default.

    Returns:
        ``LSTMState(h' (B, H_out), c' (B, H))``.
    """
    h, c = state
    gx = input_part(x, w_ih, b_ih, ln_ih=ln_ih, groups=4)  # (B, 4H)
    gates = _gates(gx, h, w_hh, b_hh, gh_in, ln_hh, 4)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)  # 4 x (B, H)
    g = torch.tanh(g)
    if recurrent_mask is not None:
        g = g * recurrent_mask
    c_new = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), g)
    c_out = c_new if ln_c is None else F.layer_norm(c_new, c_new.shape[-1:], *ln_c)
    h_new = torch.sigmoid(o) * torch.tanh(c_out)
    if w_hr is not None:
        h_new = h_new.mm(w_hr.t())  # (B, P)
    return LSTMState(_zone(h_new, h, zoneout_h), _zone(c_new, c, zoneout_c))


def gru_cell(
    state: Tensor,
    x: Tensor,
    *,
    w_ih: Tensor | None,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    gh_in: Tensor | None = None,
    ln_ih: Tensor | None = None,
    ln_hh: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    zoneout_h: Zoneout = None,
) -> Tensor:
    """One GRU step, gates in PyTorch's order r, z, n, with ``b_hn`` inside the reset product.

    Args:
        state: ``h (B, H)``.
        x: ``(B, I)``, or the projected input ``(B, 3H)`` when ``w_ih`` is None
            (``b_hh`` must NOT be folded into it).
        w_ih: ``(3H, I)`` or None; w_hh: ``(3H, H)``; b_ih, b_hh: ``(3H,)`` or None.
        gh_in ``(B, 3H)``, ln_ih / ln_hh ``(3H,)``, recurrent_mask ``(B, H)``,
        zoneout_h ``(B, H)``: the options (module doc), off by default.

    Returns:
        ``h' (B, H)``.
    """
    gx = input_part(x, w_ih, b_ih, ln_ih=ln_ih, groups=3)  # (B, 3H)
    gh = _hidden_part(state, w_hh, b_hh, gh_in, ln_hh, 3)  # (B, 3H)
    xr, xz, xn = gx.chunk(3, 1)  # 3 x (B, H)
    hr, hz, hn = gh.chunk(3, 1)  # 3 x (B, H)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(torch.addcmul(xn, r, hn))
    if recurrent_mask is not None:
        n = n * recurrent_mask
    return _zone(torch.lerp(n, state, z), state, zoneout_h)  # (1 - z) n + z h
