"""``MLSTM``: xLSTM's matrix-memory LSTM (Beck et al. 2024) as a layer.

Per layer and direction (see :mod:`rnnkit.functional.mlstm` for the equations and the three
forms)::

    q, k, v, o~, i~, f~ = split(W x_t + b)      (4H + 2·NH rows)
    C_t = f_t C_{t-1} + i_t k_t v_t^T,  n_t = f_t n_{t-1} + i_t k_t   per head
    h_t = σ(o~) ⊙ C_t^T q_t / max(|n_t^T q_t|, 1)

This is the mLSTM cell of the paper's section 2.3; the block around it (up-projection,
convolution, skip, group norm) is not part of the cell, so the layer stacks like every other
rnnkit layer. The state is :class:`~rnnkit.functional.mlstm.MLSTMState` ``(C, n, m)`` with
``C (L·D, B, NH, d, d)``, ``n (L·D, B, NH, d)``, ``m (L·D, B, NH)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.functional.mlstm import MLSTMState, mlstm_sequence
from rnnkit.functional.scan import valid_mask
from rnnkit.nn._stateful import StatefulLayer
from rnnkit.nn.slstm import check_heads

__all__ = ["MLSTM"]


class MLSTM(StatefulLayer):
    """mLSTM layer: matrix memory, covariance update, exponential gating; parallelisable.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: with ``bias_ih``; batch_first: input/output ``(B, T, ·)``.
        dropout: dropout on each layer's output but the last (train mode only).
        bidirectional: D = 2 (the reverse direction starts at each row's last valid step).
        num_heads: NH, dividing H (None: 4, else 2, else 1 — the paper uses 4); d = H / NH.
        mode: "auto" (recurrent when T == 1, parallel when T <= ``chunk_size``, else
            chunkwise), "parallel", "chunkwise" or "recurrent"; all compute the same function.
        chunk_size: steps per chunk of the chunkwise form.
        device, dtype: of the parameters.

    Parameters per layer l (suffix ``_reverse`` for D = 2): ``weight_ih_l{l} (4H + 2NH, I_l)``
    and ``bias_ih_l{l}``, blocks q | k | v | o | i | f. q, k, v, o ~ U(-1/sqrt(H), 1/sqrt(H));
    the gate rows follow NX-AI/xlstm: input and forget weights zero, input bias N(0, 0.1²),
    forget bias evenly spaced in [3, 6] over the heads (``f = σ(b_f)`` near 1: remember).

    Example:
        >>> layer = MLSTM(10, 16, num_heads=2)
        >>> out, state = layer(torch.randn(7, 3, 10))  # (T, B, I)
        >>> out.shape, state.C.shape
        (torch.Size([7, 3, 16]), torch.Size([1, 3, 2, 8, 8]))
    """

    modes = ("auto", "parallel", "chunkwise", "recurrent")
    state_type = MLSTMState

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
        num_heads: int | None = None,
        mode: str = "auto",
        chunk_size: int = 64,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, mode=mode, device=device, dtype=dtype,
        )  # fmt: skip
        self.num_heads = check_heads(num_heads, hidden_size)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"`chunk_size` must be an int >= 1, got {chunk_size!r}")
        self.chunk_size = chunk_size
        self._build()

    def _param_shapes(self, width: int) -> dict[str, tuple[int, ...]]:
        rows = 4 * self.hidden_size + 2 * self.num_heads
        return {"weight_ih": (rows, width), "bias_ih": (rows,)}

    def reset_parameters(self) -> None:
        """See the class doc."""
        h, heads = self.hidden_size, self.num_heads
        bound = 1.0 / math.sqrt(h)
        for k in range(len(self._names)):
            p = self.params(k)
            weight, bias = p["weight_ih"], p.get("bias_ih")
            with torch.no_grad():
                nn.init.uniform_(weight, -bound, bound)
                weight[4 * h :].zero_()  # the i and f rows
                if bias is None:
                    continue
                nn.init.uniform_(bias, -bound, bound)
                nn.init.normal_(bias[4 * h : 4 * h + heads], 0.0, 0.1)
                bias[4 * h + heads :] = torch.linspace(3.0, 6.0, heads, dtype=bias.dtype)

    def _state_shapes(self) -> tuple[tuple[int, ...], ...]:
        heads = self.num_heads
        d = self.hidden_size // heads
        return ((heads, d, d), (heads, d), (heads,))

    def _direction(
        self, k: int, x: Tensor, state: MLSTMState | None, mode: str, *, reverse: bool,
        lengths: Tensor | None,
    ) -> tuple[Tensor, MLSTMState]:  # fmt: skip
        p = self.params(k)
        steps = x.size(0)
        if mode == "auto":
            mode = "recurrent" if steps == 1 else "parallel"
            mode = "chunkwise" if steps > self.chunk_size else mode
        proj = nn.functional.linear(x, p["weight_ih"], p.get("bias_ih"))  # (T, B, 4H + 2NH)
        valid = None if lengths is None else valid_mask(lengths, steps, x.device)  # (T, B, 1)
        if reverse:  # padding first: it carries the initial state to each row's last step
            proj = proj.flip(0)
            valid = None if valid is None else valid.flip(0)
        out, final = mlstm_sequence(
            proj, self.num_heads, state, valid=valid, form=mode, chunk=self.chunk_size
        )  # (T, B, H)
        if valid is not None:
            out = torch.where(valid, out, 0.0)
        return (out.flip(0) if reverse else out), final

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", num_heads={self.num_heads}"
        return s + (f", chunk_size={self.chunk_size}" if self.chunk_size != 64 else "")
