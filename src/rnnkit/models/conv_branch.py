"""The fully convolutional branch of LSTM-FCN (Karim et al. 2017), length-aware.

Three blocks ``Conv1d -> BatchNorm -> ReLU`` (128, 256, 128 filters; kernels 8, 5, 3;
``same`` zero padding, stride 1), then global average pooling over time: the FCN of Wang et al.
(2017) that LSTM-FCN runs beside its recurrent branch and concatenates with it.

Variable lengths are honoured exactly. Before every convolution the padded steps are set
to zero, so a row's valid outputs see the same zeros past its end as the convolution's own
padding gives a row run alone; batch-norm statistics (training) and the average pooling
use the valid steps only. A padded batch therefore gives each row the result it would get
alone (in eval mode; in training mode the batch statistics are those of the valid steps,
whatever the padding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.models.pooling import length_mask

__all__ = ["ConvBranch", "MaskedBatchNorm1d", "average_steps"]


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over ``(B, C, T)`` whose training statistics skip padded steps.

    Same parameters, buffers and state-dict keys as :class:`torch.nn.BatchNorm1d`; in eval
    mode (or without running statistics) it is exactly that layer applied to every step.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """x: (B, C, T), mask: (B, 1, T) of 0/1 (None: every step valid) -> (B, C, T)."""
        if mask is None or not self.training or not self.track_running_stats:
            return super().forward(x)
        n = mask.sum()  # number of valid (row, step) positions
        if n < 2:
            raise ValueError(f"batch norm in training needs >= 2 valid steps, got {int(n)}")
        mean = (x * mask).sum(dim=(0, 2)) / n  # (C,)
        centred = (x - mean[None, :, None]) * mask  # (B, C, T)
        var = (centred**2).sum(dim=(0, 2)) / n  # (C,) biased, used to normalise
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked)
            self.running_mean.lerp_(mean.detach(), m)
            self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as torch
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y


class ConvBranch(nn.Module):
    """LSTM-FCN's convolutional branch: conv blocks, then average pooling over valid steps.

    Args:
        input_size: I, features per time step.
        filters: output channels of each block (default LSTM-FCN's ``(128, 256, 128)``).
        kernel_sizes: kernel width of each block (default ``(8, 5, 3)``).
        batch_first: inputs are ``(B, T, I)`` instead of ``(T, B, I)``.
        downsample: average every this many valid steps of the first block's output before
            the later blocks (1: never). The first block, whose input has few channels, then
            sees the series at full resolution, and the costly later blocks run on
            ``ceil(T / downsample)`` steps: averaging after the ReLU keeps the energy of
            fast patterns that averaging the raw input first would cancel.

    Inputs: x, lengths
        x: ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), padded past each row's length.
        lengths: ``(B,)`` valid steps per row, each in ``1..T`` (None: all T valid).

    Outputs:
        ``(B, filters[-1])``: each row's mean over its valid steps of the last block's
        output (:attr:`out_features` = ``filters[-1]``, 128 by default).

    Example:
        >>> branch = ConvBranch(input_size=1).eval()
        >>> branch(torch.randn(50, 4, 1), torch.tensor([50, 30, 7, 1])).shape
        torch.Size([4, 128])
    """

    def __init__(
        self,
        input_size: int,
        filters: Sequence[int] = (128, 256, 128),
        kernel_sizes: Sequence[int] = (8, 5, 3),
        *,
        batch_first: bool = False,
        downsample: int = 1,
    ) -> None:
        super().__init__()
        if input_size < 1:
            raise ValueError(f"`input_size` must be >= 1, got {input_size}")
        if len(filters) != len(kernel_sizes) or not filters:
            raise ValueError(
                f"`filters` and `kernel_sizes` must be non-empty and of one length, got "
                f"{len(filters)} and {len(kernel_sizes)}"
            )
        if any(f < 1 for f in filters) or any(k < 1 for k in kernel_sizes):
            raise ValueError(
                f"`filters` and `kernel_sizes` must be >= 1, got {list(filters)} and "
                f"{list(kernel_sizes)}"
            )
        if downsample < 1:
            raise ValueError(f"`downsample` must be >= 1, got {downsample}")
        self.batch_first = batch_first
        self.downsample = int(downsample)
        self.out_features = int(filters[-1])
        sizes = [input_size, *filters]
        self.convs = nn.ModuleList(
            nn.Conv1d(sizes[n], sizes[n + 1], k) for n, k in enumerate(kernel_sizes)
        )
        # "same" padding, the odd step on the right for even kernels (as torch and Keras);
        # done by hand, which spares torch's extra copy and warning for even kernels.
        self._pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_sizes]
        self.norms = nn.ModuleList(MaskedBatchNorm1d(f) for f in filters)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x: (T, B, I) or (B, T, I) with batch_first, lengths: (B,) -> (B, filters[-1])."""
        if x.dim() != 3:
            raise ValueError(f"`x` must be (T, B, I), got shape {tuple(x.shape)}")
        h = x.permute(0, 2, 1) if self.batch_first else x.permute(1, 2, 0)  # (B, I, T)
        b, i, t = h.shape
        if i != self.convs[0].in_channels:
            raise ValueError(
                f"input has {i} features, the branch expects {self.convs[0].in_channels} "
                "(`input_size`)"
            )
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long)
        if lengths.shape != (b,):
            raise ValueError(f"`lengths` must be ({b},), got shape {tuple(lengths.shape)}")
        lengths = lengths.to(h.device)
        if lengths.min() < 1 or lengths.max() > t:
            raise ValueError(f"`lengths` must be in 1..{t}, got {lengths.tolist()}")
        mask = _mask(lengths, t, h.dtype)
        for n, (conv, norm, pad) in enumerate(zip(self.convs, self.norms, self._pads, strict=True)):
            # Zero the padding first: past a row's end the kernel sees what it would alone.
            h = F.pad(h * mask, pad)  # (B, F_n-1, T + k - 1)
            h = F.relu(norm(conv(h), mask)) * mask  # (B, F_n, T)
            if n == 0 and self.downsample > 1:
                h, lengths = average_steps(h.permute(2, 0, 1), lengths, self.downsample)
                h = h.permute(1, 2, 0)  # (B, F_0, ceil(T / k))
                mask = _mask(lengths, h.shape[2], h.dtype)
        return h.sum(dim=2) / lengths.to(h.dtype)[:, None]  # (B, F_last)


def _mask(lengths: Tensor, t: int, dtype: torch.dtype) -> Tensor:
    """(B,) valid steps -> (B, 1, T) of 0/1."""
    return length_mask(lengths, t).T.unsqueeze(1).to(dtype)


def average_steps(x: Tensor, lengths: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Mean of every ``k`` consecutive valid steps of each row (the last group may be short).

    x: (T, B, I) padded past ``lengths`` (B,) -> ((ceil(T/k), B, I), (B,) ceil(lengths/k)).
    Padding never enters a mean, so each row gets what it would get alone.
    """
    if k == 1:
        return x, lengths
    T, B, _ = x.shape
    n = -(-T // k)
    mask = (torch.arange(n * k, device=x.device)[:, None] < lengths[None, :]).to(x.dtype)
    x = F.pad(x, (0, 0, 0, 0, 0, n * k - T)) * mask[..., None]  # (n*k, B, I)
    sums = x.reshape(n, k, B, -1).sum(1)  # (n, B, I)
    counts = mask.reshape(n, k, B).sum(1).clamp(min=1.0)  # (n, B)
    return sums / counts[..., None], -(-lengths // k)
