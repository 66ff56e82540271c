"""ForecastNet: the plain ``nn.Module`` behind forecasting (the user-facing object with fit /
predict / backtest is :class:`rnnkit.tasks.forecast.Forecaster`).

Input rows are ``[target, past covariates, known-future covariates]`` of the ``T`` steps
before the origin, ``x: (T, B, C + P + F)``; ``future: (K, B, F)`` holds the known-future
covariates of the K forecast steps. Four ways to produce K steps (``mode``):

- ``many_to_one``: last state -> the next value (K = 1 in training); longer forecasts slide
  the input window, appending each prediction and encoding again (the classic tutorial).
- ``direct``: last state (and the horizon's future covariates) -> all K values at once.
- ``autoregressive``: the same RNN keeps going from its state, fed its own prediction at
  each step (teacher forcing while training); with a Gaussian output it samples paths.
- ``seq2seq``: an encoder RNN's final state starts a decoder RNN that reads the horizon's
  future covariates and the step position k/K (not its own outputs).

With ``gaussian=True`` every step predicts a mean and a standard deviation (softplus) and
trains on the Gaussian negative log-likelihood; otherwise on the mean squared or the mean
absolute error (``loss``: ``mse``, the config's default, or ``mae``, the task preset's).

Instance normalisation (``norm``): each window's target columns are shifted (and scaled)
by statistics of that window alone before the network sees them, and the forecast is
shifted back (RevIN, Kim et al. 2022, without the learned affine; NLinear's last-value
subtraction). A global scaler fitted on the training rows maps a trending series'
later values outside the range the network was trained on; per-window statistics keep
every window in the same range, so a level the network never saw is carried forward::

    last:  loc = x[T-1],   s = 1          mean:  loc = mean_t x[t],  s = 1
    revin: loc = mean_t x[t],  s = sqrt(var_t x[t] + eps)
    x' = (x - loc) / s;   y_hat = net(x') * s + loc;   sigma_hat = net_sigma(x') * s
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import check_types, config_from_dict
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = ["LOSSES", "MODES", "NORMS", "ForecastNet", "ForecastOutput", "ForecasterConfig"]

MODES = ("many_to_one", "direct", "autoregressive", "seq2seq")
NORMS = ("none", "last", "mean", "revin")
LOSSES = ("mse", "mae")
_REVIN_EPS = 1e-5
_MIN_SCALE = 1e-3


@accepts_flat_keys("rnn")
@dataclass(frozen=True)
class ForecasterConfig:
    """Network hyperparameters (the model config of a forecasting run).

    The recurrent stack is ``rnn``; its keys are also taken flat
    (``ForecasterConfig(horizon=3, cell="gru", hidden_size=8)``)."""

    n_targets: int = 1
    """C, target columns."""
    n_past: int = 0
    """P, past covariate columns."""
    n_future: int = 0
    """F, known-future covariate columns (including calendar features)."""
    horizon: int = 1
    """K, steps forecast per origin."""
    mode: str = "direct"
    """many_to_one, direct, autoregressive or seq2seq (see the module doc)."""
    rnn: RecurrentSpec = RecurrentSpec(hidden_size=64)
    """The recurrent stack (cell, H, L, dropout between layers, regularisers), one direction;
    the seq2seq mode's decoder has the same spec."""
    gaussian: bool = False
    """Predict a standard deviation too (prediction intervals)."""
    norm: str = "none"
    """Instance normalisation of each window's targets: none, last, mean or revin."""
    loss: str = "mse"
    """Training loss of the point forecast: ``mse`` (the mean) or ``mae`` (L1: the median,
    what MAE and MASE score). A ``gaussian`` model trains on its Gaussian NLL instead."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.rnn.bidirectional:
            raise ValueError("`bidirectional` must be False: a forecaster reads left to right")
        for name in ("n_targets", "horizon"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {self.mode!r}")
        if self.norm not in NORMS:
            raise ValueError(f"`norm` must be one of {NORMS}, got {self.norm!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}, got {self.loss!r}")
        if self.mode in ("many_to_one", "autoregressive") and self.n_past and self.horizon > 1:
            raise ValueError(
                f"mode {self.mode!r} feeds its predictions back and cannot roll "
                f"{self.n_past} past covariate(s) forward; use mode 'direct' or 'seq2seq' "
                "(or give them as known-future covariates)"
            )

    @classmethod
    def from_dict(cls, d: dict) -> ForecasterConfig:
        """Build from a dict, nested (``{"rnn": {...}}``) or flat; unknown keys and wrong
        types are errors."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict:
        """JSON-ready, nested: ``{"rnn": {...}, "horizon": ...}``."""
        return dataclasses.asdict(self)


class ForecastOutput(NamedTuple):
    """``mean: (K, B, C)``; ``scale: (K, B, C)`` standard deviation, or None."""

    mean: Tensor
    scale: Tensor | None


class ForecastNet(nn.Module):
    """Recurrent forecaster (see the module doc for the modes).

    Inputs (``forward``):
        x: ``(T, B, C + P + F)`` history rows, scaled.
        future: ``(K, B, F)`` known-future covariates of the horizon (None when F = 0).
        y: ``(K, B, C)`` targets, used only for teacher forcing (autoregressive, training).

    Outputs:
        :class:`ForecastOutput` with ``mean`` (and ``scale``) of shape ``(K, B, C)``
        (``K = 1`` for many_to_one in training mode).
    """

    def __init__(self, config: ForecasterConfig) -> None:
        super().__init__()
        self.config = c = config
        n_in = c.n_targets + c.n_past + c.n_future
        self.encoder = c.rnn.build(n_in)
        out = c.n_targets * (2 if c.gaussian else 1)
        H, width = c.rnn.hidden_size, c.rnn.output_size  # width: P with an LSTM projection
        if c.mode == "direct":
            self.head = nn.Sequential(
                nn.Linear(width + c.horizon * c.n_future, H),
                nn.ReLU(),
                nn.Linear(H, c.horizon * out),
            )
        else:
            self.head = nn.Linear(width, out)
        if c.mode == "seq2seq":
            self.decoder = c.rnn.build(c.n_future + 1)

    # -- pieces ------------------------------------------------------------------------------
    def _split(self, raw: Tensor) -> ForecastOutput:
        """``raw: (..., C or 2C)`` -> mean and softplus scale."""
        if not self.config.gaussian:
            return ForecastOutput(raw, None)
        mean, pre = raw.chunk(2, dim=-1)  # (..., C) each
        return ForecastOutput(mean, F.softplus(pre) + _MIN_SCALE)

    def _future(self, future: Tensor | None, x: Tensor, k: int) -> Tensor:
        if future is None:
            if self.config.n_future:
                raise ValueError(
                    f"`future` covariates needed: the model expects F={self.config.n_future}"
                )
            return x.new_zeros(k, x.shape[1], 0)
        if future.shape[0] < k or future.shape[-1] != self.config.n_future:
            raise ValueError(
                f"`future` must be (K>={k}, B, F={self.config.n_future}), got {tuple(future.shape)}"
            )
        return future

    def _check(self, x: Tensor) -> None:
        c = self.config
        want = c.n_targets + c.n_past + c.n_future
        if x.dim() != 3 or x.shape[-1] != want:
            raise ValueError(
                f"`x` must be (T, B, {want}) = (T, B, C + P + F), got {tuple(x.shape)}"
            )

    def window_stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Instance-normalisation statistics of each window's targets (see ``norm``).

        Args:
            x: ``(T, B, C + P + F)`` history rows; the first C columns are the targets.

        Returns:
            ``loc, s``: ``(1, B, C)`` each; ``(x - loc) / s`` normalises, ``z * s + loc``
            inverts (``loc = 0, s = 1`` for ``norm="none"``).
        """
        c = self.config
        tgt = x[..., : c.n_targets]  # (T, B, C)
        one = torch.ones_like(tgt[-1:])  # (1, B, C)
        if c.norm == "none":
            return torch.zeros_like(one), one
        if c.norm == "last":
            return tgt[-1:], one
        loc = tgt.mean(dim=0, keepdim=True)  # (1, B, C)
        if c.norm == "mean":
            return loc, one
        var = tgt.var(dim=0, unbiased=False, keepdim=True)  # (1, B, C)
        return loc, torch.sqrt(var + _REVIN_EPS)

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self, x: Tensor, future: Tensor | None = None, y: Tensor | None = None
    ) -> ForecastOutput:
        self._check(x)
        if self.config.norm == "none":
            return self._forward(x, future, y)
        n_c = self.config.n_targets
        loc, s = self.window_stats(x)  # (1, B, C) each
        x = torch.cat([(x[..., :n_c] - loc) / s, x[..., n_c:]], dim=-1)  # (T, B, C + P + F)
        y = None if y is None else (y - loc) / s  # (K, B, C), for teacher forcing
        out = self._forward(x, future, y)
        scale = None if out.scale is None else out.scale * s
        return ForecastOutput(out.mean * s + loc, scale)

    def _forward(self, x: Tensor, future: Tensor | None, y: Tensor | None) -> ForecastOutput:
        """The network on (already normalised) rows; see :meth:`forward`."""
        c = self.config
        k = c.horizon
        future = self._future(future, x, k)
        if c.mode == "many_to_one" and self.training:
            out, _ = self.encoder(x)  # (T, B, H)
            return self._split(self.head(out[-1:]))  # (1, B, C)
        if c.mode == "many_to_one":
            return self._slide(x, future, k)
        if c.mode == "direct":
            out, _ = self.encoder(x)  # (T, B, H)
            flat = future[:k].transpose(0, 1).reshape(x.shape[1], -1)  # (K, B, F) -> (B, K*F)
            raw = self.head(torch.cat([out[-1], flat], dim=-1))  # (B, K * out)
            raw = raw.reshape(x.shape[1], k, -1).transpose(0, 1)  # (B, K, out) -> (K, B, out)
            return self._split(raw)
        if c.mode == "seq2seq":
            _, state = self.encoder(x)
            pos = torch.arange(1, k + 1, dtype=x.dtype, device=x.device) / k  # (K,)
            pos = pos[:, None, None].expand(k, x.shape[1], 1)  # (K, B, 1)
            dec, _ = self.decoder(torch.cat([future[:k], pos], dim=-1), state)  # (K, B, H)
            return self._split(self.head(dec))
        return self._autoregressive(x, future, y)

    def _slide(self, x: Tensor, future: Tensor, k: int) -> ForecastOutput:
        """many_to_one at inference: re-encode a sliding window, appending each prediction."""
        c = self.config
        means, scales = [], []
        window = x
        for step in range(k):
            out, _ = self.encoder(window)  # (T, B, H)
            pred = self._split(self.head(out[-1:]))  # (1, B, C)
            means.append(pred.mean)
            scales.append(pred.scale)
            if step + 1 < k:
                row = torch.cat([pred.mean, future[step : step + 1]], dim=-1)  # (1, B, C + F)
                window = torch.cat([window[1:], row], dim=0)  # (T, B, C + F) with n_past = 0
        mean = torch.cat(means)  # (K, B, C)
        return ForecastOutput(mean, torch.cat(scales) if c.gaussian else None)

    def _autoregressive(self, x: Tensor, future: Tensor, y: Tensor | None) -> ForecastOutput:
        c = self.config
        out, state = self.encoder(x)  # (T, B, H)
        first = self._split(self.head(out[-1:]))  # (1, B, C)
        if c.horizon == 1:
            return first
        if self.training and y is not None:
            # Teacher forcing: row k-1 of the horizon (true y, its covariates) feeds step k.
            rows = torch.cat([y[: c.horizon - 1], future[: c.horizon - 1]], dim=-1)  # (K-1, B, C+F)
            dec, _ = self.encoder(rows, state)  # (K-1, B, H)
            rest = self._split(self.head(dec))
            scale = None if not c.gaussian else torch.cat([first.scale, rest.scale])
            return ForecastOutput(torch.cat([first.mean, rest.mean]), scale)
        means, scales, pred = [first.mean], [first.scale], first
        for step in range(1, c.horizon):
            row = torch.cat([pred.mean, future[step - 1 : step]], dim=-1)  # (1, B, C + F)
            dec, state = self.encoder(row, state)  # carry the state, one step
            pred = self._split(self.head(dec))
            means.append(pred.mean)
            scales.append(pred.scale)
        return ForecastOutput(torch.cat(means), torch.cat(scales) if c.gaussian else None)

    # -- training and sampling ----------------------------------------------------------------
    def loss(self, out: ForecastOutput, y: Tensor) -> Tensor:
        """Mean squared or absolute error (``config.loss``), or Gaussian NLL; ``y: (K, B,
        C)`` (only the first ``out.mean.shape[0]`` steps are used, for many_to_one)."""
        y = y[: out.mean.shape[0]]
        if out.scale is None:
            point = F.l1_loss if self.config.loss == "mae" else F.mse_loss
            return point(out.mean, y)
        return F.gaussian_nll_loss(out.mean, y, out.scale.pow(2), full=True)

    @torch.no_grad()
    def sample_paths(
        self,
        x: Tensor,
        future: Tensor | None = None,
        *,
        samples: int = 100,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Sample ``(S, K, B, C)`` paths from a Gaussian autoregressive model, each step fed
        its own sample (so the spread grows with the horizon as errors compound)."""
        c = self.config
        if not (c.gaussian and c.mode == "autoregressive"):
            raise ValueError("sample_paths needs mode='autoregressive' and gaussian=True")
        self._check(x)
        b = x.shape[1]
        future = self._future(future, x, c.horizon)
        loc, s = self.window_stats(x)  # (1, B, C) each
        x = torch.cat([(x[..., : c.n_targets] - loc) / s, x[..., c.n_targets :]], dim=-1)
        xs = x.repeat(1, samples, 1)  # (T, S*B, I), sample-major along the batch
        fs = future.repeat(1, samples, 1)  # (K, S*B, F)
        out, state = self.encoder(xs)
        pred = self._split(self.head(out[-1:]))
        draws = []
        for step in range(c.horizon):
            noise = torch.randn(pred.mean.shape, generator=generator, dtype=x.dtype)
            draw = pred.mean + pred.scale * noise.to(x.device)  # (1, S*B, C)
            draws.append(draw)
            if step + 1 < c.horizon:
                row = torch.cat([draw, fs[step : step + 1]], dim=-1)  # (1, S*B, C + F)
                dec, state = self.encoder(row, state)
                pred = self._split(self.head(dec))
        paths = torch.cat(draws)  # (K, S*B, C)
        paths = paths.reshape(c.horizon, samples, b, -1).transpose(0, 1)  # (S, K, B, C)
        return paths * s + loc  # back from the per-window normalisation
