"""``RGLRU``: the Real-Gated Linear Recurrent Unit of Hawk (De et al. 2024) as a layer.

Per layer and direction (see :mod:`rnnkit.functional.rglru` for the equations)::

    u, k_r, k_i = split(W x_t + b)          (3H rows: u | r | i)
    a_t = σ(Λ)^(8 σ(k_r))
    h_t = a_t ⊙ h_{t-1} + sqrt(1 - a_t²) ⊙ (σ(k_i) ⊙ u)

This is the recurrence of the paper's recurrent block; the block around it in Griffin
(the GeLU branch, the short convolution, the residual MLP) is not part of the cell, so the
layer stacks like every other rnnkit layer. The state is ``h (L·D, B, H)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.functional import scan_whole
from rnnkit.functional.rglru import init_lambda, rglru_layer, rglru_step
from rnnkit.functional.scan import scan as scan_steps
from rnnkit.nn._stateful import StatefulLayer

__all__ = ["RGLRU"]


class RGLRU(StatefulLayer):
    """RG-LRU layer (Hawk's recurrence), stacked and optionally bidirectional.

    Args:
        input_size: I; hidden_size: H; num_layers: L.
        bias: with ``bias_ih``; batch_first: input/output ``(B, T, ·)``.
        dropout: dropout on each layer's output but the last (train mode only).
        bidirectional: D = 2 (the reverse direction starts at each row's last valid step).
        mode: "auto" (recurrent when T == 1, else parallel), "parallel" (the linear scan
            over all steps) or "recurrent" (step by step, as in generation).
        device, dtype: of the parameters.

    Parameters per layer l (suffix ``_reverse`` for D = 2): ``weight_ih_l{l} (3H, I_l)`` and
    ``bias_ih_l{l} (3H,)`` ~ U(-1/sqrt(H), 1/sqrt(H)); ``lambda_l{l} (H,)`` with
    ``σ(Λ)^8`` uniform in [0.9, 0.999] (the paper's init).

    Example:
        >>> layer = RGLRU(10, 16, num_layers=2)
        >>> out, h_n = layer(torch.randn(7, 3, 10), lengths=[7, 2, 5])  # (T, B, I)
        >>> out.shape, h_n.shape
        (torch.Size([7, 3, 16]), torch.Size([2, 3, 16]))
    """

    modes = ("auto", "parallel", "recurrent")

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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first,
            dropout=dropout, bidirectional=bidirectional, mode=mode, device=device, dtype=dtype,
        )  # fmt: skip
        self._build()

    def _param_shapes(self, width: int) -> dict[str, tuple[int, ...]]:
        h = self.hidden_size
        return {"weight_ih": (3 * h, width), "bias_ih": (3 * h,), "lambda": (h,)}

    def reset_parameters(self) -> None:
        """Weights and biases U(-1/sqrt(H), 1/sqrt(H)); Λ so that a^8 ~ U[0.9, 0.999]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name.startswith("lambda"):
                with torch.no_grad():
                    p.copy_(init_lambda(self.hidden_size, dtype=p.dtype, device=p.device))
            else:
                nn.init.uniform_(p, -bound, bound)

    def _direction(
        self, k: int, x: Tensor, state: Tensor | None, mode: str, *, reverse: bool,
        lengths: Tensor | None,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        p = self.params(k)
        weight, bias, lam = p["weight_ih"], p.get("bias_ih"), p["lambda"]
        if mode == "auto":
            mode = "recurrent" if x.size(0) == 1 else "parallel"
        if mode == "parallel":

            def whole(x: Tensor, h0: Tensor | None, valid: Tensor | None) -> Tensor:
                return rglru_layer(x, weight, bias, lam, h0, valid=valid)

            return scan_whole(whole, x, state, reverse=reverse, lengths=lengths)
        proj = nn.functional.linear(x, weight, bias)  # (T, B, 3H), one matmul for all steps
        h = proj.new_zeros((proj.size(1), self.hidden_size)) if state is None else state

        def cell(h: Tensor, k_t: Tensor) -> Tensor:
            return rglru_step(k_t, h, None, None, lam)

        return scan_steps(cell, proj, h, reverse=reverse, lengths=lengths)
