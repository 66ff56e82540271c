"""``RNN``, ``LSTM``, ``GRU``: drop-in for ``torch.nn``, with ``lengths=`` and a readable scan.

Same constructor arguments, parameter names, initialisation, forward contract and outputs as
``torch.nn``; a torch.nn state dict loads into these and back. Beyond torch, every layer takes

- ``forward(input, hx=None, *, lengths=None, generator=None)``: ``lengths (B,)`` is an
  alternative to a PackedSequence (outputs at padded steps are zero, states come from each
  row's last valid step; lengths need not be sorted); ``generator`` draws dropout masks;
- ``impl="auto" | "fused" | "scan"`` (see :mod:`rnnkit.nn.base`); ``forward_path()`` tells
  which path a forward takes;
- keyword-only regularisers, all off by default (see :mod:`rnnkit.nn.regularization` for each
  one's paper and :mod:`rnnkit.functional.cells` for the layer-norm equations):
  ``layer_norm=False``, ``dropout_kind="standard" | "locked"`` (of ``dropout``),
  ``input_dropout=0``, ``output_dropout=0``, ``recurrent_dropout=0`` (LSTM, GRU),
  ``zoneout_h=0``, ``zoneout_c=0`` (LSTM), ``weight_drop=0``. Every mask comes from the
  forward's ``generator`` when given; eval mode turns them off (zoneout: its expectation).

Shapes (letters as everywhere in rnnkit; D = 2 if bidirectional else 1, H_out = proj_size or
H):

- ``input``: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``, ``(T, I)`` unbatched, or a
  PackedSequence;
- ``hx``: ``h_0 (L·D, B, H_out)`` (``(L·D, H_out)`` unbatched), for an LSTM the pair
  ``(h_0, c_0)`` with ``c_0 (L·D, B, H)``; zeros when omitted;
- ``output``: ``(T, B, D·H_out)`` (same layout and kind as ``input``) holding the last
  layer's ``h_t`` for every t;
- ``h_n``: ``(L·D, B, H_out)``, for an LSTM ``LSTMState(h_n, c_n)``.

Initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnkit.nn.base import RecurrentBase

__all__ = ["GRU", "LSTM", "RNN"]


class RNN(RecurrentBase):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or relu).

    Args:
        input_size: I; hidden_size: H; num_layers: L (stacked layers).
        nonlinearity: "tanh" or "relu".
        bias: with ``b_ih`` and ``b_hh``; batch_first: input/output ``(B, T, ·)``.
        dropout: dropout probability on each layer's output but the last (train mode only).
        bidirectional: D = 2 when True.
        device, dtype: of the parameters.
        impl: "auto" (fused kernel when it can), "fused" (error when it cannot), "scan".
        **options: the regularisers of :mod:`rnnkit.nn.regularization` (keyword-only).

    Example:
        >>> rnn = RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(torch.randn(5, 3, 10))  # (T, B, I)
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "auto",
        **options: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"`nonlinearity` must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first,
            dropout, bidirectional, 0, device, dtype, impl=impl, **options,
        )  # fmt: skip
        self.nonlinearity = nonlinearity


class LSTM(RecurrentBase):
    """LSTM, gates i, f, g, o as torch.nn, with an optional projection (``proj_size``)::

        i, f, o = σ(W_i{i,f,o} x_t + b_i{i,f,o} + W_h{i,f,o} h_{t-1} + b_h{i,f,o})
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)   (then h_t = W_hr h_t if proj_size)

    Args: as :class:`RNN` (no ``nonlinearity``), plus ``proj_size``: P, with
    ``0 < P < H`` projecting ``h`` to P features (0: no projection).

    Returns ``(output, LSTMState(h_n, c_n))``; the state unpacks like torch's tuple.

    Example:
        >>> lstm = LSTM(10, 20, batch_first=True)
        >>> output, (h_n, c_n) = lstm(torch.randn(3, 5, 10))  # (B, T, I)
        >>> output.shape, c_n.shape
        (torch.Size([3, 5, 20]), torch.Size([1, 3, 20]))
    """

    def __init__(
        self,
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
        **options: Any,
    ) -> None:
        super().__init__(
            "lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype, impl=impl, **options,
        )  # fmt: skip


class GRU(RecurrentBase):
    """GRU, gates r, z, n as torch.nn (``b_hn`` inside the reset product)::

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    Args: as :class:`RNN` (no ``nonlinearity``).

    Example:
        >>> gru = GRU(10, 20, bidirectional=True)
        >>> output, h_n = gru(torch.randn(5, 3, 10), lengths=[5, 2, 4])
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 40]), torch.Size([2, 3, 20]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "auto",
        **options: Any,
    ) -> None:
        super().__init__(
            "gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype, impl=impl, **options,
        )  # fmt: skip
