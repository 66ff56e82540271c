"""``LSTMFCN``: a recurrent branch beside a fully convolutional branch (Karim et al. 2017).

Series classification, univariate or multivariate, variable length::

    x (T, B, I) -> recurrent stack -> masked pooling -> dropout -> (B, D*H) -+
                                                                          concat -> linear -> (B, C)
    x (T, B, I) -> ConvBranch (Conv1d 128-256-128, kernels 8-5-3,           |
                   BN, ReLU, masked global average pooling) -> (B, 128) ---+

The recurrent branch is built from a :class:`~rnnkit.nn.RecurrentSpec` (any registered
cell) and runs packed, so padding never enters its state; the convolutional branch
(:class:`~rnnkit.models.conv_branch.ConvBranch`) honours lengths too. Unlike the paper's
"dimension shuffle" (the LSTM reading a whole univariate series as one step), the
recurrent branch reads the series along time, so variable-length series need no padding
to a fixed length.

>>> import torch
>>> model = LSTMFCN(LSTMFCNConfig(num_classes=3, input_size=2, hidden_size=8)).eval()
>>> tuple(model(torch.randn(20, 4, 2), torch.tensor([20, 15, 9, 3])).shape)
(4, 3)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.config import check_types, config_from_dict
from rnnkit.models.conv_branch import ConvBranch
from rnnkit.models.pooling import POOLINGS, Pooling
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = ["LSTMFCN", "LSTMFCNConfig"]


@accepts_flat_keys("rnn")
@dataclass(frozen=True)
class LSTMFCNConfig:
    """LSTM-FCN's shape; the recurrent keys are also taken flat (``hidden_size=8``)."""

    num_classes: int
    """Number of classes C (set from the label map)."""
    input_size: int
    """Features I per time step (set from the data)."""
    rnn: RecurrentSpec = RecurrentSpec(hidden_size=64)
    """The recurrent branch (cell, H, L, directions, regularisers)."""
    pooling: str = "last"
    """How the recurrent outputs become one vector: last, mean, max or attention (masked)."""
    rnn_dropout: float = 0.8
    """Dropout on the recurrent branch's pooled vector (the paper's 0.8), train mode only."""
    filters: tuple[int, ...] = (128, 256, 128)
    """Output channels of each convolutional block."""
    kernel_sizes: tuple[int, ...] = (8, 5, 3)
    """Kernel width of each convolutional block."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("num_classes", "input_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {', '.join(POOLINGS)}, got {self.pooling!r}"
            )
        if not 0.0 <= self.rnn_dropout < 1.0:
            raise ValueError(f"`rnn_dropout` must be in [0, 1), got {self.rnn_dropout}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LSTMFCNConfig:
        """Build from a dict, nested (``{"rnn": {...}}``) or flat; lists become tuples."""
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, nested: ``{"rnn": {...}, "num_classes": ...}``."""
        return asdict(self)


class LSTMFCN(nn.Module):
    """Recurrent branch and convolutional branch, concatenated into a linear head.

    Args:
        config: the model's shape (:class:`LSTMFCNConfig`).

    Inputs: ``x, lengths``
        - ``x``: ``(T, B, I)`` features, padded after each row's end.
        - ``lengths``: ``(B,)`` valid steps per row (default: all ``T``).

    Outputs: ``logits`` ``(B, C)``.
    """

    def __init__(self, config: LSTMFCNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.rnn = c.rnn.build(c.input_size)
        self.pool = Pooling(c.pooling, c.rnn.output_size, c.rnn.directions)
        self.drop = nn.Dropout(c.rnn_dropout)
        self.conv = ConvBranch(c.input_size, c.filters, c.kernel_sizes)
        self.head = nn.Linear(c.rnn.output_size + self.conv.out_features, c.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"`x` must be (T, B, {self.config.input_size}) features "
                f"(`input_size`), got shape {tuple(x.shape)}"
            )
        T, B = x.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        if lengths.shape != (B,):
            raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
        seq = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, _ = self.rnn(seq)
        out, _ = pad_packed_sequence(out, total_length=T)  # (T, B, D*H)
        recurrent = self.drop(self.pool(out, lengths.to(out.device)))  # (B, D*H)
        conv = self.conv(x, lengths.to(x.device))  # (B, 128)
        return self.head(torch.cat([recurrent, conv], dim=-1))  # (B, C)
