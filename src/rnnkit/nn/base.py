"""The forward shared by ``RNN``, ``LSTM``, ``GRU`` (in :mod:`rnnkit.nn.rnn`), both paths.

The layers subclass ``torch.nn.RNNBase`` on purpose: it owns the parameters exactly as
torch.nn does (names ``weight_ih_l0`` ... ``weight_hr_l1_reverse``, shapes, uniform
±1/sqrt(H) initialisation), keeps the cached ``_flat_weights`` list the fused kernel takes
(so no weight is concatenated per call), flattens them for cuDNN after ``.to()``/``.cuda()``,
and pickles and loads state dicts as torch does. Re-implementing that would copy ~200 lines of
delicate private behaviour; what rnnkit adds is the forward, written ONCE for the three
layers and both paths:

- ``impl="fused"``: PyTorch's fused kernel (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
  ``rnn_relu``, cuDNN on GPU), called with the same arguments torch.nn passes;
- ``impl="scan"``: :func:`rnnkit.functional.scan_layers`, the explicit cell + scan engine;
- ``impl="auto"`` (default): fused whenever it supports the call, else the scan. Only a
  ``generator`` for dropout masks needs the scan today. :meth:`forward_path` says which.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.functional import CellWeights, LSTMState, scan_layers
from rnnkit.nn import _checks

__all__ = ["IMPLS", "RecurrentBase"]

logger = logging.getLogger(__name__)

IMPLS = ("auto", "fused", "scan")
_FUSED = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}


def _permute(hx: Any, index: Tensor | None) -> Any:
    """Reorder the batch dim (dim 1) of ``h (L·D, B, ·)`` or of each field of an LSTMState."""
    if index is None:
        return hx
    if isinstance(hx, Tensor):
        return hx.index_select(1, index)
    return LSTMState(hx[0].index_select(1, index), hx[1].index_select(1, index))


class RecurrentBase(torch.nn.RNNBase):
    """The forward shared by :class:`RNN`, :class:`LSTM` and :class:`GRU` (see their docs)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "auto",
    ) -> None:
        _checks.check_positive_int("input_size", input_size)
        _checks.check_positive_int("hidden_size", hidden_size)
        _checks.check_positive_int("num_layers", num_layers)
        _checks.check_positive_int("proj_size", proj_size, minimum=0)
        if proj_size and mode != "lstm":
            raise ValueError(f"`proj_size` is only for LSTM, got proj_size={proj_size} for {mode}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"`proj_size` must be < `hidden_size` ({hidden_size}), got {proj_size}"
            )
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            _checks.check_bool(name, flag)
        _checks.check_bool("bidirectional", bidirectional)
        dropout = _checks.check_dropout(dropout)
        if impl not in IMPLS:
            raise ValueError(f"`impl` must be one of {IMPLS}, got {impl!r}")
        super().__init__(
            mode.upper(), input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype,
        )  # fmt: skip
        self.impl = impl
        self._scan_mode = mode

    # -- which path -------------------------------------------------------------------------

    def _fused_unsupported(self, generator: torch.Generator | None) -> str | None:
        """Why the fused kernel cannot run this call, or None when it can."""
        if generator is not None and self.training and self.dropout > 0 and self.num_layers > 1:
            return "a dropout `generator` (the fused kernel draws masks from the global RNG)"
        return None

    def forward_path(self, generator: torch.Generator | None = None) -> Literal["fused", "scan"]:
        """The path a forward with these arguments takes now: "fused" or "scan".

        Raises ValueError for ``impl="fused"`` when the fused kernel cannot run the call.
        """
        if self.impl == "scan":
            return "scan"
        reason = self._fused_unsupported(generator)
        if reason is None:
            return "fused"
        if self.impl == "fused":
            raise ValueError(f"impl='fused' cannot run {reason}; use impl='auto' or 'scan'")
        return "scan"

    # -- the forward ------------------------------------------------------------------------

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Any = None,
        *,
        lengths: Tensor | list[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor | PackedSequence, Any]:
        """Run the layer over a whole sequence.

        Args:
            input: ``(T, B, I)`` (``(B, T, I)`` if batch_first), ``(T, I)`` unbatched, or a
                PackedSequence.
            hx: ``h_0 (L·D, B, H_out)`` (``(L·D, H_out)`` unbatched); for an LSTM the pair
                ``(h_0, c_0)``, ``c_0 (L·D, B, H)``. Zeros when None.
            lengths: ``(B,)`` valid lengths in ``[1, T]``, any order (tensor input only).
            generator: draws the between-layer dropout masks (train mode; scan path).

        Returns:
            ``(output, h_n)``: ``output (T, B, D·H_out)`` (same layout/kind as ``input``,
            zero at padded steps) and ``h_n (L·D, B, H_out)`` or ``LSTMState(h_n, c_n)``,
            each row's state at its last valid step.
        """
        self._update_flat_weights()
        fused = self.forward_path(generator) == "fused"
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("pass either a PackedSequence or `lengths`, not both")
            return self._forward_packed(input, hx, fused, generator)
        if not isinstance(input, Tensor):
            raise TypeError(f"`input` must be a Tensor or PackedSequence, got {type(input)}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input must be 2-D (T, I) unbatched or 3-D batched, got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 3
        batch_dim, time_dim = (0, 1) if self.batch_first else (1, 0)
        x = input if batched else input.unsqueeze(batch_dim)  # (T, B, I) or (B, T, I)
        self._check_input(x)
        batch, steps = x.size(batch_dim), x.size(time_dim)
        if hx is None:
            hx = self._zeros(batch, x)
        else:
            hx = self._check_hx(hx, batch, batched)
        if lengths is not None:
            if not batched:
                raise ValueError("`lengths` needs a batched 3-D input, got a 2-D input")
            lengths = _checks.check_lengths(lengths, batch=batch, steps=steps)
            if fused:  # the fused kernel takes variable lengths as a PackedSequence
                packed = pack_padded_sequence(
                    x, lengths.cpu(), self.batch_first, enforce_sorted=False
                )
                out, h_n = self._forward_packed(packed, hx, fused, generator)
                out, _ = pad_packed_sequence(out, self.batch_first, total_length=steps)
                return out, h_n
        if fused:
            out, h_n = self._fused(x, hx, None)
        else:
            out, h_n = self._scan(x, hx, lengths, generator, time_major=not self.batch_first)
        if not batched:
            out = out.squeeze(batch_dim)  # (T, D·H_out)
            h_n = (
                h_n.squeeze(1)
                if isinstance(h_n, Tensor)
                else LSTMState(*(s.squeeze(1) for s in h_n))
            )
        return out, h_n

    def _forward_packed(
        self, packed: PackedSequence, hx: Any, fused: bool, generator: torch.Generator | None
    ) -> tuple[PackedSequence, Any]:
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        if data.dim() != 2:
            raise ValueError(f"PackedSequence data must be 2-D (N, I), got {data.dim()}-D")
        self._check_input(data)
        batch = int(batch_sizes[0])
        hx = self._zeros(batch, data) if hx is None else self._check_hx(hx, batch, True)
        hx = _permute(hx, sorted_indices)  # the kernel sees rows in sorted order
        if fused:
            out_data, h_n = self._fused(data, hx, batch_sizes)
        else:
            padded, lens = pad_packed_sequence(PackedSequence(data, batch_sizes))  # (T, B, I)
            out, h_n = self._scan(padded, hx, lens, generator, time_major=True)  # (T, B, D·H)
            out_data = pack_padded_sequence(out, lens).data  # (N, D·H)
        out = PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices)
        return out, _permute(h_n, unsorted_indices)

    def _fused(self, x: Tensor, hx: Any, batch_sizes: Tensor | None) -> tuple[Tensor, Any]:
        """Call PyTorch's fused kernel with exactly the arguments torch.nn passes."""
        kernel = _FUSED[self._scan_mode]
        common = (self._flat_weights, self.bias, self.num_layers, self.dropout, self.training)
        if batch_sizes is None:
            result = kernel(x, hx, *common, self.bidirectional, self.batch_first)
        else:
            result = kernel(x, batch_sizes, hx, *common, self.bidirectional)
        if self._scan_mode == "lstm":
            return result[0], LSTMState(result[1], result[2])
        return result[0], result[1]

    def _scan(
        self,
        x: Tensor,
        hx: Any,
        lengths: Tensor | None,
        generator: torch.Generator | None,
        *,
        time_major: bool,
    ) -> tuple[Tensor, Any]:
        """Run :func:`scan_layers`; ``x`` is ``(T, B, I)`` or, if not time_major, ``(B, T, I)``."""
        x = x if time_major else x.transpose(0, 1)  # (T, B, I)
        out, h_n = scan_layers(
            self._scan_mode,
            x,
            hx,
            self._cell_weights(),
            bidirectional=self.bidirectional,
            lengths=lengths,
            dropout=self.dropout,
            training=self.training,
            generator=generator,
        )
        return (out if time_major else out.transpose(0, 1)), h_n  # back to the input's layout

    def _cell_weights(self) -> list[CellWeights]:
        """A :class:`CellWeights` per layer and direction, read live (functional_call works)."""
        weights = []
        for names in self._all_weights:
            named = {
                n.rsplit("_l", 1)[0]: getattr(self, n) for n in names
            }  # weight_ih_l0 -> weight_ih
            weights.append(
                CellWeights(
                    named["weight_ih"],
                    named["weight_hh"],
                    named.get("bias_ih"),
                    named.get("bias_hh"),
                    named.get("weight_hr"),
                )
            )
        return weights

    # -- states and checks ------------------------------------------------------------------

    def _state_sizes(self) -> tuple[int, int]:
        """(L·D, H_out): the leading dim and the width of ``h``."""
        return self.num_layers * (
            2 if self.bidirectional else 1
        ), self.proj_size or self.hidden_size

    def _zeros(self, batch: int, like: Tensor) -> Any:
        layers, h_out = self._state_sizes()
        h = torch.zeros(layers, batch, h_out, dtype=like.dtype, device=like.device)
        if self._scan_mode != "lstm":
            return h
        c = torch.zeros(layers, batch, self.hidden_size, dtype=like.dtype, device=like.device)
        return LSTMState(h, c)

    def _check_input(self, x: Tensor) -> None:
        _checks.check_features(x, self.input_size)
        _checks.check_dtype("input", x, self._flat_weights[0].dtype)

    def _check_hx(self, hx: Any, batch: int, batched: bool) -> Any:
        """Check ``hx`` (named as in the error messages) and return it batched (3-D)."""
        layers, h_out = self._state_sizes()
        dtype = self._flat_weights[0].dtype
        if self._scan_mode == "lstm":
            if isinstance(hx, Tensor) or not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(f"`hx` for an LSTM must be a tuple (h_0, c_0), got {type(hx)}")
            fields = [("`hx[0]` (h_0)", hx[0], h_out), ("`hx[1]` (c_0)", hx[1], self.hidden_size)]
        else:
            fields = [("`hx` (h_0)", hx, h_out)]
        out = []
        for what, t, width in fields:
            letter = "H_out" if width != self.hidden_size else "H"
            if batched:
                _checks.check_shape(what, t, (layers, batch, width), f"(L·D, B, {letter})")
            else:
                expected = f"(L·D, {letter}) for unbatched input"
                _checks.check_shape(what, t, (layers, width), expected)
                t = t.unsqueeze(1)  # (L·D, 1, H)
            _checks.check_dtype(what, t, dtype)
            out.append(t)
        return LSTMState(*out) if self._scan_mode == "lstm" else out[0]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.impl == "auto" else f"{s}, impl={self.impl!r}"
