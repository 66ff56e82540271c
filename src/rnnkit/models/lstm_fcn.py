"""``LSTMFCN``: a recurrent branch beside a fully convolutional branch (Karim et al. 2017).

Series classification, univariate or multivariate, variable length::

    x (T, B, I) -> [mean of every k steps] -> (T/k, B, I), then, side by side:
      recurrent stack (along time, or "dimension shuffle") -> pooling -> dropout -> (B, D*H)
      ConvBranch (Conv1d 128-256-128, kernels 8-5-3, BN, ReLU, masked average pool) -> (B, 128)
    -> concat -> linear -> (B, C)

``rnn_axis`` says what the recurrent branch reads as its steps: ``time`` (T steps of I
features, packed, so padding never enters its state) or ``channels`` (the paper's
"dimension shuffle": I steps of ``input_length`` features, each series zero-padded or cut to
the longest training series; for a univariate series one step, nearly free); ``auto`` is
``channels`` for univariate and ``time`` for multivariate series. ``max_length`` shortens
long series before both branches by averaging ``k = ceil(input_length / max_length)``
consecutive steps (piecewise aggregate approximation), a factor fixed by the training data,
so each series is transformed the same whatever its batch. The convolutional branch
(:class:`~rnnkit.models.conv_branch.ConvBranch`) honours lengths too.

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
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.series_norm import series_level, series_quantiles, znormalize_padded
from rnnkit.models.conv_branch import ConvBranch, average_steps
from rnnkit.models.pooling import POOLINGS, Pooling, check_series
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = ["DOWNSAMPLES", "LSTMFCN", "LSTMFCNConfig", "NORMALIZE", "RNN_AXES", "average_steps"]

RNN_AXES = ("auto", "time", "channels")
DOWNSAMPLES = ("input", "conv")
NORMALIZE = ("none", "series", "series+level")


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
    rnn_axis: str = "time"
    """What the recurrent branch reads as steps: time, channels (dimension shuffle) or auto."""
    input_length: int | None = None
    """Longest training series (set from the data): the width of a shuffled step."""
    max_length: int | None = None
    """Average every ``ceil(input_length / max_length)`` steps first (None: never)."""
    normalize: str = "none"
    """Per-series normalisation inside the model: ``none``, ``series`` (z-normalise each
    series by its own mean and std over its valid steps, per channel) or ``series+level``
    (the same, and the head also reads each series' level, ``asinh(mean)`` and
    ``log(std)`` per channel: the scale z-normalising throws away, which can carry the
    class, e.g. an appliance's power)."""
    quantiles: int = 0
    """The head also reads this many quantiles (0 to 1) per channel of each series (after
    ``normalize``): its value distribution, which the short convolutions never see whole
    (0: none, else >= 2)."""
    downsample: str = "input"
    """Where that averaging happens for the convolutional branch: ``input`` (the series,
    before both branches) or ``conv`` (after the branch's first block, which then reads
    the series at full resolution; the recurrent branch still reads the averaged series)."""

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
        if self.rnn_axis not in RNN_AXES:
            raise ValueError(
                f"`rnn_axis` must be one of {', '.join(RNN_AXES)}, got {self.rnn_axis!r}"
            )
        if self.normalize not in NORMALIZE:
            raise ValueError(
                f"`normalize` must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}"
            )
        if self.downsample not in DOWNSAMPLES:
            raise ValueError(
                f"`downsample` must be one of {', '.join(DOWNSAMPLES)}, got {self.downsample!r}"
            )
        if self.quantiles == 1 or self.quantiles < 0:
            raise ValueError(f"`quantiles` must be 0 or >= 2, got {self.quantiles}")
        for name in ("input_length", "max_length"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"`{name}` must be > 0 or None, got {value}")
        if self.axis == "channels" and self.input_length is None:
            raise ValueError(
                "`rnn_axis` 'channels' (dimension shuffle) needs `input_length` (the longest "
                "training series), got None"
            )

    @property
    def axis(self) -> str:
        """The resolved ``rnn_axis``: ``auto`` is channels for univariate series, else time."""
        if self.rnn_axis != "auto":
            return self.rnn_axis
        return "channels" if self.input_size == 1 else "time"

    @property
    def pool(self) -> int:
        """Steps averaged into one before both branches (1: none)."""
        if self.max_length is None or self.input_length is None:
            return 1
        return -(-self.input_length // self.max_length)

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
        self.width = None if c.input_length is None else -(-c.input_length // c.pool)
        self.rnn = c.rnn.build(self.width if c.axis == "channels" else c.input_size)
        self.pool = Pooling(c.pooling, c.rnn.output_size, c.rnn.directions)
        self.drop = nn.Dropout(c.rnn_dropout)
        late = c.downsample == "conv"
        self.conv = ConvBranch(
            c.input_size, c.filters, c.kernel_sizes, downsample=c.pool if late else 1
        )
        side = (2 if c.normalize == "series+level" else 0) + c.quantiles
        width = c.rnn.output_size + self.conv.out_features + side * c.input_size
        self.head = nn.Linear(width, c.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        lengths = check_series(x, lengths, self.config.input_size)
        side = [series_level(x, lengths)] if self.config.normalize == "series+level" else []
        if self.config.normalize != "none":
            x = znormalize_padded(x, lengths)
        if self.config.quantiles:
            side.append(series_quantiles(x, lengths, self.config.quantiles))  # (B, Q*I)
        short, short_lengths = average_steps(x, lengths, self.config.pool)  # (T/k, B, I)
        recurrent = self.drop(self._recurrent(short, short_lengths))  # (B, D*H)
        if self.config.downsample == "input":
            x, lengths = short, short_lengths
        conv = self.conv(x, lengths)  # (B, 128)
        return self.head(torch.cat([recurrent, conv, *side], dim=-1))  # (B, C)

    def _recurrent(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The recurrent branch's pooled state: x (T, B, I), lengths (B,) -> (B, D*H)."""
        T, B, I = x.shape
        if self.config.axis == "channels":  # dimension shuffle: I steps of `width` features
            assert self.width is not None
            valid = torch.arange(T, device=x.device)[:, None] < lengths[None, :]  # (T, B)
            x = (x * valid[..., None]).permute(2, 1, 0)  # (I, B, T)
            x = F.pad(x, (0, self.width - T)) if T < self.width else x[..., : self.width]
            out, _ = self.rnn(x)  # (I, B, D*H)
            return self.pool(out, torch.full((B,), I, dtype=torch.long, device=x.device))
        seq = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, _ = self.rnn(seq)
        out, _ = pad_packed_sequence(out, total_length=T)  # (T, B, D*H)
        return self.pool(out, lengths.to(out.device))
