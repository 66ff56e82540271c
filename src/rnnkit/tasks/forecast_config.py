"""The forecasting task's config: windows and scaling, with the network's config embedded.

Every default lives in the ``default`` preset (``tasks/presets/forecast/default.yaml``);
:meth:`ForecastConfig.from_dict` lays what is given over it, so ``Forecaster()``, the CLI
and ``--help`` agree. The network's fields (horizon, mode, cell, sizes, norm, gaussian) are
declared once, by :class:`rnnkit.models.forecaster.ForecasterConfig`, embedded as ``model``;
they are also taken flat, as before::

    >>> cfg = ForecastConfig.from_dict({"input_len": 12, "horizon": 6, "hidden_size": 8})
    >>> cfg.horizon, cfg.model.rnn.hidden_size, cfg.norm
    (6, 8, 'revin')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnkit.config import check_keys, check_types, config_from_dict
from rnnkit.data.scalers import make_scaler
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.nn.spec import SPEC_KEYS
from rnnkit.tasks.flags import preset_values
from rnnkit.tasks.presets import load_preset
from rnnkit.train import TrainConfig

__all__ = ["LEVELS", "MODEL_KEYS", "ForecastConfig", "preset_sections", "train_defaults"]

LEVELS = {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600, 0.99: 2.5758}
"""Interval coverage -> the standard normal quantile z of its two-sided interval."""

MODEL_KEYS = frozenset(f.name for f in dataclasses.fields(ForecasterConfig)) | set(SPEC_KEYS)
"""Keys that belong to the network's config (also accepted flat by ForecastConfig)."""


def preset_sections(preset: str = "default") -> dict[str, dict[str, Any]]:
    """The ``model``, ``forecast``, ``data`` and ``train`` sections of a forecast preset."""
    body = load_preset("forecast", preset)
    return {k: dict(body.get(k) or {}) for k in ("model", "forecast", "data", "train")}


def train_defaults(preset: str = "default") -> dict[str, Any]:
    """The preset's ``train`` fields (laid under any ``train`` fields a user gives)."""
    return preset_sections(preset)["train"]


@dataclass(frozen=True)
class ForecastConfig:
    """Windows, scaling and network of a forecaster (the task config of a run).

    Build it with :meth:`from_dict` (defaults from the preset); ``model`` holds the
    network's fields, ``n_targets``/``n_past``/``n_future`` filled in by ``fit``.
    """

    input_len: int
    """Rows of history the network reads per forecast."""
    model: ForecasterConfig
    """The network: horizon K, mode, recurrent layer, gaussian output, instance norm."""
    level: float
    """Interval coverage: 0.8, 0.9, 0.95 or 0.99."""
    samples: int
    """Sampled paths for autoregressive Gaussian intervals."""
    scaler: str
    """minmax, standard or none; fitted on the training rows only."""
    val: float
    """Fraction of the fitted rows (the last ones) whose windows validate."""
    batch_size: int
    """Windows per batch."""
    stride: int
    """Rows between training windows."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("input_len", "batch_size", "stride", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.level not in LEVELS:
            raise ValueError(f"`level` must be one of {sorted(LEVELS)}, got {self.level}")
        if not 0.0 <= self.val < 1.0:
            raise ValueError(f"`val` must be in [0, 1), got {self.val}")
        make_scaler(self.scaler)  # validates the name

    # the network's fields most code reads, without spelling out `.model`
    horizon = property(lambda self: self.model.horizon, doc="K, rows forecast per origin.")
    mode = property(lambda self: self.model.mode, doc="The network's mode.")
    gaussian = property(lambda self: self.model.gaussian, doc="Intervals from a Gaussian head.")
    norm = property(lambda self: self.model.norm, doc="Per-window instance normalisation.")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, preset: str = "default") -> ForecastConfig:
        """``d`` laid over the preset: own fields, ``model`` (nested or a ForecasterConfig)
        and the network's keys flat (``horizon``, ``cell``, ``hidden_size`` ...).

        Unknown keys and wrong types are errors naming them.
        """
        base = preset_sections(preset)
        given = dict(d)
        flat = {k: given.pop(k) for k in list(given) if k in MODEL_KEYS}
        model = _merge_model(base["model"], given.pop("model", None), flat)
        check_keys(
            given, [f.name for f in dataclasses.fields(cls) if f.name != "model"], what=cls.__name__
        )
        return config_from_dict(cls, {**base["forecast"], **given, "model": model})

    def replace(self, **changes: Any) -> ForecastConfig:
        """A copy with fields changed; network keys (``horizon``, ``cell`` ...) go to ``model``."""
        flat = {k: changes.pop(k) for k in list(changes) if k in MODEL_KEYS}
        if flat:
            changes["model"] = _merge_model(self.model.to_dict(), None, flat)
        return dataclasses.replace(self, **changes)

    def task_dict(self) -> dict[str, Any]:
        """The fields besides ``model`` (config.json's ``forecast`` section)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the own fields and ``model`` nested."""
        return {**self.task_dict(), "model": self.model.to_dict()}


def _merge_model(
    base: Mapping[str, Any], given: ForecasterConfig | Mapping[str, Any] | None, flat: dict
) -> ForecasterConfig:
    """``base`` (flat or nested), then ``given`` (nested), then ``flat`` keys on top."""
    nested = ForecasterConfig.from_dict(dict(base)).to_dict()  # {"rnn": {...}, ...}
    if isinstance(given, ForecasterConfig):
        nested = given.to_dict()
    elif given is not None:
        if not isinstance(given, Mapping):
            raise TypeError(f"`model` must be a ForecasterConfig or a dict, got {type(given)}")
        given = dict(given)
        rnn = given.pop("rnn", None) or {}
        nested = {**nested, **given, "rnn": {**nested["rnn"], **rnn}}
    return ForecasterConfig.from_dict({**nested, **flat})


HELP_PRESET = "default"  # the preset whose values the help lines show (the verbs' default)
HELP_VALUES = preset_values(
    preset_sections(HELP_PRESET), TrainConfig, ForecasterConfig, patience="early_stopping_patience"
)


def train_config(preset: str, val: float, seed: int, **given: Any) -> TrainConfig:
    """The preset's train section under the flags given; no early stopping without ``val``."""
    train = {**preset_sections(preset)["train"], **given, "seed": seed}
    if val <= 0:
        train.pop("early_stopping_patience", None)
    return TrainConfig.from_dict(train)
