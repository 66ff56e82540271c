"""The moving average of the weights (``TrainConfig.ema``): the average against
``torch.optim.swa_utils.AveragedModel`` (its EMA), what the trainer evaluates and keeps,
exact resume, and resumes that turn it on or off."""

from __future__ import annotations

import copy
import doctest
import logging

import pytest
import torch
from torch import nn

from rnnkit.train import TrainConfig, Trainer, WeightEMA, build_optimizer, load_checkpoint
from rnnkit.train import ema as ema_module
from rnnkit.train.checkpoint import load_full_checkpoint, resolve_checkpoint
from train_toys import Net, step_fn, windows


def score(model: nn.Module, batches) -> float:
    """Mean loss over ``batches`` in eval mode, the state carried as ``Trainer.evaluate``."""
    model.eval()
    total, state = 0.0, None
    with torch.no_grad():
        for b in batches:
            out = step_fn(model, b, state)
            total, state = total + out.loss.item(), out.state
    return total / len(batches)


def cfg(**kw) -> TrainConfig:
    base = {"epochs": 1, "progress": False, "log_every": 1}
    return TrainConfig(**{**base, **kw})


def warm_ema(decay: float):
    """TensorFlow's ExponentialMovingAverage(decay, num_updates) as an AveragedModel avg_fn
    (``n``: how many models are averaged in already)."""

    def avg_fn(avg: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1 + int(n)) / (10 + int(n)))
        return d * avg + (1 - d) * p

    return avg_fn


@pytest.mark.parametrize(("decay", "steps"), [(0.0, 7), (0.5, 7), (0.9, 7), (0.9, 150)])
def test_average_matches_torch_averaged_model(decay, steps):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    ref = torch.optim.swa_utils.AveragedModel(model, avg_fn=warm_ema(decay))
    opt = build_optimizer(model.parameters(), TrainConfig(lr=0.05, ema=decay))
    assert isinstance(opt, WeightEMA) and isinstance(opt.optimizer, torch.optim.Adam)
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        ref.update_parameters(model)
    iterates = [p.detach().clone() for p in model.parameters()]
    with opt.averaged():
        for p, q in zip(model.parameters(), ref.module.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)
        if decay > 0:  # the average is not the last iterate
            moved = zip(model.parameters(), iterates, strict=True)
            assert any(not torch.equal(p, w) for p, w in moved)
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), iterates, strict=True))


def test_warm_up_ends_at_the_decay_and_the_docstring_example_holds():
    w = nn.Parameter(torch.zeros(1))
    opt = WeightEMA(torch.optim.SGD([w], lr=1.0), 0.9)
    for _ in range(200):  # the iterates 1, 2, 3, ...
        w.grad = -torch.ones(1)
        opt.step()
    before = float(opt.shadow[0])
    w.grad = -torch.ones(1)
    opt.step()  # past the warm-up (n >= 80 at 0.9): avg <- 0.9 avg + 0.1 * 201
    assert float(opt.shadow[0]) == pytest.approx(0.9 * before + 0.1 * 201, rel=1e-6)
    assert 201 - float(opt.shadow[0]) == pytest.approx(9, rel=0.01)  # lag (d / (1 - d))
    result = doctest.testmod(ema_module)
    assert result.attempted > 0 and result.failed == 0


def test_no_average_before_the_first_step():
    w = nn.Parameter(torch.ones(2))
    opt = WeightEMA(torch.optim.SGD([w], lr=1.0), 0.9)
    with opt.averaged():
        assert torch.equal(w, torch.ones(2))


def test_trainer_evaluates_keeps_and_ends_with_the_average(tmp_path):
    data, val = windows(6), windows(2, seed=1)
    torch.manual_seed(0)
    model = Net()
    t = Trainer(model, cfg(epochs=2, lr=0.05, ema=0.8), step_fn, run_dir=tmp_path)
    t.fit(data, val)
    opt = t.optimizer
    assert isinstance(opt, WeightEMA) and opt.updates == 12
    # the model ends holding the average
    assert all(torch.equal(p, a) for p, a in zip(model.parameters(), opt.shadow, strict=True))
    avg = copy.deepcopy(model).eval()
    with torch.no_grad():  # move the iterates away: evaluate() must still score the average
        for p in model.parameters():
            p.add_(0.3)
    assert t.evaluate(val)["loss"] == pytest.approx(score(avg, val), rel=1e-6)
    # best/ holds the weights that scored its figure
    best, meta = load_checkpoint(tmp_path, "best")
    avg.load_state_dict(best)
    assert meta["metrics"]["val_loss"] == pytest.approx(score(avg, val), rel=1e-6)
    assert meta["metrics"]["val_loss"] == min(r["val_loss"] for r in t.history if "val_loss" in r)


def test_the_start_line_says_the_average_is_evaluated(caplog):
    """val_* figures are the average's, train_* the iterates': the log says so up front."""
    with caplog.at_level("INFO", logger="rnnkit.train.trainer"):
        Trainer(Net(), cfg(ema=0.9), step_fn).fit(windows(2))
    assert "moving average of the weights (ema 0.9)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="rnnkit.train.trainer"):
        Trainer(Net(), cfg(), step_fn).fit(windows(2))
    assert "training on cpu (fp32)" in caplog.text and "moving average" not in caplog.text


def test_last_checkpoint_holds_the_average_and_resume_is_exact(tmp_path):
    data, val = windows(4), windows(2, seed=1)
    torch.manual_seed(0)
    full = Net(p=0.3)
    start = copy.deepcopy(full)
    Trainer(full, cfg(epochs=3, lr=0.01, ema=0.7), step_fn, run_dir=tmp_path / "a").fit(data, val)
    part = copy.deepcopy(start)
    stop = cfg(epochs=3, lr=0.01, ema=0.7, max_steps=4)  # an epoch: same evals
    Trainer(part, stop, step_fn, run_dir=tmp_path / "b").fit(data, val)
    saved = load_full_checkpoint(resolve_checkpoint(tmp_path / "b", "last"))
    ema = saved["optim"]["optimizer"]["ema"]
    assert ema["updates"] == 4 and len(ema["shadow"]) == len(list(start.parameters()))
    resumed = copy.deepcopy(start)
    go_on = cfg(epochs=3, lr=0.01, ema=0.7)
    Trainer(resumed, go_on, step_fn, run_dir=tmp_path / "b").fit(data, val, resume=True)
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)  # bitwise: the iterates and the average went on as one run
    a, b = (load_checkpoint(tmp_path / d, "best")[0] for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("before, after", [(None, 0.7), (0.7, None)])
def test_resume_may_turn_the_average_on_or_off(tmp_path, caplog, before, after):
    data = windows(4)
    torch.manual_seed(0)
    model = Net()
    Trainer(model, cfg(epochs=2, ema=before, max_steps=3), step_fn, run_dir=tmp_path).fit(data)
    caplog.set_level(logging.WARNING)
    t = Trainer(model, cfg(epochs=2, ema=after), step_fn, run_dir=tmp_path)
    t.fit(data, resume=True)
    assert t.step == 8
    said = "`ema` starts from here" if after else "weight average is dropped"
    assert said in caplog.text
    if after:
        assert t.optimizer.updates == 5  # restarted at the resume


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match=r"`ema` must be in \[0, 1\).*got 1.0"):
        TrainConfig(ema=1.0)
    with pytest.raises(ValueError, match=r"`ema` must be in \[0, 1\).*got -0.1"):
        TrainConfig(ema=-0.1)
    with pytest.raises(ValueError, match="`ema` and optimizer='ntasgd'"):
        TrainConfig(ema=0.9, optimizer="ntasgd")
    with pytest.raises(ValueError, match="no weight average"):
        WeightEMA(torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1.0), 0.5).load_state_dict(
            {"state": {}, "param_groups": []}
        )
    assert TrainConfig.from_dict(TrainConfig(ema=0.99).to_dict()).ema == 0.99
