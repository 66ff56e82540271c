"""``SLSTM``: xLSTM's scalar-memory LSTM (Beck et al. 2024) as a layer; recurrent only.

Per layer and direction (see :mod:`rnnkit.functional.slstm` for the equations and the
stabiliser)::

    i~, f~, z~, o~ = split(W x_t + b + R h_{t-1})     R block-diagonal, one block per head
    c_t = f_t c_{t-1} + exp(i~) tanh(z~),  n_t = f_t n_{t-1} + exp(i~),  h_t = σ(o~) c_t / n_t

The state is :class:`~rnnkit.functional.slstm.SLSTMState` ``(h, c, n, m)``, each field
``(L·D, B, H)``; its first field is the output, so ``h_n[0]`` reads like an LSTM's.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from rnnkit.functional.scan import scan as scan_steps
from rnnkit.functional.slstm import (
    FORGET_GATES,
    SLSTMState,
    dense_recurrent,
    mark_empty,
    slstm_cell,
)
from rnnkit.functional.slstm_sequence import slstm_sequence
from rnnkit.nn._stateful import StatefulLayer

__all__ = ["SLSTM", "default_heads"]


def default_heads(hidden_size: int) -> int:
    """The paper's 4 heads where they divide H, else 2, else 1."""
    return next(h for h in (4, 2, 1) if hidden_size % h == 0)


def check_heads(num_heads: int | None, hidden_size: int) -> int:
    """``num_heads`` (None: :func:`default_heads`), or a ValueError if it does not divide H."""
    heads = default_heads(hidden_size) if num_heads is None else num_heads
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ValueError(f"`num_heads` must be an int >= 1, got {num_heads!r}")
    if hidden_size % heads:
        raise ValueError(
            f"`num_heads` must divide `hidden_size`, got num_heads={heads}, "
            f"hidden_size={hidden_size}"
        )
    return heads


class SLSTM(StatefulLayer):
    """sLSTM layer: exponential gating, normaliser and stabiliser states, per-head memory mixing.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: with ``bias_ih``; batch_first: input/output ``(B, T, ·)``.
        dropout: dropout on each layer's output but the last (train mode only).
        bidirectional: D = 2 (the reverse direction starts at each row's last valid step).
        num_heads: NH, dividing H (None: 4, else 2, else 1 — the paper uses 4).
        forget_gate: "sigmoid" (default) or "exp".
        mode: "auto" (without ``lengths``: the whole sequence in one autograd node with a
            hand-written backward, :func:`~rnnkit.functional.slstm_sequence.slstm_sequence`;
            with ``lengths``: the scan) or "recurrent" (always the scan of
            :func:`~rnnkit.functional.slstm.slstm_cell`, the readable reference); both
            compute the same function and gradients.
        device, dtype: of the parameters.

    Parameters per layer l (suffix ``_reverse`` for D = 2): ``weight_ih_l{l} (4H, I_l)``
    ~ U(-1/sqrt(H), 1/sqrt(H)), gate blocks i | f | z | o; ``weight_hh_l{l} (4, NH, d, d)``,
    zeros; ``bias_ih_l{l} (4H,)``: zeros but the forget gate's, which follows NX-AI/xlstm's
    "powerlaw_blockdependent" init, ``b_f[j] = 5 - 12 (j / (d-1))^(0.3 + 1.3 l/(L-1))`` per
    head (from long to short memories; deeper layers lean longer).

    Example:
        >>> layer = SLSTM(10, 16)
        >>> out, state = layer(torch.randn(7, 3, 10))  # (T, B, I)
        >>> out.shape, state.h.shape, state.m.shape
        (torch.Size([7, 3, 16]), torch.Size([1, 3, 16]), torch.Size([1, 3, 16]))
    """

    modes = ("auto", "recurrent")
    state_type = SLSTMState

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        num_heads: int | None = None,
        forget_gate: str = "sigmoid",
        mode: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, mode=mode, device=device, dtype=dtype,
        )  # fmt: skip
        self.num_heads = check_heads(num_heads, hidden_size)
        if forget_gate not in FORGET_GATES:
            raise ValueError(f"`forget_gate` must be one of {FORGET_GATES}, got {forget_gate!r}")
        self.forget_gate = forget_gate
        self._build()

    def _param_shapes(self, width: int) -> dict[str, tuple[int, ...]]:
        h, heads = self.hidden_size, self.num_heads
        d = h // heads
        return {"weight_ih": (4 * h, width), "weight_hh": (4, heads, d, d), "bias_ih": (4 * h,)}

    def reset_parameters(self) -> None:
        """See the class doc: U(±1/sqrt(H)) input weights, zero recurrent weights and biases,
        power-law forget-gate biases."""
        h, heads = self.hidden_size, self.num_heads
        d = h // heads
        directions = 2 if self.bidirectional else 1
        for k in range(len(self._names)):
            p = self.params(k)
            nn.init.uniform_(p["weight_ih"], -1.0 / math.sqrt(h), 1.0 / math.sqrt(h))
            nn.init.zeros_(p["weight_hh"])
            if p.get("bias_ih") is None:
                continue
            layer = k // directions
            ratio = layer / (self.num_layers - 1) if self.num_layers > 1 else 0.0
            j = torch.arange(d, dtype=torch.float64) / max(d - 1, 1)
            forget = 5.0 - 12.0 * j ** (0.3 + 1.3 * ratio)  # (d,), per head
            with torch.no_grad():
                bias = p["bias_ih"]
                bias.zero_()
                bias[h : 2 * h] = forget.repeat(heads).to(bias.dtype)  # the f block

    def _state_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.hidden_size,),) * 4

    def _direction(
        self, k: int, x: Tensor, state: SLSTMState | None, mode: str, *, reverse: bool,
        lengths: Tensor | None,
    ) -> tuple[Tensor, SLSTMState]:  # fmt: skip
        p = self.params(k)
        gx = nn.functional.linear(x, p["weight_ih"], p.get("bias_ih"))  # (T, B, 4H), all steps
        if state is None:
            zero = gx.new_zeros((gx.size(1), self.hidden_size))  # (B, H)
            state = SLSTMState(zero, zero, zero, zero)
        # once per sequence, not per step: the dense R (one addmm a step) and m = -inf
        # for the empty rows (see rnnkit.functional.slstm.mark_empty)
        w_hh, state = dense_recurrent(p["weight_hh"]), mark_empty(state)  # (H, 4H)
        if mode == "auto" and lengths is None:  # one autograd node, backward by hand
            gx = gx.flip(0) if reverse else gx
            out, final = slstm_sequence(gx, w_hh, state, forget=self.forget_gate)
            return (out.flip(0) if reverse else out), final
        cell = partial(slstm_cell, w_hh=w_hh, forget=self.forget_gate, mark_empty=False)
        return scan_steps(cell, gx, state, reverse=reverse, lengths=lengths)

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", num_heads={self.num_heads}"
        return s + (f", forget_gate={self.forget_gate!r}" if self.forget_gate != "sigmoid" else "")
