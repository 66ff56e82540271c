"""The one run life cycle (rnnkit.tasks.run.TaskRun) on a toy task: what every task inherits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rnnkit.tasks.run import TaskRun, load_weights, read_artifact
from rnnkit.train import StepOutput, TrainConfig
from rnnkit.train.metrics_log import read_metrics_csv


class Scale:
    """A toy artifact: one fitted number."""

    def __init__(self, value: float) -> None:
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value}


class Toy(TaskRun):
    task = "toy"

    def __init__(self, hidden: int = 4, scale: float = 2.0) -> None:
        self.hidden = hidden
        self.scale = Scale(scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def sections(self) -> dict[str, Any]:
        return {"model": {"hidden": self.hidden}, "data": {"n": 32}}

    def artifacts(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        x, y = batch
        loss = ((model(x).squeeze(-1) - y) ** 2).mean()
        return StepOutput(loss, len(y), None, {})

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> Toy:
        scale = read_artifact(run_dir, "scale")["value"]
        return cls(config["model"]["hidden"], scale)


def _data() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=g)
    y = x.sum(-1)
    return [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]


def _cfg(**kw: Any) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "optimizer": "adam", "lr": 1e-2, "progress": False, **kw})


@pytest.mark.parametrize("with_dir", [True, False])
def test_fit_reports_the_validation_figures_of_the_weights_it_keeps(
    tmp_path: Path, with_dir: bool
) -> None:
    """Validation that worsens as training goes on: the best is the first evaluation, the
    model keeps it, and the figures fit_run returns are its, not the last evaluation's."""
    opposite = [(x, -y) for x, y in _data()]  # what training learns makes this one worse
    run = tmp_path / "run" if with_dir else None
    toy = Toy()
    result = toy.fit_run(run, _cfg(epochs=4, lr=5e-2), _data(), opposite)
    assert result["best_step"] == 4 < result["step"] == 16  # 4 batches an epoch
    assert result["val_loss"] == pytest.approx(result["best_value"], rel=1e-6)
    with torch.no_grad():  # the kept weights give that loss
        kept = sum(float(toy.step(toy.model, b, None).loss) for b in opposite) / len(opposite)
    assert kept == pytest.approx(result["val_loss"], rel=1e-5)
    if with_dir:
        rows = [r for r in read_metrics_csv(run / "metrics.csv") if r["split"] == "val"]
        assert rows[-1]["val_loss"] > result["val_loss"]  # the last evaluation was worse


def test_fit_writes_one_format_and_load_restores_the_best(tmp_path: Path) -> None:
    run = tmp_path / "run"
    toy = Toy()
    result = toy.fit_run(run, _cfg(), _data(), _data())
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "toy" and config["format"] >= 2
    assert config["model"] == {"hidden": 4} and "train" in config
    assert json.loads((run / "scale.json").read_text()) == {"value": 2.0}
    assert not (run / "run.lock").exists()  # released after fit
    loaded = Toy.load(run)
    assert loaded.scale.value == 2.0 and loaded.run_dir == run
    for a, b in zip(loaded.model.parameters(), toy.model.parameters(), strict=True):
        assert torch.equal(a, b)  # fit left the best weights in the model, as load does
    assert result["best_step"] is not None


def test_a_used_run_dir_is_refused_with_the_cli_spelling(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Toy().fit_run(run, _cfg(epochs=1), _data(), _data())
    with pytest.raises(FileExistsError, match=r"--resume true"):
        Toy().fit_run(run, _cfg(epochs=1), _data(), _data())


def test_resume_with_changed_model_settings_is_refused_naming_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Toy().fit_run(run, _cfg(epochs=1), _data(), _data())
    weights = (run / "last" / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match=r"model\.hidden") as err:
        Toy(hidden=5).fit_run(run, _cfg(epochs=2), _data(), _data(), resume=True)
    assert "\n" not in str(err.value)
    assert (run / "last" / "model.safetensors").read_bytes() == weights  # nothing was done
    Toy().fit_run(run, _cfg(epochs=2), _data(), _data(), resume=True)  # same model: fine


def test_load_refuses_another_task_and_mismatched_weights(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Toy().fit_run(run, _cfg(epochs=1), _data(), _data())
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "model": {"hidden": 6}}))
    with pytest.raises(ValueError, match="do not match the network"):
        Toy.load(run)
    (run / "config.json").write_text(json.dumps({**config, "task": "lm"}))
    with pytest.raises(ValueError, match="is a 'lm' run"):
        Toy.load(run)
    with pytest.raises(FileNotFoundError, match="--run"):
        Toy.load(tmp_path / "nowhere")


def test_cuda_without_cuda_leaves_no_run_dir(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the check is for machines without")
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="cuda"):
        Toy().fit_run(run, _cfg(device="cuda"), _data(), _data())
    assert not run.exists()


def test_load_weights_reports_mismatches_in_one_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Toy().fit_run(run, _cfg(epochs=1), _data(), None)
    with pytest.raises(ValueError) as err:
        load_weights(Toy(hidden=7).model, run, "last")
    assert "shapes differ" in str(err.value) and "\n" not in str(err.value)
