"""Forecaster persistence outside training: ``Forecaster.save``, and runs of the older layout.

Before the one run life cycle a forecasting run held ``forecast.json`` (format
``rnnkit.forecast/1``: the task config, the network config, the train config, column names,
scalers and, from the CLI, the data source, period and first test row) and
``forecaster.safetensors`` (the best weights), beside the trainer's files;
``Forecaster.save`` wrote just those two. :func:`load_legacy` reads either. A run of the
present layout keeps its configs in ``config.json`` and its weights in ``best/`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rnnkit.data.forecast_scaling import LEGACY_FORMAT, SeriesScaling
from rnnkit.models.forecaster import ForecastNet
from rnnkit.tasks.forecast_config import MODEL_KEYS, ForecastConfig
from rnnkit.train import TrainConfig
from rnnkit.train.checkpoint import atomic_write_json, read_json

if TYPE_CHECKING:
    from rnnkit.tasks.forecaster import Forecaster

__all__ = ["LEGACY_WEIGHTS", "is_legacy", "load_legacy", "save_run"]

F = TypeVar("F", bound="Forecaster")

LEGACY_WEIGHTS = "forecaster.safetensors"


def is_legacy(run: Path) -> bool:
    """Whether ``run`` was written by the older layout (``forecast.json`` format 1)."""
    path = run / "forecast.json"
    return path.is_file() and read_json(path).get("format") == LEGACY_FORMAT


def load_legacy(cls: type[F], run: Path, *, weights: bool) -> F:
    """The forecaster of an older-layout directory (with its weights when ``weights``)."""
    meta = read_json(run / "forecast.json")
    if meta.get("format") != LEGACY_FORMAT:
        raise ValueError(
            f"{run / 'forecast.json'}: `format` must be {LEGACY_FORMAT!r} for a run of the "
            f"older layout, got {meta.get('format')!r}"
        )
    # Runs saved before instance normalisation existed were trained without it.
    net = {**meta["net"], "norm": meta["net"].get("norm", "none")}
    own = {k: v for k, v in meta["forecast"].items() if k not in MODEL_KEYS}
    cfg = ForecastConfig.from_dict({**own, "model": net})
    fc = cls(cfg, train=TrainConfig.from_dict(meta["train"]))
    fc.scaling = SeriesScaling.from_dict(meta)
    fc.data = {k: meta[k] for k in ("source", "period", "test_start") if meta.get(k) is not None}
    fc.model = ForecastNet(cfg.model)
    if weights:
        from safetensors.torch import load_file

        path = run / LEGACY_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; the run directory is incomplete")
        try:
            fc.model.load_state_dict(load_file(path))
        except RuntimeError as err:
            first = str(err).strip().splitlines()[-1].strip()
            raise ValueError(
                f"the weights in {path} do not match the network forecast.json describes ({first})"
            ) from None
        fc.model.eval()
        fc.run_dir = run
    return fc


def save_run(fc: Forecaster, run: Path) -> Path:
    """Write ``fc`` (fitted) into ``run``: config.json, forecast.json, ``best/`` weights.

    A forecaster trained into ``run`` has its weights there already; only config.json
    (its ``data`` section may have grown) and forecast.json are written again.
    """
    from rnnkit.train import RunLock, save_weights, write_run_config

    assert fc.model is not None and fc.scaling is not None
    with RunLock(run):
        write_run_config(run, fc.task, {**fc.sections(), "train": fc.train_config.to_dict()})
        path = atomic_write_json(run / "forecast.json", fc.scaling.to_dict())
        if fc.run_dir is None or fc.run_dir.resolve() != run.resolve():
            save_weights(run, fc.model, meta={"saved_by": "Forecaster.save"})
    return path
