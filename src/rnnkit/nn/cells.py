"""``RNNCell``, ``LSTMCell``, ``GRUCell``: one time step, drop-in for ``torch.nn``'s cells.

They subclass ``torch.nn.RNNCellBase`` for the parameters (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``; uniform ±1/sqrt(H) initialisation), and run the pure steps of
:mod:`rnnkit.functional.cells`, so stepping a cell by hand gives what the layers give.

Shapes: ``input (B, I)`` or ``(I,)`` unbatched; ``hx (B, H)`` or ``(H,)`` (an LSTM's is the
pair ``(h, c)``), zeros when omitted; the output has ``hx``'s shape (``LSTMState(h, c)`` for
the LSTM cell).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.functional import LSTMState, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from rnnkit.nn import _checks

__all__ = ["GRUCell", "LSTMCell", "RNNCell"]


class _Cell(torch.nn.RNNCellBase):
    """Checks, batching and zeros shared by the three cells; subclasses set ``_step``."""

    _is_lstm = False

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        _checks.check_positive_int("input_size", input_size)
        _checks.check_positive_int("hidden_size", hidden_size)
        _checks.check_bool("bias", bias)
        super().__init__(input_size, hidden_size, bias, num_chunks, device, dtype)

    def _step(self, state: Any, x: Tensor) -> Any:
        raise NotImplementedError

    def forward(self, input: Tensor, hx: Any = None) -> Any:
        """One step: ``input (B, I)`` or ``(I,)``, ``hx`` as the module docstring."""
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"input must be 1-D (I,) unbatched or 2-D (B, I), got {shape}")
        _checks.check_features(input, self.input_size)
        _checks.check_dtype("input", input, self.weight_ih.dtype)
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (B, I)
        batch = x.size(0)
        if hx is None:
            h = torch.zeros(batch, self.hidden_size, dtype=x.dtype, device=x.device)
            state: Any = LSTMState(h, torch.zeros_like(h)) if self._is_lstm else h
        else:
            state = self._check_hx(hx, batch, batched)
        new = self._step(state, x)
        if batched:
            return new
        return LSTMState(new.h[0], new.c[0]) if self._is_lstm else new[0]

    def _check_hx(self, hx: Any, batch: int, batched: bool) -> Any:
        if self._is_lstm:
            if isinstance(hx, Tensor) or not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(f"`hx` for an LSTM cell must be a tuple (h, c), got {type(hx)}")
            fields = [("`hx[0]` (h)", hx[0]), ("`hx[1]` (c)", hx[1])]
        else:
            fields = [("`hx` (h)", hx)]
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        out = []
        for what, t in fields:
            _checks.check_shape(what, t, expected, "(B, H)" if batched else "(H,)")
            _checks.check_dtype(what, t, self.weight_ih.dtype)
            out.append(t if batched else t.unsqueeze(0))  # (B, H)
        return LSTMState(*out) if self._is_lstm else out[0]

    def _weights(self) -> dict[str, Tensor | None]:
        return {
            "w_ih": self.weight_ih,
            "w_hh": self.weight_hh,
            "b_ih": self.bias_ih,
            "b_hh": self.bias_hh,
        }


class RNNCell(_Cell):
    """Elman cell ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu).

    Args: input_size I, hidden_size H, bias, nonlinearity ("tanh" or "relu"), device, dtype.

    Example:
        >>> cell = RNNCell(10, 20)
        >>> cell(torch.randn(3, 10)).shape
        torch.Size([3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"`nonlinearity` must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, state: Tensor, x: Tensor) -> Tensor:
        step = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return step(state, x, **self._weights())


class LSTMCell(_Cell):
    """LSTM cell, gates i, f, g, o; returns ``LSTMState(h', c')``.

    Args: input_size I, hidden_size H, bias, device, dtype.

    Example:
        >>> cell = LSTMCell(10, 20)
        >>> h, c = cell(torch.randn(3, 10))
        >>> h.shape
        torch.Size([3, 20])
    """

    _is_lstm = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def _step(self, state: LSTMState, x: Tensor) -> LSTMState:
        return lstm_cell(state, x, **self._weights())


class GRUCell(_Cell):
    """GRU cell, gates r, z, n with ``b_hn`` inside the reset product.

    Args: input_size I, hidden_size H, bias, device, dtype.

    Example:
        >>> cell = GRUCell(10, 20)
        >>> cell(torch.randn(10)).shape  # unbatched
        torch.Size([20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def _step(self, state: Tensor, x: Tensor) -> Tensor:
        return gru_cell(state, x, **self._weights())
