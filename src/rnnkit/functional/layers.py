"""Stacked and bidirectional recurrent layers, composed from the cells and the scan.

This is the explicit engine behind ``rnnkit.nn``'s ``impl="scan"``, and the one composition
of layers x directions that every recurrent layer of rnnkit uses (:func:`stack_layers`: the
scan path here, the fused kernel's layer-by-layer path and the minGRU/minLSTM layers in
``rnnkit.nn``).

For each layer and direction, one matmul projects the whole input (``x W_ih^T + b``, all T
steps at once, :func:`~rnnkit.functional.cells.input_part`), the scan runs the cell's hidden
part step by step, the two directions are concatenated, and dropout (train mode only) goes
between layers, never after the last. ``W_hh``'s gradient is summed over time in one matmul
(:mod:`rnnkit.functional._weight_grad`), as fused kernels do.

Options beyond torch.nn (layer norm, recurrent dropout, zoneout) are per layer and direction
a :class:`CellOptions`, handed to the one step function of the cell kind. Locked
(per-sequence) dropout between layers is a list of ready masks, drawn by the caller
(``rnnkit.nn``) so both of its paths use the same masks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional._weight_grad import Record, WeightGradTap, previous_outputs
from rnnkit.functional.cells import (
    GATES,
    LSTMState,
    gru_cell,
    input_part,
    lstm_cell,
    rnn_relu_cell,
    rnn_tanh_cell,
)
from rnnkit.functional.scan import scan, state_output

__all__ = [
    "MODES",
    "CellOptions",
    "CellWeights",
    "dropout_between_layers",
    "join_states",
    "scan_layers",
    "stack_layers",
]

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
_CELLS = {"rnn_tanh": rnn_tanh_cell, "rnn_relu": rnn_relu_cell, "lstm": lstm_cell, "gru": gru_cell}

Run = Callable[[int, Tensor, bool], tuple[Tensor, Any]]
"""``run(k, x, reverse) -> (out (T, B, ·), final state)`` for layer·direction ``k``."""


class CellWeights(NamedTuple):
    """The weights of one layer and direction, torch layout (gates stacked along dim 0)."""

    w_ih: Tensor  # (G·H, I)
    w_hh: Tensor  # (G·H, H_out)
    b_ih: Tensor | None = None  # (G·H,)
    b_hh: Tensor | None = None  # (G·H,)
    w_hr: Tensor | None = None  # (P, H), LSTM projection only


class CellOptions(NamedTuple):
    """One layer and direction's options beyond torch.nn (None / 0.0: off); see the cells."""

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


def _cell_options(mode: str, opts: CellOptions) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The cell's keyword options that are on: bound once, and per step (zoneout masks)."""
    bound: dict[str, Any] = {}
    per_step: dict[str, Tensor] = {}
    names = ["ln_hh", "zoneout_h"]
    names += ["recurrent_mask"] if mode in ("lstm", "gru") else []
    names += ["ln_c", "zoneout_c"] if mode == "lstm" else []
    for name in names:
        value = getattr(opts, name)
        if isinstance(value, Tensor) and name.startswith("zoneout"):
            per_step[name] = value  # (T, B, ·): sliced per step by the scan
        elif value is not None and not (isinstance(value, float) and value == 0.0):
            bound[name] = value
    return bound, per_step


def _direction(
    mode: str,
    x: Tensor,
    state: Any,
    w: CellWeights,
    opts: CellOptions,
    *,
    reverse: bool,
    lengths: Tensor | None,
) -> tuple[Tensor, Any]:
    """One layer, one direction: project all steps, then scan the cell's hidden part."""
    gru = mode == "gru"
    # Both biases go up front, except the GRU's b_hh (b_hn sits inside the reset product).
    b_hh = w.b_hh if gru else None
    bias = w.b_ih if gru or w.b_hh is None else (w.b_hh if w.b_ih is None else w.b_ih + w.b_hh)
    gx = input_part(x, w.w_ih, bias, ln_ih=opts.ln_ih, groups=GATES[mode])  # (T, B, G·H)
    kwargs, per_step = _cell_options(mode, opts)
    if mode == "lstm":
        kwargs["w_hr"] = w.w_hr
    tap = torch.is_grad_enabled() and w.w_hh.requires_grad
    if tap:  # W_hh's gradient in one matmul (see rnnkit.functional._weight_grad)
        record = Record()
        if gru or opts.ln_hh is not None:  # h W_hh^T is transformed before it meets gx
            joins = b_hh is not None and opts.ln_hh is None  # b_hh can be the carrier itself
            carrier = b_hh if joins else gx.new_zeros(())
            b_hh = None if joins else b_hh
            carrier = carrier.expand(*gx.shape)  # type: ignore[union-attr]  # (T, B, G·H)
            per_step["gh_in"] = WeightGradTap.apply(carrier, w.w_hh, record)
        else:  # gates = gx + h W_hh^T: gx's gradient is the gates' gradient
            gx = WeightGradTap.apply(gx, w.w_hh, record)
    w_hh = w.w_hh.detach() if tap else w.w_hh
    cell = partial(_CELLS[mode], w_ih=None, w_hh=w_hh, b_hh=b_hh, **kwargs)
    out, final = scan(cell, gx, state, reverse=reverse, lengths=lengths, per_step=per_step)
    if tap:
        h0 = state_output(state).detach()  # (B, H_out)
        record.h_prev = previous_outputs(out.detach(), h0, reverse=reverse, lengths=lengths)
    return out, final


def dropout_between_layers(
    x: Tensor, p: float, *, generator: torch.Generator | None = None
) -> Tensor:
    """Inverted dropout with probability ``p``; masks from ``generator`` when one is given."""
    if p == 0.0:
        return x
    if generator is None:
        return F.dropout(x, p, training=True)
    if p == 1.0:
        return torch.zeros_like(x)
    keep = torch.empty_like(x).bernoulli_(1.0 - p, generator=generator)
    return x * keep.div_(1.0 - p)


def stack_layers(
    run: Run,
    x: Tensor,
    *,
    num_layers: int,
    directions: int = 1,
    between: Callable[[Tensor, int], Tensor] | None = None,
) -> tuple[Tensor, list[Any]]:
    """The one composition of layers x directions.

    Args:
        run: ``run(k, x, reverse) -> (out (T, B, H_out), final)`` for layer·direction
            ``k = layer·D + d`` (``reverse`` for d = 1). A run may also be a whole layer
            (both directions, as the fused kernel runs them): pass ``directions=1`` then.
        x: ``(T, B, I)`` the first layer's input (or a PackedSequence's data for the kernel).
        num_layers: L; directions: D (1 or 2).
        between: ``between(x, layer)`` applied to the output of every layer but the last
            (dropout), or None.

    Returns:
        ``(output (T, B, D·H_out), finals)``: ``finals`` the ``L·D`` final states in order.
    """
    finals: list[Any] = []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            out, final = run(layer * directions + d, x, d == 1)
            outs.append(out)  # (T, B, H_out)
            finals.append(final)
        x = outs[0] if directions == 1 else torch.cat(outs, dim=-1)  # (T, B, D·H_out)
        if between is not None and layer < num_layers - 1:
            x = between(x, layer)
    return x, finals


def join_states(states: Sequence[Any], combine: Callable[[list[Tensor]], Tensor]) -> Any:
    """``combine`` (``torch.stack`` / ``torch.cat``) the states, field by field for LSTMs."""
    if isinstance(states[0], Tensor):
        return combine(list(states))
    return LSTMState(combine([s[0] for s in states]), combine([s[1] for s in states]))


def scan_layers(
    mode: str,
    x: Tensor,
    hx: Any,
    weights: Sequence[CellWeights],
    *,
    bidirectional: bool = False,
    lengths: Tensor | None = None,
    dropout: float = 0.0,
    training: bool = False,
    generator: torch.Generator | None = None,
    between_masks: Sequence[Tensor] | None = None,
    options: Sequence[CellOptions] | None = None,
) -> tuple[Tensor, Any]:
    """A stacked (optionally bidirectional) recurrent network run with :func:`scan`.

    Args:
        mode: one of ``MODES`` ("rnn_tanh", "rnn_relu", "lstm", "gru").
        x: ``(T, B, I)`` time-major input.
        hx: ``h_0 (L·D, B, H)``, or ``LSTMState(h_0 (L·D, B, H_out), c_0 (L·D, B, H))``.
        weights: ``L·D`` :class:`CellWeights`, index ``layer·D + direction``.
        bidirectional: D = 2 when True, else 1.
        lengths: ``(B,)`` valid lengths or None (see :func:`scan`).
        dropout, training, generator: dropout on the outputs of every layer but the last,
            applied only when ``training``.
        between_masks: instead, ``L - 1`` locked (per-sequence) scaled keep masks
            ``(B, D·H_out)``, multiplied into the outputs of every layer but the last.
        options: ``L·D`` :class:`CellOptions` (layer norm, recurrent dropout, zoneout), or None.

    Returns:
        ``(output (T, B, D·H_out), h_n)`` with ``h_n`` shaped like ``hx``.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
    directions = 2 if bidirectional else 1
    opts = list(options) if options is not None else [CellOptions()] * len(weights)

    def run(k: int, x: Tensor, reverse: bool) -> tuple[Tensor, Any]:
        state = LSTMState(hx[0][k], hx[1][k]) if mode == "lstm" else hx[k]
        return _direction(mode, x, state, weights[k], opts[k], reverse=reverse, lengths=lengths)

    def between(x: Tensor, layer: int) -> Tensor:
        if between_masks is not None:
            return x * between_masks[layer].unsqueeze(0)  # (T, B, D·H_out) * (1, B, D·H_out)
        if training and dropout > 0.0:
            return dropout_between_layers(x, dropout, generator=generator)
        return x

    num_layers = len(weights) // directions
    out, finals = stack_layers(
        run, x, num_layers=num_layers, directions=directions, between=between
    )
    return out, join_states(finals, torch.stack)  # (L·D, B, ·)
