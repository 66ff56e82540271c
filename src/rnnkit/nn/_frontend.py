"""The one forward front-end of every recurrent layer class in :mod:`rnnkit.nn`.

``RNN`` / ``LSTM`` / ``GRU`` and ``MinGRU`` / ``MinLSTM`` all accept the same inputs: a
Tensor ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), an unbatched ``(T, I)``, or a
PackedSequence; an optional ``hx`` and ``lengths=``. :func:`sequence_forward` checks all of
that once (with the same error messages for every layer), and hands the layer's core a
batched input in the caller's layout, a checked batched ``hx`` (or None) and checked lengths.
A PackedSequence is padded, run with its lengths and packed again, unless the layer's core
runs packed data natively (PyTorch's fused kernel does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.functional import LSTMState
from rnnkit.nn import _checks

__all__ = ["Run", "RunPacked", "sequence_forward"]

Run = Callable[[Tensor, Any, Tensor | None], tuple[Tensor, Any]]
"""``run(x, hx, lengths) -> (output, h_n)``: ``x`` batched 3-D in the layer's layout, ``hx``
checked and batched or None (zeros), ``lengths (B,)`` checked or None."""

RunPacked = Callable[[PackedSequence, Any], tuple[PackedSequence, Any]]
"""``run_packed(packed, hx) -> (packed output, h_n)``: a core that runs packed data itself."""


def _squeeze_state(h_n: Any) -> Any:
    """``h_n (L·D, 1, ·)`` (or each field of an LSTMState) without its batch dim."""
    if isinstance(h_n, Tensor):
        return h_n.squeeze(1)
    kind = LSTMState if type(h_n) is tuple else type(h_n)  # a NamedTuple keeps its type
    return kind(*(s.squeeze(1) for s in h_n))


def _run_packed(
    packed: PackedSequence,
    hx: Any,
    *,
    batch_first: bool,
    check_input: Callable[[Tensor], None],
    check_hx: Callable[[Any, int, bool], Any],
    run: Run,
    run_packed: RunPacked | None,
) -> tuple[PackedSequence, Any]:
    """A PackedSequence through the core: natively, or padded (caller's row order) and packed."""
    data, batch_sizes, order, unorder = packed
    if data.dim() != 2:
        raise ValueError(f"PackedSequence data must be 2-D (N, I), got {data.dim()}-D")
    check_input(data)
    hx = None if hx is None else check_hx(hx, int(batch_sizes[0]), True)
    if run_packed is not None:
        return run_packed(packed, hx)
    padded, lengths = pad_packed_sequence(packed, batch_first)  # rows in the caller's order
    out, h_n = run(padded, hx, lengths)
    out = out.transpose(0, 1) if batch_first else out  # (T, B, ·)
    if order is not None:  # the packed rows are in the PackedSequence's sorted order
        out, lengths = out.index_select(1, order), lengths[order.cpu()]
    out_data = pack_padded_sequence(out, lengths).data  # (N, ·)
    return PackedSequence(out_data, batch_sizes, order, unorder), h_n


def sequence_forward(
    input: Tensor | PackedSequence,
    hx: Any,
    lengths: Tensor | list[int] | None,
    *,
    batch_first: bool,
    check_input: Callable[[Tensor], None],
    check_hx: Callable[[Any, int, bool], Any],
    run: Run,
    run_packed: RunPacked | None = None,
) -> tuple[Tensor | PackedSequence, Any]:
    """Check a layer's forward arguments, run its core, and shape the result like the input.

    Args:
        input: ``(T, B, I)`` (``(B, T, I)`` if batch_first), ``(T, I)`` unbatched, or a
            PackedSequence.
        hx: the initial state as the caller gave it, or None.
        lengths: ``(B,)`` valid lengths in ``[1, T]``, any order (tensor input only), or None.
        batch_first: the layer's layout.
        check_input: raises for wrong features or dtype (``x (..., I)``).
        check_hx: ``check_hx(hx, batch, batched)`` raises for a wrong state and returns it
            batched.
        run: the layer's core (:data:`Run`); run_packed: its native packed path, or None.

    Returns:
        ``(output, h_n)``: ``output`` of the same layout and kind as ``input`` (unbatched in,
        unbatched out), ``h_n`` as the core returns it (without the batch dim if unbatched).
    """
    kw = {"batch_first": batch_first, "check_input": check_input, "check_hx": check_hx}
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("pass either a PackedSequence or `lengths`, not both")
        return _run_packed(input, hx, **kw, run=run, run_packed=run_packed)
    if not isinstance(input, Tensor):
        raise TypeError(f"`input` must be a Tensor or PackedSequence, got {type(input)}")
    if input.dim() not in (2, 3):
        raise ValueError(
            f"input must be 2-D (T, I) unbatched or 3-D batched, got shape {tuple(input.shape)}"
        )
    batched = input.dim() == 3
    batch_dim, time_dim = (0, 1) if batch_first else (1, 0)
    x = input if batched else input.unsqueeze(batch_dim)  # (T, B, I) or (B, T, I)
    check_input(x)
    batch, steps = x.size(batch_dim), x.size(time_dim)
    hx = None if hx is None else check_hx(hx, batch, batched)
    if lengths is not None:
        if not batched:
            raise ValueError("`lengths` needs a batched 3-D input, got a 2-D input")
        lengths = _checks.check_lengths(lengths, batch=batch, steps=steps)
    out, h_n = run(x, hx, lengths)
    if not batched:
        return out.squeeze(batch_dim), _squeeze_state(h_n)  # (T, D·H_out), (L·D, H_out)
    return out, h_n
