"""The forward shared by ``RNN``, ``LSTM``, ``GRU`` (in :mod:`rnnkit.nn.rnn`), both paths.

The layers subclass ``torch.nn.RNNBase`` on purpose: it owns the parameters exactly as
torch.nn does (names ``weight_ih_l0`` ... ``weight_hr_l1_reverse``, shapes, uniform
±1/sqrt(H) initialisation), keeps the cached ``_flat_weights`` list the fused kernel takes
(so no weight is concatenated per call), flattens them for cuDNN after ``.to()``/``.cuda()``,
and pickles and loads state dicts as torch does. Re-implementing that would copy ~200 lines of
delicate private behaviour; what rnnkit adds is the forward, written ONCE for the three
layers and both paths:

- ``impl="fused"``: PyTorch's fused kernel (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
  ``rnn_relu``, cuDNN on GPU), called with the same arguments torch.nn passes
  (:mod:`rnnkit.nn._fused`);
- ``impl="scan"``: :func:`rnnkit.functional.scan_layers`, the explicit cell + scan engine
  (:mod:`rnnkit.nn._scan`);
- ``impl="auto"`` (default): fused whenever it supports the call, else the scan: a
  ``generator`` with torch's standard between-layer dropout, ``layer_norm``, and (train mode)
  ``recurrent_dropout`` and ``zoneout`` need the scan. :meth:`forward_path` says which.

The regularisers beyond torch.nn (``input_dropout``, ``dropout_kind``, ``output_dropout``,
``recurrent_dropout``, ``zoneout_h``/``zoneout_c``, ``weight_drop``, ``layer_norm``) are
documented in :mod:`rnnkit.nn.regularization`. Their masks are drawn once per forward, in one
fixed order, before the path runs, so both paths see the same masks for the same generator.

The argument checks (PackedSequence, unbatched input, ``lengths=``, ``hx``) are the one
front-end of every rnnkit layer, :func:`rnnkit.nn._frontend.sequence_forward`.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.functional import LSTMState
from rnnkit.nn import _checks
from rnnkit.nn._frontend import sequence_forward
from rnnkit.nn._fused import FusedPath
from rnnkit.nn._scan import ScanPath
from rnnkit.nn.regularization import DROPOUT_KINDS, Masks, keep_mask, zone_mask

__all__ = ["IMPLS", "RecurrentBase"]

logger = logging.getLogger(__name__)

IMPLS = ("auto", "fused", "scan")


class RecurrentBase(FusedPath, ScanPath, torch.nn.RNNBase):
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
        return sequence_forward(
            input, hx, lengths, batch_first=self.batch_first, check_input=self._check_input,
            check_hx=self._check_hx, run=partial(self._run, fused=fused, generator=generator),
            run_packed=partial(self._run_packed, generator=generator) if fused else None,
        )  # fmt: skip

    def _run(
        self,
        x: Tensor,
        hx: Any,
        lengths: Tensor | None,
        *,
        fused: bool,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Any]:
        """The core: ``x (T, B, I)`` (``(B, T, I)`` if batch_first) on the chosen path."""
        batch_dim, time_dim = (0, 1) if self.batch_first else (1, 0)
        batch, steps = x.size(batch_dim), x.size(time_dim)
        hx = self._zeros(batch, x) if hx is None else hx
        masks = self._draw_masks(batch, steps, x, generator)
        if fused and lengths is not None:  # the kernel takes variable lengths packed
            packed = pack_padded_sequence(x, lengths.cpu(), self.batch_first, enforce_sorted=False)
            out, h_n = self._run_packed(packed, hx, generator=generator, masks=masks)
            return pad_packed_sequence(out, self.batch_first, total_length=steps)[0], h_n
        if fused:
            return self._fused(x, hx, None, masks)
        return self._scan(x, hx, lengths, generator, masks, time_major=not self.batch_first)

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
