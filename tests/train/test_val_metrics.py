"""Trainer(val_metrics=...): whole-set validation figures that pick the best checkpoint."""

from __future__ import annotations

import copy
import csv
import random

import numpy as np
import pytest
import torch

from rnnkit.train import NTASGD, TrainConfig, Trainer
from train_toys import Net, step_fn, windows


def cfg(**kw) -> TrainConfig:
    base = {"epochs": 3, "progress": False, "log_every": 1, "lr": 0.01}
    return TrainConfig(**{**base, **kw})


class Scripted:
    """A hook returning scripted figures; records how the model looked when called."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)
        self.calls: list[tuple[bool, bool]] = []

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        self.calls.append((model.training, torch.is_grad_enabled()))
        torch.rand(5)  # the hook draws from every global RNG: the trainer must not notice
        random.random()
        np.random.rand()  # noqa: NPY002 - the global RNG on purpose
        return {"score": self.scores[len(self.calls) - 1], "acc": -1.0}


def test_hook_figure_decides_best_step_and_is_logged(tmp_path):
    hook = Scripted([0.2, 0.9, 0.4])
    torch.manual_seed(0)
    t = Trainer(
        Net(), cfg(monitor="val_score", monitor_mode="max"), step_fn, tmp_path, val_metrics=hook
    )
    result = t.fit(windows(2), windows(2, seed=1))
    assert hook.calls == [(False, False)] * 3  # eval mode, no gradients, once per evaluation
    assert result["best_step"] == 4 and result["best_value"] == pytest.approx(0.9)
    assert result["val_score"] == pytest.approx(0.4) and result["val_acc"] == -1.0
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    assert [float(r["val_score"]) for r in rows] == pytest.approx([0.2, 0.9, 0.4])
    assert all("val_loss" in r and r["val_loss"] for r in rows)  # evaluate()'s figures kept
    assert t.model.training  # the hook's eval mode is undone


def test_hook_does_not_shift_training_or_resume(tmp_path):
    data, val = windows(4), windows(2, seed=1)
    torch.manual_seed(0)
    start = Net(p=0.5)  # dropout: any RNG draw by the hook would change the masks
    plain = copy.deepcopy(start)
    Trainer(plain, cfg(epochs=2, eval_every=2), step_fn, run_dir=tmp_path / "plain").fit(data, val)
    hooked = copy.deepcopy(start)
    c = cfg(epochs=2, eval_every=2, monitor="val_score", monitor_mode="max")
    hook = Scripted([0.1, 0.5, 0.3, 0.2])
    Trainer(hooked, c, step_fn, run_dir=tmp_path / "a", val_metrics=hook).fit(data, val)
    for p, q in zip(plain.parameters(), hooked.parameters(), strict=True):
        assert torch.equal(p, q)
    part = copy.deepcopy(start)
    first = Scripted([0.1, 0.5])
    Trainer(part, c.replace(max_steps=4), step_fn, run_dir=tmp_path / "b", val_metrics=first).fit(
        data, val
    )
    resumed = copy.deepcopy(start)
    rest = Scripted([0.3, 0.2])
    r = Trainer(resumed, c, step_fn, run_dir=tmp_path / "b", val_metrics=rest).fit(
        data, val, resume=True
    )
    assert r["best_step"] == 4  # the best from before the resume still stands
    assert r["best_eval"]["val_score"] == pytest.approx(0.5)  # read back from metrics.csv
    assert r["val_score"] == pytest.approx(0.2)  # the last evaluation's
    for p, q in zip(hooked.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_hook_sees_the_averaged_weights_under_ntasgd():
    t: Trainer | None = None
    rising = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # a stalling figure: NT-ASGD switches
    averaged: list[bool] = []

    def hook(model):
        assert t is not None and isinstance(t.optimizer, NTASGD)
        if t.optimizer.averaging:
            params = list(model.parameters())
            ax = [t.optimizer.state[p]["ax"] for p in params]
            averaged.append(all(torch.equal(a, p) for a, p in zip(ax, params, strict=True)))
        return {"w": next(rising)}

    torch.manual_seed(0)
    opt = {"optimizer": "ntasgd", "lr": 0.5, "ntasgd_nonmono": 1, "monitor": "val_w"}
    t = Trainer(Net(), cfg(epochs=6, **opt), step_fn, val_metrics=hook)
    t.fit(windows(2), windows(1, seed=1))
    assert t.ntasgd_switch_step is not None and t.best_step == 2
    assert averaged and all(averaged)  # after the switch the hook saw the averages


def test_bad_hooks_are_clear_errors():
    with pytest.raises(TypeError, match="val_metrics"):
        Trainer(Net(), cfg(), step_fn, val_metrics=3)  # type: ignore[arg-type]
    bad = Trainer(Net(), cfg(epochs=1), step_fn, val_metrics=lambda m: 0.5)  # type: ignore
    with pytest.raises(TypeError, match="dict of name -> number"):
        bad.fit(windows(1), windows(1))
    words = Trainer(Net(), cfg(epochs=1), step_fn, val_metrics=lambda m: {"x": "high"})
    with pytest.raises(TypeError, match="must return numbers"):
        words.fit(windows(1), windows(1))
    none = Trainer(Net(), cfg(epochs=1), step_fn, val_metrics=lambda m: None)
    assert "val_loss" in none.fit(windows(1), windows(1))  # None: nothing added


@pytest.mark.parametrize(
    "scores,budget,said",
    [
        ([0.2, 0.4, 0.9], {}, "the epochs budget ended training while val_score"),
        (
            [0.2, 0.4, 0.9],
            {"epochs": None, "max_steps": 6, "eval_every": 2},
            "a larger `max_steps` (--max-steps)",
        ),
        ([0.2, 0.9, 0.4], {}, None),  # the best came before the end: nothing to say
        ([0.9], {"epochs": 1}, None),  # one evaluation says nothing about a trend
    ],
)
def test_a_budget_that_stops_a_still_improving_run_is_said(tmp_path, caplog, scores, budget, said):
    c = cfg(monitor="val_score", monitor_mode="max", **budget)
    torch.manual_seed(0)
    with caplog.at_level("WARNING", logger="rnnkit.train.trainer"):
        Trainer(Net(), c, step_fn, tmp_path, val_metrics=Scripted(scores)).fit(
            windows(2), windows(2, seed=1)
        )
    if said is None:
        assert "still improving" not in caplog.text
    else:
        assert said in caplog.text and "still improving" in caplog.text


@pytest.mark.parametrize(
    "batches,budget,expected",
    [
        (30, {"epochs": None, "max_steps": 20}, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]),
        (2, {"epochs": None, "max_steps": 20}, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]),
        (3, {"epochs": 2, "max_steps": 40}, [3, 6]),  # an epoch no longer than the budget/10
        (30, {"epochs": 1}, [30]),  # no step budget: once an epoch
        (30, {"epochs": None, "max_steps": 20, "eval_every": 5}, [5, 10, 15, 20]),
    ],
)
def test_epochs_longer_than_a_tenth_of_the_step_budget_are_evaluated_within(
    tmp_path, batches, budget, expected
):
    import json

    torch.manual_seed(0)
    t = Trainer(Net(), cfg(**budget), step_fn, tmp_path)
    t.fit(windows(batches), windows(2, seed=1))
    assert [row["step"] for row in t.history if row.get("split") == "val"] == expected
    saved = json.loads((tmp_path / "config.json").read_text())["train"]["eval_every"]
    assert saved == budget.get("eval_every")  # the run records the setting as given
