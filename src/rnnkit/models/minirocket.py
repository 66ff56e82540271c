"""``MiniRocket``: random dilated convolutions, proportion-of-positive-values features and a
ridge head fitted in closed form (Dempster, Schmidt and Webb 2021, "MINIROCKET").

Series classification, univariate or multivariate, variable length::

    x (T, B, I) -> for each dilation d: Conv1d of the 84 fixed kernels (length 9, weights
      -1 and 2, dilation d, zero padding 4d), each kernel's output summed over its random
      subset of channels -> (B, 84, T)
      -> PPV: the share of valid steps where the output exceeds each of the kernel's biases
      -> (B, F)  F = 84 * (num_features // 84)
    -> standardise (training mean and std) -> linear head -> logits (B, C)

Nothing here is trained by gradient: :meth:`MiniRocket.fit` draws the channel subsets,
takes each (dilation, kernel)'s biases from quantiles of its output on a random training
series, computes the training features and fits the head by ridge regression, the penalty
chosen by exact leave-one-out error and the softmax temperature by leave-one-out
cross-entropy (:func:`rnnkit.models.ridge.fit_ridge`). Half of the (dilation, kernel)
combinations count every step of the series (zero padding); the other half only the steps
whose window lies wholly inside it (no padding), or every step where none does.
``input_length`` (the shortest training series) sets the dilations:
``floor(2 ** linspace(0, log2((input_length - 1) / 8), n))``, at most ``max_dilations`` of
them. The kernels sum to zero, so each feature ignores a series' level; its biases come
from the training data, so the features follow the data's scale.

>>> import torch
>>> model = MiniRocket(MiniRocketConfig(num_classes=2, input_size=1, input_length=40,
...                                     num_features=168))
>>> series = [torch.randn(40, 1) + (i % 2) * torch.linspace(0, 3, 40)[:, None]
...           for i in range(20)]
>>> fit = model.fit(series, torch.arange(20) % 2, seed=0)
>>> tuple(model(torch.randn(40, 4, 1)).shape)
(4, 2)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pad_sequence

from rnnkit.config import check_types, config_from_dict
from rnnkit.models.pooling import check_series, length_mask
from rnnkit.models.ridge import RidgeFit, fit_ridge
from rnnkit.scratch.runtime_minirocket import kernels

__all__ = ["KERNELS", "MiniRocket", "MiniRocketConfig", "dilations"]

KERNEL_LENGTH = 9
KERNELS = 84
"""The fixed kernels: every way of placing three 2s among nine -1s (C(9, 3) = 84)."""
_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # low-discrepancy quantile sequence (i * phi) mod 1
_CHUNK = 1 << 24  # elements of one (B, 84, j, T) comparison block
_SORT_FROM = 8  # biases per kernel from which sorting the steps is the cheaper count


@dataclass(frozen=True)
class MiniRocketConfig:
    """MiniRocket's shape: the data-derived sizes and the number of features."""

    num_classes: int
    """Number of classes C (set from the label map)."""
    input_size: int
    """Channels I per time step (set from the data)."""
    input_length: int | None = None
    """The shortest training series (set from the data): sets the dilations."""
    num_features: int = 10_000
    """Features F before rounding down to a multiple of 84 (the paper's 10,000)."""
    max_dilations: int = 32
    """At most this many dilations per kernel."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("num_classes", "input_size", "max_dilations"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.num_features < KERNELS:
            raise ValueError(f"`num_features` must be >= {KERNELS}, got {self.num_features}")
        if self.input_length is not None and self.input_length <= 0:
            raise ValueError(f"`input_length` must be > 0 or None, got {self.input_length}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MiniRocketConfig:
        """Build from a dict (the ``model`` section of a run's config.json)."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def dilations(input_length: int, per_kernel: int, max_dilations: int) -> list[tuple[int, int]]:
    """``(dilation, features per kernel at it)`` pairs: exponentially spaced dilations up to
    the one whose kernel spans ``input_length``, the ``per_kernel`` features shared out."""
    n = min(per_kernel, max_dilations)
    top = math.log2(max((input_length - 1) / (KERNEL_LENGTH - 1), 1.0))
    spaced = np.floor(2.0 ** np.linspace(0.0, top, n)).astype(int)
    values, counts = np.unique(spaced, return_counts=True)
    share = counts * per_kernel // n
    share[0] += per_kernel - share.sum()
    return [(int(d), int(c)) for d, c in zip(values, share, strict=True)]


class MiniRocket(nn.Module):
    """Random-kernel features and a linear head, fitted by :meth:`fit` (no gradient).

    Args:
        config: the model's shape (:class:`MiniRocketConfig`).

    Inputs: ``x, lengths``
        - ``x``: ``(T, B, I)`` features, padded after each row's end.
        - ``lengths``: ``(B,)`` valid steps per row (default: all ``T``).

    Outputs: ``logits`` ``(B, C)``.
    """

    def __init__(self, config: MiniRocketConfig) -> None:
        super().__init__()
        self.config = c = config
        per_kernel = c.num_features // KERNELS
        self.plan = dilations(c.input_length or KERNEL_LENGTH, per_kernel, c.max_dilations)
        n = KERNELS * per_kernel
        weights = torch.from_numpy(kernels(KERNEL_LENGTH, 3))[:, None, :]  # (84, 1, 9)
        self.register_buffer("kernels", weights, persistent=False)
        self.register_buffer("channels", torch.ones(len(self.plan), KERNELS, c.input_size))
        self.register_buffer("biases", torch.zeros(n))
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        self.head = nn.Linear(n, c.num_classes)
        self.head.requires_grad_(False)

    @property
    def num_features(self) -> int:
        """F, the features the head reads."""
        return int(self.biases.numel())

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        z = (self.features(x, lengths) - self.mean) / self.std  # (B, F)
        return self.head(z)  # (B, C)

    def features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """PPV features ``(B, F)`` of ``x`` ``(T, B, I)``, before standardisation."""
        x, lengths = self._check(x, lengths)
        lengths = lengths.clamp(max=x.shape[0])
        out, pos = [], 0
        for i, (d, c) in enumerate(self.plan):
            conv = self.convolve(x, i)  # (B, 84, T)
            lo, hi = self.window(lengths, d, padded=i % 2 == 0)
            b = self.biases[pos : pos + KERNELS * c].view(KERNELS, c)
            out.append(_ppv(conv, b, lo, hi).reshape(x.shape[1], KERNELS * c))
            pos += KERNELS * c
        return torch.cat(out, dim=1)  # (B, F)

    def _check(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        lengths = check_series(x, lengths, self.config.input_size)
        valid = length_mask(lengths, x.shape[0])  # (T, B)
        return x * valid[..., None], lengths  # steps past a row's end are the zero padding

    def convolve(self, x: Tensor, i: int) -> Tensor:
        """Every kernel at the plan's ``i``-th dilation, summed over its channels:
        (T, B, I) -> (B, 84, T). Sizes are read from ``x`` and the config, not computed in
        Python, so the exported graph keeps T and B dynamic."""
        d, I, T = self.plan[i][0], self.config.input_size, x.shape[0]
        flat = x.permute(1, 2, 0).reshape(-1, 1, T)  # (B*I, 1, T)
        out = F.conv1d(flat, self.kernels, dilation=d, padding=4 * d)  # (B*I, 84, T)
        out = out.reshape(-1, I, KERNELS, T)  # (B, I, 84, T)
        if I == 1:
            return out[:, 0]
        return torch.einsum("bikt,ki->bkt", out, self.channels[i])

    @staticmethod
    def window(lengths: Tensor, d: int, padded: bool) -> tuple[Tensor, Tensor]:
        """First and past-last step ``(B,)`` counted at dilation ``d`` for rows of
        ``lengths`` (B,) valid steps: every valid step (padded), or those whose window lies
        inside the series, or every valid step where none does."""
        lo, hi = torch.zeros_like(lengths), lengths
        if padded:
            return lo, hi
        inner = hi - 4 * d > 4 * d
        return torch.where(inner, lo + 4 * d, lo), torch.where(inner, hi - 4 * d, hi)

    # ------------------------------------------------------------ fitting
    @torch.no_grad()
    def fit(
        self,
        series: list[Tensor],
        y: Tensor,
        *,
        seed: int = 0,
        batch_size: int = 64,
        sample_weight: Tensor | None = None,
    ) -> RidgeFit:
        """Fit channels, biases, standardisation and head on ``series`` (each ``(T_i, I)``)
        with class ids ``y`` ``(N,)``, each series weighted by ``sample_weight`` ``(N,)``
        in the ridge head (None: alike); returns the ridge fit (penalty, temperature,
        leave-one-out accuracy)."""
        if len(series) != len(y):
            raise ValueError(f"{len(series)} series but {len(y)} labels")
        if len(series) < 2:
            raise ValueError(f"MiniRocket needs at least 2 training series, got {len(series)}")
        gen = torch.Generator().manual_seed(seed)
        self._fit_channels(gen)
        self._fit_biases(series, gen)
        feats = self.transform(series, batch_size)  # (N, F)
        self.mean.copy_(feats.mean(0))
        self.std.copy_(feats.std(0).clamp_min(1e-6))
        z = (feats - self.mean) / self.std
        fit = fit_ridge(z, y.long(), self.config.num_classes, sample_weight=sample_weight)
        self.head.weight.copy_(fit.weight)
        self.head.bias.copy_(fit.bias)
        return fit

    @torch.no_grad()
    def transform(self, series: list[Tensor], batch_size: int = 64) -> Tensor:
        """Features ``(N, F)`` of ``series`` (each ``(T_i, I)``), batched by length."""
        order = sorted(range(len(series)), key=lambda i: len(series[i]))
        out = torch.empty(len(series), self.num_features)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = pad_sequence([series[i].float() for i in idx])  # (T, B, I)
            lengths = torch.tensor([len(series[i]) for i in idx])
            out[idx] = self.features(x.to(self.biases.device), lengths).cpu()
        return out

    def _fit_channels(self, gen: torch.Generator) -> None:
        """Each (dilation, kernel) sums ``2 ** U(0, log2(min(I, 9) + 1))`` random channels."""
        I = self.config.input_size
        if I == 1:
            return
        top = math.log2(min(I, KERNEL_LENGTH) + 1)
        mask = torch.zeros_like(self.channels)
        for i, k in itertools.product(range(len(self.plan)), range(KERNELS)):
            u = float(torch.rand((), generator=gen))
            count = min(max(int(2.0 ** (u * top)), 1), I)
            mask[i, k, torch.randperm(I, generator=gen)[:count]] = 1.0
        self.channels.copy_(mask)

    def _fit_biases(self, series: list[Tensor], gen: torch.Generator) -> None:
        """Each (dilation, kernel)'s biases: quantiles ``(j * phi) mod 1`` of its output on
        one random training series, over the steps its features count."""
        biases, q = [], 0
        for i, (d, c) in enumerate(self.plan):
            picks = torch.randint(len(series), (KERNELS,), generator=gen).tolist()
            level = torch.empty(KERNELS, c)
            for n in set(picks):
                s = series[n].float().to(self.biases.device)[:, None, :]  # (T, 1, I)
                conv = self.convolve(s, i)[0]  # (84, T)
                lo, hi = self.window(torch.tensor([len(s)]), d, i % 2 == 0)
                for k in (k for k, p in enumerate(picks) if p == n):
                    probs = torch.tensor([((q + k * c + j + 1) * _PHI) % 1.0 for j in range(c)])
                    level[k] = torch.quantile(conv[k, int(lo) : int(hi)].cpu(), probs)
            q += KERNELS * c
            biases.append(level.reshape(-1))
        self.biases.copy_(torch.cat(biases))


def _ppv(conv: Tensor, biases: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Share of steps ``lo <= t < hi`` with ``conv > bias``: conv (B, K, T), biases (K, c),
    lo/hi (B,) -> (B, K, c).

    Steps outside the window become ``-inf`` (never above a bias). Many biases: the steps
    are sorted once and each bias found by binary search (``T log T``); a few: every step
    compared with each (``c T``, reduced along the contiguous last axis). Both count the
    same steps."""
    B, K, T = conv.shape
    t = torch.arange(T, device=conv.device)
    inside = (t[None] >= lo[:, None]) & (t[None] < hi[:, None])  # (B, T)
    conv = conv.masked_fill(~inside[:, None, :], float("-inf"))
    count = (hi - lo).clamp_min(1).to(conv.dtype)[:, None, None]  # (B, 1, 1)
    c = biases.shape[1]
    if c >= _SORT_FROM:
        ordered = conv.sort(dim=-1).values  # (B, K, T)
        at_most = torch.searchsorted(ordered, biases.expand(B, K, c).contiguous(), right=True)
        return (T - at_most).to(conv.dtype) / count
    step = max(1, _CHUNK // max(1, B * K * T))
    parts = []
    for j in range(0, c, step):
        above = conv[:, :, None, :] > biases[None, :, j : j + step, None]  # (B, K, j, T)
        parts.append(above.view(torch.uint8).sum(-1, dtype=torch.int32).to(conv.dtype))
    return torch.cat(parts, dim=2) / count
