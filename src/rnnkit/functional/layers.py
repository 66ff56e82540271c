"""Stacked and bidirectional recurrent layers, composed from the cells and the scan.

This is the explicit engine behind ``rnnkit.nn``'s ``impl="scan"``: for each layer and
direction, one matmul projects the whole input (``x W_ih^T + b``, all T steps at once), the
scan runs the cell's hidden part step by step, the two directions are concatenated, and
dropout (train mode only) goes between layers, never after the last. For Elman and LSTM
cells ``W_hh``'s gradient is summed over time in one matmul (``_weight_grad``), as fused
kernels do.

Options beyond torch.nn (layer norm, recurrent dropout, zoneout: per layer and direction, a
:class:`~rnnkit.functional.ln_cells.CellOptions`) run the cells of
:mod:`rnnkit.functional.ln_cells`; their ``W_hh`` gradient is summed in one matmul too (the
per-step record of ``_weight_grad``). Locked (per-sequence) dropout between layers is a list
of ready masks, drawn by the caller (``rnnkit.nn``) so both of its paths use the same masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional import ln_cells
from rnnkit.functional._weight_grad import (
    CollectWeightGrad,
    Record,
    StepRecord,
    WeightGradTap,
    hidden_matmul,
    previous_outputs,
)
from rnnkit.functional.cells import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from rnnkit.functional.ln_cells import CellOptions
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


def _project_and_cell(
    mode: str, x: Tensor, w: CellWeights, w_hh: Any, options: CellOptions | None = None
) -> tuple[Tensor, Cell]:
    """The input projection for all steps ``(T, B, G·H)`` and the hidden-part cell.

    With ``options``, ``w_hh`` is the hidden product ``h -> h W_hh^T`` and the cell is one of
    :mod:`rnnkit.functional.ln_cells` (layer norm, recurrent dropout, zoneout).
    """
    if options is not None:
        return ln_cells.project_and_cell(mode, x, w, w_hh, options)
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


def _plain_hidden(h: Tensor, *, w: Tensor) -> Tensor:
    return h.mm(w.t())  # (B, G·H)


def _direction_with_options(
    mode: str,
    x: Tensor,
    state: Any,
    w: CellWeights,
    options: CellOptions,
    *,
    reverse: bool,
    lengths: Tensor | None,
) -> tuple[Tensor, Any]:
    """As :func:`_direction` for the cells of ``ln_cells``; ``dW_hh`` from the step record."""
    if not (torch.is_grad_enabled() and w.w_hh.requires_grad):
        hh = partial(_plain_hidden, w=w.w_hh)
    else:
        record = StepRecord()
        hh = partial(hidden_matmul, w=w.w_hh.detach(), record=record)
        h0 = CollectWeightGrad.apply(state_output(state), w.w_hh, record)  # (B, H_out)
        state = h0 if isinstance(state, Tensor) else LSTMState(h0, state[1])
    gx, cell = _project_and_cell(mode, x, w, hh, options)
    return scan(cell, gx, state, reverse=reverse, lengths=lengths)


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
    num_layers = len(weights) // directions
    finals: list[Any] = []
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            k = layer * directions + direction
            state = LSTMState(hx[0][k], hx[1][k]) if mode == "lstm" else hx[k]
            if options is None:
                out, state = _direction(
                    mode, x, state, weights[k], reverse=direction == 1, lengths=lengths
                )
            else:
                out, state = _direction_with_options(
                    mode, x, state, weights[k], options[k], reverse=direction == 1, lengths=lengths
                )
            outs.append(out)  # (T, B, H_out)
            finals.append(state)
        x = outs[0] if directions == 1 else torch.cat(outs, dim=-1)  # (T, B, D·H_out)
        if between_masks is not None and layer < num_layers - 1:
            x = x * between_masks[layer].unsqueeze(0)  # (T, B, D·H_out) * (1, B, D·H_out)
        elif training and dropout > 0.0 and layer < num_layers - 1:
            x = dropout_between_layers(x, dropout, generator=generator)
    if mode == "lstm":
        h_n = LSTMState(torch.stack([s.h for s in finals]), torch.stack([s.c for s in finals]))
    else:
        h_n = torch.stack(finals)  # (L·D, B, H)
    return x, h_n
