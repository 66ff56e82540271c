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
- ``impl="auto"`` (default): fused whenever it supports the call, else the scan: a
  ``generator`` with torch's standard between-layer dropout, ``layer_norm``, and (train mode)
  ``recurrent_dropout`` and ``zoneout`` need the scan. :meth:`forward_path` says which.

The regularisers beyond torch.nn (``input_dropout``, ``dropout_kind``, ``output_dropout``,
``recurrent_dropout``, ``zoneout_h``/``zoneout_c``, ``weight_drop``, ``layer_norm``) are
documented in :mod:`rnnkit.nn.regularization`. Their masks are drawn once per forward, in one
fixed order, before the path runs, so both paths see the same masks for the same generator.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.functional import CellWeights, LSTMState, scan_layers
from rnnkit.functional.ln_cells import CellOptions
from rnnkit.nn import _checks
from rnnkit.nn.regularization import DROPOUT_KINDS, Masks, keep_mask, lock, packed_rows, zone_mask

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
        layer_norm: bool = False,
        dropout_kind: str = "standard",
        input_dropout: float = 0.0,
        output_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        zoneout_h: float = 0.0,
        zoneout_c: float = 0.0,
        weight_drop: float = 0.0,
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
        self._set_options(
            layer_norm, dropout_kind, input_dropout, output_dropout, recurrent_dropout,
            zoneout_h, zoneout_c, weight_drop,
        )  # fmt: skip

    def _set_options(
        self,
        layer_norm: bool,
        dropout_kind: str,
        input_dropout: float,
        output_dropout: float,
        recurrent_dropout: float,
        zoneout_h: float,
        zoneout_c: float,
        weight_drop: float,
    ) -> None:
        """Check and store the options of :mod:`rnnkit.nn.regularization`; LN parameters."""
        mode, lstm = self._scan_mode, self._scan_mode == "lstm"
        self.layer_norm = _checks.check_bool("layer_norm", layer_norm)
        if dropout_kind not in DROPOUT_KINDS:
            raise ValueError(f"`dropout_kind` must be one of {DROPOUT_KINDS}, got {dropout_kind!r}")
        if dropout_kind == "locked" and self.dropout >= 1.0:
            raise ValueError(
                f"`dropout` must be < 1 with dropout_kind='locked', got {self.dropout}"
            )
        self.dropout_kind = dropout_kind
        for name, p in (
            ("input_dropout", input_dropout), ("output_dropout", output_dropout),
            ("recurrent_dropout", recurrent_dropout), ("zoneout_h", zoneout_h),
            ("zoneout_c", zoneout_c), ("weight_drop", weight_drop),
        ):  # fmt: skip
            setattr(self, name, _checks.check_probability(name, p))
        if self.recurrent_dropout and mode not in ("lstm", "gru"):
            raise ValueError(
                f"`recurrent_dropout` is for LSTM and GRU (it drops the candidate g / n), got "
                f"recurrent_dropout={self.recurrent_dropout} for {mode}"
            )
        if self.zoneout_c and not lstm:
            raise ValueError(f"`zoneout_c` is for LSTM (its cell state c), got it for {mode}")
        if self.impl == "fused":
            for name in ("layer_norm", "recurrent_dropout", "zoneout_h", "zoneout_c"):
                if getattr(self, name):
                    raise ValueError(
                        f"`{name}` runs on the scan path; impl='fused' cannot run it "
                        "(use impl='auto' or 'scan')"
                    )
        self._ln_names: list[str] = []
        if not self.layer_norm:
            return
        gates = {"lstm": 4, "gru": 3}.get(mode, 1) * self.hidden_size
        factory = {"device": self._flat_weights[0].device, "dtype": self._flat_weights[0].dtype}
        for names in self._all_weights:
            suffix = names[0][len("weight_ih") :]  # "_l0", "_l1_reverse", ...
            shapes = {"ln_ih_weight": gates, "ln_hh_weight": gates}
            if lstm:
                shapes |= {"ln_c_weight": self.hidden_size, "ln_c_bias": self.hidden_size}
            for base, size in shapes.items():
                param = torch.nn.Parameter(torch.empty(size, **factory))
                self.register_parameter(base + suffix, param)
                self._ln_names.append(base + suffix)
        self._reset_layer_norm()

    def _reset_layer_norm(self) -> None:
        with torch.no_grad():
            for name in getattr(self, "_ln_names", ()):
                getattr(self, name).fill_(0.0 if name.startswith("ln_c_bias") else 1.0)

    def reset_parameters(self) -> None:
        """torch.nn's uniform ±1/sqrt(H) init; layer-norm gains 1 and shifts 0."""
        super().reset_parameters()
        self._reset_layer_norm()

    # -- which path -------------------------------------------------------------------------

    def _fused_unsupported(self, generator: torch.Generator | None) -> str | None:
        """Why the fused kernel cannot run this call, or None when it can."""
        if self.layer_norm:
            return "`layer_norm`"
        if self.zoneout_h or self.zoneout_c:
            return "zoneout"  # in eval too: the expectation p·prev + (1-p)·new
        if self.training and self.recurrent_dropout:
            return "`recurrent_dropout` in train mode"
        standard = self.dropout_kind == "standard"
        if generator is not None and self.training and self.dropout > 0 and self.num_layers > 1:
            if standard:
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
            return self._forward_packed(input, hx, fused, generator, None)
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
        masks = self._draw_masks(batch, steps, x, generator)
        if lengths is not None:
            if not batched:
                raise ValueError("`lengths` needs a batched 3-D input, got a 2-D input")
            lengths = _checks.check_lengths(lengths, batch=batch, steps=steps)
            if fused:  # the fused kernel takes variable lengths as a PackedSequence
                packed = pack_padded_sequence(
                    x, lengths.cpu(), self.batch_first, enforce_sorted=False
                )
                out, h_n = self._forward_packed(packed, hx, fused, generator, masks)
                out, _ = pad_packed_sequence(out, self.batch_first, total_length=steps)
                return out, h_n
        if fused:
            out, h_n = self._fused(x, hx, None, masks)
        else:
            out, h_n = self._scan(x, hx, lengths, generator, masks, time_major=not self.batch_first)
        if not batched:
            out = out.squeeze(batch_dim)  # (T, D·H_out)
            h_n = (
                h_n.squeeze(1)
                if isinstance(h_n, Tensor)
                else LSTMState(*(s.squeeze(1) for s in h_n))
            )
        return out, h_n

    def _forward_packed(
        self,
        packed: PackedSequence,
        hx: Any,
        fused: bool,
        generator: torch.Generator | None,
        masks: Masks | None,
    ) -> tuple[PackedSequence, Any]:
        """``masks``: drawn by :meth:`forward` (rows in the caller's order), or None: draw."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        if data.dim() != 2:
            raise ValueError(f"PackedSequence data must be 2-D (N, I), got {data.dim()}-D")
        self._check_input(data)
        batch = int(batch_sizes[0])
        hx = self._zeros(batch, data) if hx is None else self._check_hx(hx, batch, True)
        hx = _permute(hx, sorted_indices)  # the kernel sees rows in sorted order
        if masks is None:
            masks = self._draw_masks(batch, batch_sizes.numel(), data, generator)
        if masks is not None and sorted_indices is not None:
            masks = masks.rows(sorted_indices)
        if fused:
            out_data, h_n = self._fused(data, hx, batch_sizes, masks)
        else:
            padded, lens = pad_packed_sequence(PackedSequence(data, batch_sizes))  # (T, B, I)
            out, h_n = self._scan(
                padded, hx, lens, generator, masks, time_major=True
            )  # (T, B, D·H)
            out_data = pack_padded_sequence(out, lens).data  # (N, D·H)
        out = PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices)
        return out, _permute(h_n, unsorted_indices)

    def _fused(
        self, x: Tensor, hx: Any, batch_sizes: Tensor | None, masks: Masks | None
    ) -> tuple[Tensor, Any]:
        """Call PyTorch's fused kernel with the arguments torch.nn passes (no masks), or with
        the masks applied outside it: input and output masks around it, the dropped ``W_hh``
        in its weight list, and one call per layer when the between-layer masks are locked."""
        kernel = _FUSED[self._scan_mode]
        if masks is None:
            return self._call_kernel(kernel, x, hx, batch_sizes, self._flat_weights, None)
        if batch_sizes is None:
            rows = None
            batch_dim = 0 if self.batch_first else 1

            def locked(t: Tensor, m: Tensor | None) -> Tensor:
                return lock(t, m, batch_dim=batch_dim)
        else:
            rows = packed_rows(batch_sizes).to(x.device)  # (N,)

            def locked(t: Tensor, m: Tensor | None) -> Tensor:
                return t if m is None else t * m.index_select(0, rows)  # (N, F)

        weights = self._dropped_weights(list(self._flat_weights), masks)
        x = locked(x, masks.input)
        if masks.between is None:
            out, h_n = self._call_kernel(kernel, x, hx, batch_sizes, weights, None)
            return locked(out, masks.output), h_n
        per = len(self._all_weights[0]) * (2 if self.bidirectional else 1)  # weights per layer
        dirs = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            part = slice(layer * dirs, (layer + 1) * dirs)  # this layer's rows of h_0
            hx_l = hx[part] if isinstance(hx, Tensor) else LSTMState(hx[0][part], hx[1][part])
            w_l = weights[layer * per : (layer + 1) * per]
            x, h_l = self._call_kernel(kernel, x, hx_l, batch_sizes, w_l, 1)
            finals.append(h_l)
            if layer < self.num_layers - 1:
                x = locked(x, masks.between[layer])
        if self._scan_mode == "lstm":
            h_n: Any = LSTMState(torch.cat([f.h for f in finals]), torch.cat([f.c for f in finals]))
        else:
            h_n = torch.cat(finals)  # (L·D, B, H)
        return locked(x, masks.output), h_n

    def _call_kernel(
        self,
        kernel: Any,
        x: Tensor,
        hx: Any,
        batch_sizes: Tensor | None,
        weights: list[Tensor],
        num_layers: int | None,
    ) -> tuple[Tensor, Any]:
        """One fused call: all layers (``num_layers=None``, torch's dropout) or a slice."""
        layers = self.num_layers if num_layers is None else num_layers
        dropout = self.dropout if num_layers is None else 0.0
        common = (weights, self.bias, layers, dropout, self.training)
        if batch_sizes is None:
            result = kernel(x, hx, *common, self.bidirectional, self.batch_first)
        else:
            result = kernel(x, batch_sizes, hx, *common, self.bidirectional)
        if self._scan_mode == "lstm":
            return result[0], LSTMState(result[1], result[2])
        return result[0], result[1]

    def _dropped_weights(self, flat: list[Tensor], masks: Masks) -> list[Tensor]:
        """``flat`` (``_flat_weights`` order) with each ``W_hh`` times its weight-drop mask."""
        if masks.w_hh is None:
            return flat
        per = len(self._all_weights[0])
        for k, names in enumerate(self._all_weights):
            i = k * per + names.index(next(n for n in names if n.startswith("weight_hh")))
            flat[i] = flat[i] * masks.w_hh[k]  # (G·H, H_out)
        return flat

    def _draw_masks(
        self, batch: int, steps: int, like: Tensor, generator: torch.Generator | None
    ) -> Masks | None:
        """This call's masks, in a fixed order (see :class:`Masks`); None when none is active."""
        if not self.training:
            return None
        dirs = 2 if self.bidirectional else 1
        layers, h_out = self._state_sizes()
        width = dirs * h_out  # D·H_out
        w_hh = between = recurrent = zh = zc = None
        if self.weight_drop:
            w_hh = [
                keep_mask(tuple(getattr(self, n[1]).shape), self.weight_drop, like, generator)
                for n in self._all_weights
            ]
        inp = out = None
        if self.input_dropout:
            inp = keep_mask((batch, self.input_size), self.input_dropout, like, generator)
        if self.dropout_kind == "locked" and self.dropout and self.num_layers > 1:
            between = [
                keep_mask((batch, width), self.dropout, like, generator)
                for _ in range(self.num_layers - 1)
            ]
        if self.output_dropout:
            out = keep_mask((batch, width), self.output_dropout, like, generator)
        if self.recurrent_dropout:
            shape = (batch, self.hidden_size)
            recurrent = [keep_mask(shape, self.recurrent_dropout, like, generator)
                         for _ in range(layers)]  # fmt: skip
        if self.zoneout_h:
            shape = (steps, batch, h_out)
            zh = [zone_mask(shape, self.zoneout_h, like, generator) for _ in range(layers)]
        if self.zoneout_c:
            shape = (steps, batch, self.hidden_size)
            zc = [zone_mask(shape, self.zoneout_c, like, generator) for _ in range(layers)]
        masks = Masks(w_hh, inp, between, out, recurrent, zh, zc)
        return None if all(m is None for m in masks) else masks

    def _scan(
        self,
        x: Tensor,
        hx: Any,
        lengths: Tensor | None,
        generator: torch.Generator | None,
        masks: Masks | None,
        *,
        time_major: bool,
    ) -> tuple[Tensor, Any]:
        """Run :func:`scan_layers`; ``x`` is ``(T, B, I)`` or, if not time_major, ``(B, T, I)``."""
        x = x if time_major else x.transpose(0, 1)  # (T, B, I)
        masks = masks or Masks()
        weights = self._cell_weights()
        if masks.w_hh is not None:
            weights = [
                w._replace(w_hh=w.w_hh * m) for w, m in zip(weights, masks.w_hh, strict=True)
            ]
        out, h_n = scan_layers(
            self._scan_mode,
            lock(x, masks.input, batch_dim=1),
            hx,
            weights,
            bidirectional=self.bidirectional,
            lengths=lengths,
            dropout=self.dropout if self.dropout_kind == "standard" else 0.0,
            training=self.training,
            generator=generator,
            between_masks=masks.between,
            options=self._cell_options(masks),
        )
        out = lock(out, masks.output, batch_dim=1)  # (T, B, D·H_out)
        return (out if time_major else out.transpose(0, 1)), h_n  # back to the input's layout

    def _cell_options(self, masks: Masks) -> list[CellOptions] | None:
        """Per layer and direction: layer-norm gains, recurrent and zoneout masks (or None)."""
        zoneout = self.zoneout_h or self.zoneout_c
        if not (self.layer_norm or masks.recurrent is not None or zoneout):
            return None
        options = []
        for k, names in enumerate(self._all_weights):
            suffix = names[0][len("weight_ih") :]  # "_l0", "_l1_reverse", ...
            ln: dict[str, Any] = {}
            if self.layer_norm:
                ln["ln_ih"] = getattr(self, "ln_ih_weight" + suffix)
                ln["ln_hh"] = getattr(self, "ln_hh_weight" + suffix)
                if self._scan_mode == "lstm":
                    ln["ln_c"] = (
                        getattr(self, "ln_c_weight" + suffix),
                        getattr(self, "ln_c_bias" + suffix),
                    )
            options.append(
                CellOptions(
                    **ln,
                    recurrent_mask=None if masks.recurrent is None else masks.recurrent[k],
                    zoneout_h=self.zoneout_h if masks.zoneout_h is None else masks.zoneout_h[k],
                    zoneout_c=self.zoneout_c if masks.zoneout_c is None else masks.zoneout_c[k],
                )
            )
        return options

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
        s = s if self.impl == "auto" else f"{s}, impl={self.impl!r}"
        if self.layer_norm:
            s += ", layer_norm=True"
        if self.dropout_kind != "standard":
            s += f", dropout_kind={self.dropout_kind!r}"
        for name in (
            "input_dropout", "output_dropout", "recurrent_dropout", "zoneout_h", "zoneout_c",
            "weight_drop",
        ):  # fmt: skip
            if getattr(self, name):
                s += f", {name}={getattr(self, name)}"
        return s
