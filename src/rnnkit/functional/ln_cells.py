"""Cells beyond torch.nn for the scan path: layer norm, recurrent dropout, zoneout.

The options, per layer and direction (:class:`CellOptions`), on the torch cells' maths
(G gates of size H each: LSTM i, f, g, o; GRU r, z, n; Elman one):

- **Layer normalisation** (Ba, Kiros & Hinton 2016, "Layer Normalization", sec. 3.1 and
  appendix for the LSTM). ``LN_G(a)`` normalises each of the G gate blocks of ``a (B, G·H)``
  to zero mean and unit variance over its H units (one ``layer_norm`` call for all G blocks:
  per-gate statistics, as TensorFlow's ``LayerNormBasicLSTMCell``; Ba et al. write one
  normalisation over the whole 4H vector, per-gate keeps a large gate from swamping the
  others). The input and hidden projections are normalised separately, each with a learned
  gain; their shift is torch's ``b_ih`` / ``b_hh`` (a second shift would be redundant)::

      LSTM:  gates = LN_4(W_ih x) ⊙ γ_ih + b_ih + LN_4(W_hh h) ⊙ γ_hh + b_hh
             c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(LN(c') ⊙ γ_c + β_c)
      GRU:   gx = LN_3(W_ih x) ⊙ γ_ih + b_ih,   gh = LN_3(W_hh h) ⊙ γ_hh + b_hh, then the
             torch GRU on (gx, gh) (``b_hn`` and the n block of gh inside the reset product)
      Elman: h' = tanh(LN(W_ih x) ⊙ γ_ih + b_ih + LN(W_hh h) ⊙ γ_hh + b_hh)

  ``LN(W_ih x)`` does not depend on h, so it is computed for all T steps up front.
- **Recurrent dropout** (Semeniuta, Severyn & Barth 2016, "Recurrent Dropout without Memory
  Loss"): dropout on the candidate update with one mask per sequence, ``g -> m ⊙ tanh(g)``
  (LSTM) or ``n -> m ⊙ n`` (GRU); the memory ``c`` / the carried ``z ⊙ h`` is never dropped.
- **Zoneout** (Krueger et al. 2017, "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
  Activations"): with ``d ~ Bernoulli(p)`` drawn per unit and per step, the new state is
  ``d ⊙ prev + (1 - d) ⊙ new`` (training) and ``p ⊙ prev + (1 - p) ⊙ new`` (evaluation, the
  expectation). For the LSTM, h and c are zoned out with their own masks, and ``h'`` is
  computed from the candidate ``c'`` (before zoneout), as in the paper's eq. for zoneout LSTM.

The per-step zoneout masks travel with the projected input: the scanned tensor is
``cat([gx, d_h, d_c], -1)`` and each step splits it (views, no per-step allocation).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional.cells import LSTMState

__all__ = ["CellOptions", "group_norm", "project_and_cell"]

HiddenProduct = Callable[[Tensor], Tensor]
"""``h (B, H_out) -> h W_hh^T (B, G·H)`` (plain, or with the one-matmul ``W_hh`` gradient)."""


class CellOptions(NamedTuple):
    """One layer and direction's options beyond torch.nn (None / 0.0: off)."""

    ln_ih: Tensor | None = None
    """Gain γ_ih ``(G·H,)`` of ``LN_G(W_ih x)``; None: no layer norm."""
    ln_hh: Tensor | None = None
    """Gain γ_hh ``(G·H,)`` of ``LN_G(W_hh h)``."""
    ln_c: tuple[Tensor, Tensor] | None = None
    """LSTM: gain and shift ``(H,)`` of ``LN(c')``."""
    recurrent_mask: Tensor | None = None
    """``(B, H)`` scaled keep mask on the candidate (train mode), or None."""
    zoneout_h: Tensor | float = 0.0
    """``(T, B, H_out)`` masks, 1 = keep the previous h (train), or p (eval), or 0 (off)."""
    zoneout_c: Tensor | float = 0.0
    """LSTM: ``(T, B, H)`` masks for c, or p, or 0."""


def group_norm(a: Tensor, groups: int) -> Tensor:
    """``a (..., G·H)`` with each of its G blocks normalised over its H units (no affine)."""
    blocks = a.unflatten(-1, (groups, -1))  # (..., G, H)
    return F.layer_norm(blocks, blocks.shape[-1:]).flatten(-2)  # (..., G·H)


_Zone = int | float | None
"""Zoneout of one state field in a cell: the index of its mask among the step's split parts
(int, training), the eval probability (float), or None (off)."""


def _zoneout(z: Tensor | float, sizes: list[int]) -> _Zone:
    """For a mask ``z``, append its width to ``sizes`` and return its part index."""
    if isinstance(z, Tensor):
        sizes.append(z.size(-1))
        return len(sizes) - 1
    return float(z) if z else None


def _pick(parts: list[Tensor], z: _Zone) -> Tensor | float | None:
    return parts[z] if isinstance(z, int) else z


def _parts(x: Tensor, sizes: list[int] | None) -> list[Tensor]:
    return [x] if sizes is None else list(x.split(sizes, 1))  # gx (B, G·H), masks (B, ·)


def _zone(new: Tensor, prev: Tensor, mask: Tensor | float | None) -> Tensor:
    """``mask ⊙ prev + (1 - mask) ⊙ new`` (mask a 0/1 tensor or the eval probability)."""
    return new if mask is None else torch.lerp(new, prev, mask)


def _lstm(
    state: LSTMState,
    x: Tensor,
    *,
    hh: HiddenProduct,
    ln_hh: Tensor | None,
    ln_c: tuple[Tensor, Tensor] | None,
    rec_mask: Tensor | None,
    w_hr: Tensor | None,
    sizes: list[int] | None,
    zh: _Zone,
    zc: _Zone,
) -> LSTMState:
    h, c = state
    parts = _parts(x, sizes)  # gx (B, 4H), zoneout masks (B, ·)
    gx, zh, zc = parts[0], _pick(parts, zh), _pick(parts, zc)
    gh = hh(h)  # (B, 4H)
    gates = gx + gh if ln_hh is None else torch.addcmul(gx, group_norm(gh, 4), ln_hh)
    i, f, g, o = gates.chunk(4, 1)  # 4 x (B, H)
    g = torch.tanh(g)
    if rec_mask is not None:
        g = g * rec_mask
    c_new = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), g)
    c_out = c_new if ln_c is None else F.layer_norm(c_new, c_new.shape[-1:], *ln_c)
    h_new = torch.sigmoid(o) * torch.tanh(c_out)
    if w_hr is not None:
        h_new = h_new.mm(w_hr.t())  # (B, P)
    return LSTMState(_zone(h_new, h, zh), _zone(c_new, c, zc))


def _gru(
    state: Tensor,
    x: Tensor,
    *,
    hh: HiddenProduct,
    b_hh: Tensor | None,
    ln_hh: Tensor | None,
    rec_mask: Tensor | None,
    sizes: list[int] | None,
    zh: _Zone,
) -> Tensor:
    parts = _parts(x, sizes)  # gx (B, 3H), zoneout mask (B, H)
    gx = parts[0]
    gh = hh(state)  # (B, 3H)
    if ln_hh is not None:
        gh = group_norm(gh, 3)
        gh = gh * ln_hh if b_hh is None else torch.addcmul(b_hh, gh, ln_hh)
    elif b_hh is not None:
        gh = gh + b_hh
    xr, xz, xn = gx.chunk(3, 1)  # 3 x (B, H)
    hr, hz, hn = gh.chunk(3, 1)  # 3 x (B, H)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(torch.addcmul(xn, r, hn))
    if rec_mask is not None:
        n = n * rec_mask
    h_new = torch.lerp(n, state, z)  # (1 - z) n + z h
    return _zone(h_new, state, _pick(parts, zh))


def _elman(
    state: Tensor,
    x: Tensor,
    *,
    hh: HiddenProduct,
    ln_hh: Tensor | None,
    act: Callable[[Tensor], Tensor],
    sizes: list[int] | None,
    zh: _Zone,
) -> Tensor:
    parts = _parts(x, sizes)  # gx (B, H), zoneout mask (B, H)
    gh = hh(state)  # (B, H)
    pre = parts[0] + gh if ln_hh is None else torch.addcmul(parts[0], group_norm(gh, 1), ln_hh)
    return _zone(act(pre), state, _pick(parts, zh))


def project_and_cell(
    mode: str, x: Tensor, w: Any, hh: HiddenProduct, opts: CellOptions
) -> tuple[Tensor, Callable[[Any, Tensor], Any]]:
    """The scanned input ``(T, B, G·H [+ zoneout mask widths])`` and the cell for ``mode``.

    Args:
        mode: "lstm", "gru", "rnn_tanh" or "rnn_relu".
        x: ``(T, B, I)``; w: the layer's :class:`~rnnkit.functional.layers.CellWeights`.
        hh: computes ``h W_hh^T`` (the layer passes the dropped ``W_hh`` when weight drop is on).
        opts: the options, see :class:`CellOptions`.
    """
    groups = {"lstm": 4, "gru": 3}.get(mode, 1)
    gru = mode == "gru"
    # Both biases go up front, except the GRU's b_hh (b_hn sits inside the reset product).
    biases = [b for b in (w.b_ih, None if gru else w.b_hh) if b is not None]
    bias = sum(biases[1:], biases[0]) if biases else None
    if opts.ln_ih is None:
        gx = F.linear(x, w.w_ih, bias)  # (T, B, G·H)
    else:
        gx = group_norm(F.linear(x, w.w_ih), groups)  # (T, B, G·H)
        gx = gx * opts.ln_ih if bias is None else torch.addcmul(bias, gx, opts.ln_ih)
    sizes: list[int] = [gx.size(-1)]
    zh = _zoneout(opts.zoneout_h, sizes)
    zc = _zoneout(opts.zoneout_c, sizes) if mode == "lstm" else None
    masks = [z for z in (opts.zoneout_h, opts.zoneout_c) if isinstance(z, Tensor)]
    if masks:
        gx = torch.cat([gx, *masks], dim=-1)  # (T, B, G·H + mask widths)
    split = sizes if masks else None
    if mode == "lstm":
        cell = partial(
            _lstm, hh=hh, ln_hh=opts.ln_hh, ln_c=opts.ln_c, rec_mask=opts.recurrent_mask,
            w_hr=w.w_hr, sizes=split, zh=zh, zc=zc,
        )  # fmt: skip
    elif gru:
        cell = partial(
            _gru, hh=hh, b_hh=w.b_hh, ln_hh=opts.ln_hh, rec_mask=opts.recurrent_mask,
            sizes=split, zh=zh,
        )  # fmt: skip
    else:
        act = torch.tanh if mode == "rnn_tanh" else torch.relu
        cell = partial(_elman, hh=hh, ln_hh=opts.ln_hh, act=act, sizes=split, zh=zh)
    return gx, cell
