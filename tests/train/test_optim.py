"""Schedules against torch's schedulers, NT-ASGD against torch.optim.ASGD, optimizer names."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnkit.train import NTASGD, LRSchedule, TrainConfig, build_optimizer


def torch_lrs(make_sched, n: int, lr: float = 0.1) -> list[float]:
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_schedule_matches_steplr():
    s = LRSchedule(TrainConfig(lr=0.1, schedule="step", step_size=4, gamma=0.3))
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 4, 0.3), 13)
    assert [s.lr(i) for i in range(13)] == pytest.approx(ref, rel=1e-12)


def test_cosine_schedule_matches_cosineannealing():
    s = LRSchedule(TrainConfig(lr=0.1, schedule="cosine", min_lr=0.01), total_steps=10)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01), 11)
    assert [s.lr(i) for i in range(11)] == pytest.approx(ref, rel=1e-9)
    assert s.lr(50) == pytest.approx(0.01)  # stays at the floor past the end


def test_warmup_then_cosine_values_at_chosen_steps():
    s = LRSchedule(TrainConfig(lr=0.2, schedule="cosine", warmup_steps=4), total_steps=14)
    assert s.lr(0) == pytest.approx(0.05) and s.lr(2) == pytest.approx(0.15)
    assert s.lr(4) == pytest.approx(0.2)  # warm-up done, cosine starts at the top
    assert s.lr(9) == pytest.approx(0.1)  # half-way through the cosine
    assert s.lr(14) == pytest.approx(0.0, abs=1e-12)
    assert LRSchedule(TrainConfig(lr=0.2, warmup_steps=4)).lr(1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="cosine.*run length"):
        LRSchedule(TrainConfig(schedule="cosine"))


@pytest.mark.parametrize("patience", [0, 2])
def test_plateau_matches_reduce_on_plateau(patience):
    values = [5.0, 4.0, 4.5, 4.2, 3.9, 3.9, 4.0, 4.1, 3.0, 3.5, 3.6, 3.7, 3.8]
    cfg = TrainConfig(lr=1.0, schedule="plateau", plateau_factor=4.0, plateau_patience=patience)
    s = LRSchedule(cfg)
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.25, patience=patience, threshold=0.0
    )
    for v in values:
        s.on_eval(v)
        ref.step(v)
        assert s.lr(0) == pytest.approx(opt.param_groups[0]["lr"])
    assert s.reductions > 0
    s2 = LRSchedule(cfg)
    s2.load_state_dict(s.state_dict())
    assert s2.lr(0) == s.lr(0)


def test_ntasgd_matches_torch_asgd_after_switch():
    torch.manual_seed(0)
    w0 = torch.randn(4, 3)
    a, b = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    mine = NTASGD([a], lr=0.1, weight_decay=0.01)
    ref = torch.optim.ASGD([b], lr=0.1, t0=0, lambd=0.0, weight_decay=0.01)
    target = torch.randn(4, 3)
    # plain SGD before the switch: no averages kept
    for p, opt in ((a, mine),):
        opt.zero_grad()
        ((p - target) ** 2).sum().backward()
        opt.step()
    assert "ax" not in mine.state[a]
    with torch.no_grad():
        b.copy_(a)
    mine.start_averaging()  # from here on, AWD-LSTM hands over to ASGD
    for _ in range(6):
        for p, opt in ((a, mine), (b, ref)):
            opt.zero_grad()
            ((p - target) ** 2).sum().backward()
            opt.step()
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(mine.state[a]["ax"], ref.state[b]["ax"])
    with mine.averaged():
        assert torch.equal(a, mine.state[a]["ax"])
    assert torch.equal(a, b.detach()) or torch.allclose(a, b)


def test_ntasgd_trigger_rule():
    opt = NTASGD([nn.Parameter(torch.zeros(1))], nonmono=2)
    assert not opt.should_trigger([3.0, 2.0], 5.0)  # not enough history
    assert not opt.should_trigger([3.0, 2.0, 1.0, 0.5], 1.5)  # better than min of old (2.0)
    assert opt.should_trigger([3.0, 2.0, 1.0, 0.5], 2.1)
    assert opt.should_trigger([1.0, 2.0, 3.0], 0.9, mode="max")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sgd", torch.optim.SGD),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("adagrad", torch.optim.Adagrad),
        ("rmsprop", torch.optim.RMSprop),
        ("ntasgd", NTASGD),
    ],
)
def test_build_optimizer(name, cls):
    extra = {"momentum": 0.9, "nesterov": True} if name == "sgd" else {}
    opt = build_optimizer(
        [nn.Parameter(torch.zeros(2))], TrainConfig(optimizer=name, lr=0.03, **extra)
    )
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.03
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] and math.isclose(
            opt.param_groups[0]["momentum"], 0.9
        )
