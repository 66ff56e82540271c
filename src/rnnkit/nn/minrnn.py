"""``MinGRU``, ``MinLSTM`` (Feng et al. 2024, "Were RNNs All We Needed?"), GRU-shaped layers.

The gates depend on ``x_t`` only, so the recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` is linear
in ``h`` and runs as a scan over all steps at once (see :mod:`rnnkit.functional.minrnn`)::

    minGRU:  z = σ(W_z x + b_z),  h~ = g(W_h x + b_h),  h_t = (1 - z) ⊙ h_{t-1} + z ⊙ h~
    minLSTM: f = σ(W_f x + b_f),  i = σ(W_i x + b_i),  h~ = g(W_h x + b_h),
             h_t = f/(f+i) ⊙ h_{t-1} + i/(f+i) ⊙ h~

with ``g(x) = x + 0.5 if x >= 0 else σ(x)`` (the paper's log-space variant: h~ > 0).

The call contract is :class:`rnnkit.nn.GRU`'s, so every task can build one by name
(``make_rnn("mingru", ...)``): ``forward(input, hx=None, *, lengths=None) -> (output, h_n)``
with ``input (T, B, I)`` (``(B, T, I)`` if batch_first, ``(T, I)`` unbatched, or a
PackedSequence), ``hx (L·D, B, H)``, ``output (T, B, D·H)`` (zero at padded steps) and
``h_n (L·D, B, H)`` (each row's last valid step).

Modes: "parallel" (the scan; ``scan="log"`` is Heinsen's log-space scan, ``scan="linear"``
the blocked linear-space scan fused with the gates, ``"auto"``: log on CUDA, linear on CPU),
"sequential" (step by step, the O(1)-per-step recurrent form), "auto" (sequential when
T == 1, else parallel). :meth:`step` advances one time step for generation.

Parameters per layer l and direction (suffix ``_reverse``): ``weight_ih_l{l} (G·H, I_l)``
and ``bias_ih_l{l} (G·H,)``, with blocks z | h (G = 2) or i | f | h (G = 3), initialised
U(-1/sqrt(H), 1/sqrt(H)) as torch.nn's recurrent layers. There is no ``weight_hh``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.functional import scan_whole, stack_layers
from rnnkit.functional.minrnn import BACKENDS, KINDS, STEPS, minrnn_layer
from rnnkit.functional.scan import scan as scan_steps
from rnnkit.nn import _checks
from rnnkit.nn._frontend import sequence_forward

__all__ = ["MODES", "SCANS", "MinGRU", "MinLSTM", "MinRNNBase"]

MODES = ("auto", "parallel", "sequential")
SCANS = ("auto", "linear", "log")


class MinRNNBase(nn.Module):
    """The layer shared by :class:`MinGRU` and :class:`MinLSTM` (see the module doc)."""

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "auto",
        scan: str = "auto",
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.check_positive_int("input_size", input_size)
        _checks.check_positive_int("hidden_size", hidden_size)
        _checks.check_positive_int("num_layers", num_layers)
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            _checks.check_bool(name, flag)
        _checks.check_bool("bidirectional", bidirectional)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}")
        if scan not in SCANS:
            raise ValueError(f"`scan` must be one of {SCANS}, got {scan!r}")
        if backend not in BACKENDS:
            raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
        self.kind = kind
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = _checks.check_dropout(dropout)
        self.mode, self.scan, self.backend = mode, scan, backend
        directions = 2 if bidirectional else 1
        gates = KINDS[kind] * hidden_size
        factory = {"device": device, "dtype": dtype}
        self._names: list[tuple[str, str | None]] = []  # (weight, bias) per layer·direction
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter(
                    f"weight_ih{sfx}", nn.Parameter(torch.empty(gates, width, **factory))
                )
                if bias:
                    self.register_parameter(
                        f"bias_ih{sfx}", nn.Parameter(torch.empty(gates, **factory))
                    )
                self._names.append((f"weight_ih{sfx}", f"bias_ih{sfx}" if bias else None))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn's recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, index: int) -> tuple[Tensor, Tensor | None]:
        w, b = self._names[index]
        return getattr(self, w), (getattr(self, b) if b else None)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        defaults = {"bias": True, "batch_first": False, "dropout": 0.0}
        defaults.update(bidirectional=False, mode="auto", scan="auto", backend="auto")
        for name, default in defaults.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s

    # -- the forward --------------------------------------------------------------------------

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        """Run the layer over a whole sequence.

        Args:
            input: ``(T, B, I)`` (``(B, T, I)`` if batch_first), ``(T, I)`` unbatched, or a
                PackedSequence.
            hx: ``h_0 (L·D, B, H)`` (``(L·D, H)`` unbatched), any sign; zeros when None.
            lengths: ``(B,)`` valid lengths in ``[1, T]``, any order (tensor input only).

        Returns:
            ``(output, h_n)``: ``output (T, B, D·H)`` (same layout/kind as ``input``, zero at
            padded steps) and ``h_n (L·D, B, H)``, each row's state at its last valid step.
        """
        return sequence_forward(
            input, hx, lengths, batch_first=self.batch_first, check_input=self._check_input,
            check_hx=self._check_hx, run=self._run,
        )  # fmt: skip

    def _run(self, x: Tensor, hx: Tensor | None, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """The core: ``x (T, B, I)`` (``(B, T, I)`` if batch_first) -> output, ``h_n``."""
        x = x.transpose(0, 1) if self.batch_first else x  # (T, B, I)
        out, h_n = self._layers(x, hx, lengths, self.mode)  # (T, B, D·H)
        return (out.transpose(0, 1) if self.batch_first else out), h_n  # the input's layout

    def _layers(
        self, x: Tensor, hx: Tensor | None, lengths: Tensor | None, mode: str
    ) -> tuple[Tensor, Tensor]:
        """Every layer·direction over ``x (T, B, I)`` -> ``(T, B, D·H)``, ``h_n (L·D, B, H)``."""

        def run(k: int, x: Tensor, reverse: bool) -> tuple[Tensor, Tensor]:
            h0 = None if hx is None else hx[k]  # (B, H)
            return self._direction(k, x, h0, mode, reverse=reverse, lengths=lengths)

        def between(x: Tensor, layer: int) -> Tensor:
            return F.dropout(x, self.dropout, training=True) if self.dropout else x

        out, finals = stack_layers(
            run, x, num_layers=self.num_layers, directions=2 if self.bidirectional else 1,
            between=between if self.training else None,
        )  # fmt: skip
        return out, torch.stack(finals)  # (T, B, D·H), (L·D, B, H)

    def _direction(
        self, k: int, x: Tensor, h0: Tensor | None, mode: str, *, reverse: bool,
        lengths: Tensor | None,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Layer·direction ``k`` over ``x (T, B, I)`` -> ``(h (T, B, H), final (B, H))``."""
        weight, bias = self._weights(k)
        if mode == "auto":
            mode = "sequential" if x.size(0) == 1 else "parallel"
        if mode == "parallel":
            scan = self.scan
            if scan == "auto":
                scan = "log" if x.is_cuda else "linear"

            def whole(x: Tensor, h0: Tensor | None, valid: Tensor | None) -> Tensor:
                return minrnn_layer(
                    self.kind, x, weight, bias, h0, valid=valid, scan=scan, backend=self.backend
                )

            return scan_whole(whole, x, h0, reverse=reverse, lengths=lengths)
        k_all = F.linear(x, weight, bias)  # (T, B, G·H), one matmul for all steps
        h = k_all.new_zeros((k_all.size(1), self.hidden_size)) if h0 is None else h0  # (B, H)
        cell = partial(_min_cell, step=STEPS[self.kind])
        return scan_steps(cell, k_all, h, reverse=reverse, lengths=lengths)

    # -- generation ---------------------------------------------------------------------------

    def step(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One time step through every layer, O(1) in the sequence length (generation).

        Args:
            x: ``(B, I)`` the input at this step.
            h: ``(L, B, H)`` the state after the previous step, or None for zeros.

        Returns:
            ``(y, h')``: ``y (B, H)`` the last layer's new state and ``h' (L, B, H)``.
        """
        if self.bidirectional:
            raise ValueError("`step` runs forward in time; a bidirectional layer cannot")
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"`x` must be (B, I), got {getattr(x, 'shape', type(x))}")
        _checks.check_features(x, self.input_size)
        h = None if h is None else self._check_hx(h, x.size(0), True)
        out, h_n = self._layers(x.unsqueeze(0), h, None, "sequential")  # (1, B, H)
        return out[0], h_n  # (B, H), (L, B, H)

    def _check_input(self, x: Tensor) -> None:
        _checks.check_features(x, self.input_size)
        _checks.check_dtype("input", x, self.weight_ih_l0.dtype)

    def _check_hx(self, hx: Tensor, batch: int, batched: bool) -> Tensor:
        layers = self.num_layers * (2 if self.bidirectional else 1)
        if batched:
            _checks.check_shape("`hx` (h_0)", hx, (layers, batch, self.hidden_size), "(L·D, B, H)")
        else:
            expected = (layers, self.hidden_size)
            _checks.check_shape("`hx` (h_0)", hx, expected, "(L·D, H) for unbatched input")
            hx = hx.unsqueeze(1)  # (L·D, 1, H)
        _checks.check_dtype("`hx` (h_0)", hx, self.weight_ih_l0.dtype)
        return hx


def _min_cell(state: Tensor, k: Tensor, *, step: Callable[..., Tensor]) -> Tensor:
    """The minGRU/minLSTM step on a precomputed ``k (B, G·H)``, as a scan cell."""
    return step(k, state, None)


class MinGRU(MinRNNBase):
    """minGRU: ``z = σ(W_z x + b_z)``, ``h_t = (1 - z) ⊙ h_{t-1} + z ⊙ g(W_h x + b_h)``.

    Args:
        input_size: I; hidden_size: H; num_layers: L (stacked layers).
        bias: with ``bias_ih``; batch_first: input/output ``(B, T, ·)``.
        dropout: dropout on each layer's output but the last (train mode only).
        bidirectional: D = 2 when True (the reverse direction starts at each row's last
            valid step).
        mode: "auto" | "parallel" | "sequential"; scan: "auto" | "linear" | "log" (see the
            module doc); backend: for the linear scan, "auto" | "c" | "torch" (the fused C
            kernel where it can be built, or torch ops); device, dtype: of the parameters.

    Example:
        >>> gru = MinGRU(10, 20, num_layers=2)
        >>> output, h_n = gru(torch.randn(5, 3, 10), lengths=[5, 2, 4])  # (T, B, I)
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

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
        mode: str = "auto",
        scan: str = "auto",
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            "mingru", input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, mode=mode, scan=scan, backend=backend,
            device=device, dtype=dtype,
        )  # fmt: skip


class MinLSTM(MinRNNBase):
    """minLSTM: ``f, i = σ(W_f x + b_f), σ(W_i x + b_i)``, normalised ``f' = f/(f+i)``,
    ``i' = i/(f+i)``, and ``h_t = f' ⊙ h_{t-1} + i' ⊙ g(W_h x + b_h)``.

    Args: as :class:`MinGRU`. ``weight_ih_l{l}`` stacks the blocks i | f | h (G = 3).

    Example:
        >>> lstm = MinLSTM(10, 20, batch_first=True, bidirectional=True)
        >>> output, h_n = lstm(torch.randn(3, 5, 10))  # (B, T, I)
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 40]), torch.Size([2, 3, 20]))
    """

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
        mode: str = "auto",
        scan: str = "auto",
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            "minlstm", input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, mode=mode, scan=scan, backend=backend,
            device=device, dtype=dtype,
        )  # fmt: skip
