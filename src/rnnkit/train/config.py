"""``TrainConfig``: every knob of the training engine, validated on construction.

A frozen dataclass whose attribute docstrings become ``--help`` text. Unknown keys and
wrong types are errors that name the field and give expected vs got::

    >>> TrainConfig.from_dict({"epochs": 3, "lr": 0.01}).lr
    0.01
    >>> TrainConfig.from_dict({"epoch": 3})
    Traceback (most recent call last):
    ...
    ValueError: unknown TrainConfig keys ['epoch']; expected some of [...]
    unknown TrainConfig key 'epoch'; did you mean 'epochs'?
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnkit.config import check_types, config_from_dict

__all__ = [
    "DEVICES",
    "MONITOR_MODES",
    "NONFINITE_MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "TrainConfig",
]

OPTIMIZERS = ("sgd", "adam", "adamw", "adagrad", "rmsprop", "ntasgd")
SCHEDULES = ("constant", "step", "plateau", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")
MONITOR_MODES = ("min", "max")
NONFINITE_MODES = ("stop", "skip")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: length, optimizer, schedule, clipping, evaluation, precision, device."""

    epochs: int | None = 10
    """Passes over the training data; None to run on ``max_steps`` or ``max_time`` alone."""
    max_steps: int | None = None
    """Stop after this many training batches (a step budget); None for no limit."""
    max_time: float | None = None
    """Stop after this many seconds of training in this invocation (a resumed run gets the
    whole budget again); None for no limit."""

    optimizer: str = "adam"
    """One of sgd, adam, adamw, adagrad, rmsprop, ntasgd (SGD that switches to averaged SGD
    when the monitored metric stalls, as in AWD-LSTM)."""
    lr: float = 1e-3
    """Base learning rate."""
    momentum: float = 0.0
    """Momentum for sgd and rmsprop."""
    nesterov: bool = False
    """Nesterov momentum for sgd (needs ``momentum`` > 0)."""
    weight_decay: float = 0.0
    """L2 penalty (decoupled for adamw)."""
    ntasgd_nonmono: int = 5
    """ntasgd: switch to averaging when the monitored metric is worse than the best one seen
    more than this many evaluations ago."""
    ema: float | None = None
    """Keep an exponential moving average of the weights with this decay (e.g. 0.99: about
    the last 100 steps; lower during the first steps, as TensorFlow's), updated after every
    step; the average is what gets evaluated, kept as best/ and left in the model (Polyak
    averaging; Keras' ``use_ema``). None: off."""

    schedule: str = "constant"
    """Learning-rate schedule: constant, step, plateau (divide by ``plateau_factor`` when the
    monitored metric stalls) or cosine (to ``min_lr`` over the run)."""
    step_size: int = 1000
    """step schedule: multiply the rate by ``gamma`` every this many steps."""
    gamma: float = 0.1
    """step schedule: the multiplier."""
    plateau_factor: float = 4.0
    """plateau schedule: divide the rate by this when the metric has not improved for more
    than ``plateau_patience`` evaluations."""
    plateau_patience: int = 0
    """plateau schedule: evaluations without improvement tolerated before dividing."""
    warmup_steps: int = 0
    """Linear warm-up over this many steps (any schedule)."""
    min_lr: float = 0.0
    """Floor of the cosine and plateau schedules."""

    clip_norm: float | None = 1.0
    """Clip the global gradient norm to this (on by default for recurrent models); None: off."""
    clip_value: float | None = None
    """Clip every gradient element to [-clip_value, clip_value]; None: off."""

    eval_every: int | None = None
    """Evaluate every this many steps; None: at the end of each epoch, or, when an epoch is
    longer than ``max_steps // 10`` steps, every that many (see ``Trainer``)."""
    checkpoint_every: int | None = None
    """Also save the last checkpoint every this many steps (besides each evaluation)."""
    checkpoint_minutes: float | None = None
    """Also save the last checkpoint every this many minutes of training; None: off."""
    monitor: str = "val_loss"
    """Metric that picks the best checkpoint, drives early stopping, plateau and ntasgd."""
    monitor_mode: str = "min"
    """Whether a smaller (min) or larger (max) ``monitor`` is better."""
    early_stopping_patience: int | None = None
    """Stop after this many evaluations without improvement; None: never."""

    precision: str = "fp32"
    """fp32, bf16 (autocast on CPU and GPU) or fp16 (autocast with a grad scaler; CUDA only)."""
    device: str = "auto"
    """auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."""
    distributed: bool | None = None
    """Data-parallel training; None: on when launched by torchrun (RANK/WORLD_SIZE set)."""
    seed: int = 0
    """Seeds the run's python, numpy and torch RNGs (rank is added under DDP); the caller's
    global RNG states are put back after training."""
    on_nonfinite: str = "stop"
    """stop: a non-finite loss or gradient raises NonFiniteError; skip: the step is skipped
    and counted."""

    progress: bool | None = None
    """Show a progress bar; None: only when stderr is a terminal."""
    tensorboard: bool = False
    """Also write metrics to TensorBoard (needs the ``tensorboard`` package)."""
    log_every: int = 10
    """Write a training row to metrics.csv every this many steps."""

    def __post_init__(self) -> None:
        check_types(self)
        _check_values(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys and wrong types are errors."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``from_dict(to_dict())`` gives an equal config."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(choices)}, got {value!r}")


def _positive(cfg: TrainConfig, *names: str, allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is None:
            continue
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"`{name}` must be {bound}, got {value}")


def _check_values(cfg: TrainConfig) -> None:
    _one_of("optimizer", cfg.optimizer, OPTIMIZERS)
    _one_of("schedule", cfg.schedule, SCHEDULES)
    _one_of("precision", cfg.precision, PRECISIONS)
    _one_of("monitor_mode", cfg.monitor_mode, MONITOR_MODES)
    _one_of("on_nonfinite", cfg.on_nonfinite, NONFINITE_MODES)
    dev = cfg.device
    if dev not in DEVICES and not (dev.startswith("cuda:") and dev[5:].isdigit()):
        raise ValueError(f"`device` must be one of {', '.join(DEVICES)} or cuda:N, got {dev!r}")
    _positive(cfg, "epochs", "max_steps", "max_time", "lr", "step_size", "log_every")
    _positive(cfg, "eval_every", "checkpoint_every", "checkpoint_minutes", "clip_norm")
    _positive(cfg, "clip_value")
    _positive(cfg, "early_stopping_patience", "ntasgd_nonmono")
    _positive(cfg, "momentum", "weight_decay", "gamma", "min_lr", allow_zero=True)
    _positive(cfg, "warmup_steps", "plateau_patience", allow_zero=True)
    if cfg.epochs is None and cfg.max_steps is None and cfg.max_time is None:
        raise ValueError("one of `epochs`, `max_steps` or `max_time` must be set, got all None")
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum <= 0):
        raise ValueError(
            f"`nesterov` needs optimizer='sgd' and `momentum` > 0, got optimizer="
            f"{cfg.optimizer!r}, momentum={cfg.momentum}"
        )
    if cfg.ema is not None and not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"`ema` must be in [0, 1) (the weight of the old average), got {cfg.ema}")
    if cfg.ema is not None and cfg.optimizer == "ntasgd":
        raise ValueError(
            "`ema` and optimizer='ntasgd' both average the weights; choose one (ntasgd "
            "averages from its switch on, ema from the first step)"
        )
    if cfg.plateau_factor <= 1:
        raise ValueError(
            f"`plateau_factor` must be > 1 (the rate is divided by it), got {cfg.plateau_factor}"
        )
    if not cfg.monitor:
        raise ValueError("`monitor` must name a metric such as 'val_loss', got ''")
