"""Stacked and bidirectional recurrent layers, composed from the cells and the scan.

This is the explicit engine behind ``rnnkit.nn``'s ``impl="scan"``: for each layer and
direction, one matmul projects the whole input (``x W_ih^T + b``, all T steps at once), the
scan runs the cell's hidden part step by step, the two directions are concatenated, and
dropout (train mode only) goes between layers, never after the last. For Elman and LSTM
cells ``W_hh``'s gradient is summed over time in one matmul (``_weight_grad``), as fused
kernels do.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional._weight_grad import Record, WeightGradTap, previous_outputs
from rnnkit.functional.cells import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from rnnkit.functional.scan import Cell, scan, state_output

__all__ = ["MODES", "CellWeights", "dropout_between_layers", "scan_layers"]

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
_CELLS = {"rnn_tanh": rnn_tanh_cell, "rnn_relu": rnn_relu_cell, "lstm": lstm_cell}


class CellWeights(NamedTuple):
    """The weights of one layer and direction, torch layout (gates stacked along dim 0)."""

    w_ih: Tensor  # (G·H, I)
    w_hh: Tensor  # (G·H, H_out)
    b_ih: Tensor | None = None  # (G·H,)
    b_hh: Tensor | None = None  # (G·H,)
    w_hr: Tensor | None = None  # (P, H), LSTM projection only


def _project_and_cell(mode: str, x: Tensor, w: CellWeights, w_hh: Tensor) -> tuple[Tensor, Cell]:
    """The input projection for all steps ``(T, B, G·H)`` and the hidden-part cell."""
    if mode == "gru":  # b_hn must stay inside the reset product: only b_ih goes up front
        cell = partial(gru_cell, w_ih=None, w_hh=w_hh, b_hh=w.b_hh)
        return F.linear(x, w.w_ih, w.b_ih), cell
    biases = [b for b in (w.b_ih, w.b_hh) if b is not None]
    bias = biases[0] + biases[1] if len(biases) == 2 else (biases[0] if biases else None)
    if mode == "lstm":
        cell = partial(lstm_cell, w_ih=None, w_hh=w_hh, w_hr=w.w_hr)
    else:
        cell = partial(_CELLS[mode], w_ih=None, w_hh=w_hh)
    return F.linear(x, w.w_ih, bias), cell  # (T, B, G·H), both biases folded in


def _direction(
    mode: str, x: Tensor, state: Any, w: CellWeights, *, reverse: bool, lengths: Tensor | None
) -> tuple[Tensor, Any]:
    """One layer, one direction: project all steps, then scan the cell's hidden part."""
    tap = mode != "gru" and torch.is_grad_enabled() and w.w_hh.requires_grad
    if not tap:
        gx, cell = _project_and_cell(mode, x, w, w.w_hh)
        return scan(cell, gx, state, reverse=reverse, lengths=lengths)
    # Same maths; W_hh's gradient is summed in one matmul (see rnnkit.functional._weight_grad)
    gx, cell = _project_and_cell(mode, x, w, w.w_hh.detach())
    record = Record()
    gx = WeightGradTap.apply(gx, w.w_hh, record)  # (T, B, G·H)
    out, final = scan(cell, gx, state, reverse=reverse, lengths=lengths)
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

    Returns:
        ``(output (T, B, D·H_out), h_n)`` with ``h_n`` shaped like ``hx``.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
    directions = 2 if bidirectional else 1
    num_layers = len(weights) // directions
    finals: list[Any] = []
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            k = layer * directions + direction
            state = LSTMState(hx[0][k], hx[1][k]) if mode == "lstm" else hx[k]
            out, state = _direction(
                mode, x, state, weights[k], reverse=direction == 1, lengths=lengths
            )
            outs.append(out)  # (T, B, H_out)
            finals.append(state)
        x = outs[0] if directions == 1 else torch.cat(outs, dim=-1)  # (T, B, D·H_out)
        if training and dropout > 0.0 and layer < num_layers - 1:
            x = dropout_between_layers(x, dropout, generator=generator)
    if mode == "lstm":
        h_n = LSTMState(torch.stack([s.h for s in finals]), torch.stack([s.c for s in finals]))
    else:
        h_n = torch.stack(finals)  # (L·D, B, H)
    return x, h_n
