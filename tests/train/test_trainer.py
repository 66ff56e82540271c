"""Trainer loop: TBPTT carry, clipping, schedules in the loop, NT-ASGD, early stop, budgets,
non-finite handling, bf16, determinism, run-directory rules."""

from __future__ import annotations

import copy
import math
import time

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from rnnkit.train import (
    NTASGD,
    NonFiniteError,
    StepOutput,
    TrainConfig,
    Trainer,
    load_checkpoint,
    read_run_config,
)
from train_toys import Net, rising_val, step_fn, windows


def cfg(**kw) -> TrainConfig:
    base = {"epochs": 1, "progress": False, "log_every": 1}
    return TrainConfig(**{**base, **kw})


def test_tbptt_matches_manual_detached_windows():
    data = windows(3)
    torch.manual_seed(0)
    model = Net()
    ref = copy.deepcopy(model)
    seen = []

    def spy(model, batch, state):
        seen.append(state)
        return step_fn(model, batch, state)

    Trainer(model, cfg(optimizer="sgd", lr=0.5, clip_norm=None), spy).fit(data)
    # manual TBPTT: carry h across windows, cut the graph at each boundary
    opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    h = None
    for x, y in data:
        opt.zero_grad()
        out, h_new = ref(x, h)
        F.cross_entropy(out.flatten(0, 1), y.flatten()).backward()
        opt.step()
        h = h_new.detach()
    for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6, msg=name)
    assert seen[0] is None  # reset at the start of the epoch
    assert all(s is not None and s.grad_fn is None and not s.requires_grad for s in seen[1:])
    # carrying the state matters: a run that drops it ends elsewhere
    torch.manual_seed(0)
    fresh = Net()
    Trainer(
        fresh, cfg(optimizer="sgd", lr=0.5, clip_norm=None), lambda m, b, s: step_fn(m, b, None)
    ).fit(data)
    assert not torch.allclose(fresh.out.weight, model.out.weight)


def test_state_reset_each_epoch_and_carried_in_evaluate():
    data = windows(2)
    states = []

    def spy(model, batch, state):
        states.append((model.training, state is None))
        return step_fn(model, batch, state)

    t = Trainer(Net(), cfg(epochs=2, optimizer="sgd"), spy)
    t.fit(data)
    assert states == [(True, True), (True, False)] * 2
    states.clear()
    t.evaluate(data)
    assert states == [(False, True), (False, False)]


def test_clip_norm_logs_preclip_norm_and_clips():
    data = windows(1)
    torch.manual_seed(0)
    model = Net()
    ref = copy.deepcopy(model)
    big = lambda m, b, s: StepOutput(step_fn(m, b, s).loss * 100.0, 12, None)  # noqa: E731
    t = Trainer(model, cfg(optimizer="sgd", lr=1.0, clip_norm=0.5), big)
    t.fit(data)
    before = [p.detach().clone() for p in ref.parameters()]
    big(ref, data[0], None).loss.backward()
    expected = torch.nn.utils.clip_grad_norm_(list(ref.parameters()), 0.5)
    assert t.history[0]["grad_norm"] == float(expected) > 0.5
    update = torch.cat([(b - p).flatten() for b, p in zip(before, model.parameters(), strict=True)])
    assert update.norm() <= 0.5 + 1e-5  # SGD lr=1: the update is the clipped gradient


def test_clip_value_bounds_every_element():
    torch.manual_seed(0)
    model = Net()
    before = [p.detach().clone() for p in model.parameters()]
    big = lambda m, b, s: StepOutput(step_fn(m, b, s).loss * 100.0, 12, None)  # noqa: E731
    Trainer(model, cfg(optimizer="sgd", lr=1.0, clip_norm=None, clip_value=0.01), big).fit(
        windows(1)
    )
    deltas = torch.cat([(b - p).flatten() for b, p in zip(before, model.parameters(), strict=True)])
    assert deltas.abs().max() <= 0.01 + 1e-7
    assert deltas.abs().max() > 0.009  # the gradient was really clipped, not just small


def test_schedule_applied_in_loop():
    t = Trainer(
        Net(),
        cfg(
            epochs=2,
            schedule="step",
            step_size=3,
            gamma=0.5,
            lr=0.1,
            warmup_steps=2,
            optimizer="sgd",
        ),
        step_fn,
    )
    t.fit(windows(4))
    lrs = [r["lr"] for r in t.history if r["split"] == "train"]
    assert lrs == [t.schedule.lr(s) for s in range(8)]
    assert lrs[0] == pytest.approx(0.05) and lrs[3] == pytest.approx(0.05)


def test_early_stopping_stops_after_patience(tmp_path):
    train, val = rising_val()
    t = Trainer(
        Net(), cfg(epochs=50, lr=0.05, early_stopping_patience=2), step_fn, run_dir=tmp_path
    )
    result = t.fit(train, val)
    vals = [r["val_loss"] for r in t.history if r["split"] == "val"]
    assert result["stopped"] == "early_stopping"
    best = min(range(len(vals)), key=vals.__getitem__)
    assert len(vals) == best + 3  # best, then two without improvement
    assert result["best_value"] == vals[best]
    _, meta = load_checkpoint(tmp_path, "best")
    assert meta["metrics"]["val_loss"] == vals[best]


def test_ntasgd_switches_when_validation_stalls_and_evaluates_average():
    train, val = rising_val()
    torch.manual_seed(0)
    model = Net()
    t = Trainer(model, cfg(epochs=8, optimizer="ntasgd", lr=0.5, ntasgd_nonmono=2), step_fn)
    t.fit(train, val)
    vals = [r["val_loss"] for r in t.history if r["split"] == "val"]
    # AWD-LSTM's rule: switch at the first eval worse than the best of those > n evals ago
    first = next(i for i in range(len(vals)) if i > 2 and vals[i] > min(vals[: i - 2]))
    assert t.ntasgd_switch_step == first + 1 and isinstance(t.optimizer, NTASGD)
    assert t.optimizer.averaging
    # after fit the model holds the averages; evaluate() must agree with a manual eval
    ax = [t.optimizer.state[p]["ax"].clone() for p in model.parameters()]
    assert all(torch.equal(a, p) for a, p in zip(ax, model.parameters(), strict=True))
    raw = copy.deepcopy(model)  # put raw (non-averaged) weights back and evaluate again
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3)
    ev = t.evaluate(val)["loss"]
    with torch.no_grad():
        manual = step_fn(raw.eval(), val[0], None).loss.item()
    assert ev == pytest.approx(manual, rel=1e-6)


def test_max_steps_budget():
    t = Trainer(Net(), cfg(epochs=None, max_steps=5), step_fn)
    result = t.fit(windows(3))
    assert result["stopped"] == "max_steps" and t.step == 5 and t.epoch == 1 and t.batch == 2


def test_max_time_budget():
    def slow(m, b, s):
        time.sleep(0.02)
        return step_fn(m, b, s)

    start = time.monotonic()
    result = Trainer(Net(), cfg(epochs=10_000, max_time=0.2), slow).fit(windows(2))
    assert result["stopped"] == "max_time"
    assert 0.2 <= time.monotonic() - start < 5


def nan_at(k: int, where: str = "loss"):
    calls = {"n": 0}

    def fn(model, batch, state):
        out = step_fn(model, batch, state)
        if model.training:
            calls["n"] += 1
            if calls["n"] == k:
                if where == "loss":
                    return out._replace(loss=out.loss * float("nan"))
                model.out.weight.register_hook(lambda g: g * float("inf"))
        return out

    return fn


def test_nonfinite_loss_stops_naming_step_and_keeps_checkpoint(tmp_path):
    t = Trainer(Net(), cfg(epochs=3, checkpoint_every=2), nan_at(5), run_dir=tmp_path)
    with pytest.raises(NonFiniteError, match=r"non-finite loss .* at step 5 \(epoch 1, batch 0\)"):
        t.fit(windows(4))
    sd, meta = load_checkpoint(tmp_path, "last")
    assert meta["step"] == 4 and all(torch.isfinite(v).all() for v in sd.values())


def test_nonfinite_gradient_stops():
    t = Trainer(Net(), cfg(epochs=1, clip_norm=None), nan_at(2, "grad"))
    with pytest.raises(NonFiniteError, match="gradient norm .* at step 2"):
        t.fit(windows(3))


def test_nonfinite_skip_mode_counts_and_leaves_weights():
    data = windows(3)
    torch.manual_seed(0)
    model = Net()
    ref = copy.deepcopy(model)
    t = Trainer(model, cfg(optimizer="sgd", lr=0.1, on_nonfinite="skip"), nan_at(2))
    result = t.fit(data)
    assert result["nonfinite_skipped"] == 1 and t.step == 3
    assert [r["nonfinite_skipped"] for r in t.history] == [0, 1, 1]
    # same as training on batches 0 and 2 only (state reset after the skipped one)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for i in (0, 2):
        opt.zero_grad()
        step_fn(ref, data[i], None).loss.backward()  # batch 1 skipped: no state carried
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_bf16_autocast_runs_on_cpu(monkeypatch):
    monkeypatch.setattr("rnnkit.train.device.cpu_bf16_supported", lambda: True)  # any CPU
    seen = []

    def fn(model, batch, state):
        out = step_fn(model, batch, state)
        seen.append(
            (torch.is_autocast_enabled("cpu"), model.out(batch[0][..., :0].new_zeros(1, 5)).dtype)
        )
        return out

    torch.manual_seed(0)
    model = Net()
    before = model.out.weight.detach().clone()
    result = Trainer(model, cfg(precision="bf16"), fn).fit(windows(2), windows(1, seed=1))
    assert seen and all(on and dt == torch.bfloat16 for on, dt in seen)
    assert math.isfinite(result["val_loss"]) and model.out.weight.dtype == torch.float32
    assert not torch.equal(before, model.out.weight)


def test_bf16_on_a_cpu_without_bf16_stays_fp32_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr("rnnkit.train.device.cpu_bf16_supported", lambda: False)
    trainer = Trainer(Net(), cfg(precision="bf16", device="cpu"), step_fn)
    with caplog.at_level("WARNING", logger="rnnkit.train.device"):
        trainer.fit(windows(1))
    assert trainer.config.precision == "fp32"
    assert "no native bfloat16" in caplog.text and "fp32 instead" in caplog.text


def test_fp16_refused_on_cpu():
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        Trainer(Net(), cfg(precision="fp16", device="cpu"), step_fn).fit(windows(1))


def shuffled_loader():
    g = torch.Generator().manual_seed(3)
    ds = TensorDataset(
        torch.randn(12, 4, 3, generator=g), torch.randint(0, 2, (12, 4), generator=g)
    )
    return DataLoader(
        ds,
        batch_size=4,
        shuffle=True,
        collate_fn=lambda items: (
            torch.stack([i[0] for i in items], 1),
            torch.stack([i[1] for i in items], 1),
        ),
    )


@pytest.mark.parametrize("seeds", [(7, 7, True), (7, 8, False)])
def test_one_seed_makes_a_run_repeatable(seeds):
    a, b, same = seeds
    runs = []
    for seed in (a, b):
        torch.manual_seed(0)  # the model's init; the trainer seeds dropout and shuffling
        model = Net(p=0.5)
        Trainer(model, cfg(epochs=2, seed=seed), step_fn).fit(shuffled_loader())
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1]) is same


def test_run_dir_contents_and_refuses_to_overwrite(tmp_path):
    t = Trainer(
        Net(),
        cfg(epochs=2, tensorboard=True),
        step_fn,
        run_dir=tmp_path,
        run_config={"model": {"hidden": 5}},
    )
    t.fit(windows(2), windows(1, seed=1))
    for name in (
        "config.json",
        "metrics.csv",
        "loss.png",
        "last/model.safetensors",
        "last/optimizer.pt",
        "last/trainer.json",
        "best/model.safetensors",
    ):
        assert (tmp_path / name).is_file(), name
    conf = read_run_config(tmp_path)
    assert conf["model"] == {"hidden": 5} and TrainConfig.from_dict(conf["train"]) == t.config
    sd, meta = load_checkpoint(tmp_path, "last")
    fresh = Net()
    fresh.load_state_dict(sd)
    assert meta["step"] == 4 and torch.equal(fresh.out.weight, t.model.out.weight)
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(FileExistsError, match="--resume true"):
        Trainer(Net(), cfg(), step_fn, run_dir=tmp_path).fit(windows(1))


def test_resume_in_process_continues_to_same_weights(tmp_path, caplog):
    data = windows(4)
    torch.manual_seed(0)
    full = Net(p=0.3)
    start = copy.deepcopy(full)
    Trainer(full, cfg(epochs=2, lr=0.01), step_fn, run_dir=tmp_path / "a").fit(data)
    part = copy.deepcopy(start)
    Trainer(part, cfg(epochs=2, lr=0.01, max_steps=3), step_fn, run_dir=tmp_path / "b").fit(data)
    resumed = copy.deepcopy(start)
    Trainer(resumed, cfg(epochs=2, lr=0.01), step_fn, run_dir=tmp_path / "b").fit(data, resume=True)
    assert "max_steps" in caplog.text  # the budget changed on resume: said, and recorded
    assert read_run_config(tmp_path / "b")["train"]["max_steps"] is None
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_bad_step_output_and_empty_data():
    bad = Trainer(Net(), cfg(), lambda m, b, s: 1.0)
    with pytest.raises(TypeError, match="StepOutput"):
        bad.fit(windows(1))
    with pytest.raises(ValueError, match="no batches"):
        Trainer(Net(), cfg(), step_fn).fit([])
    with pytest.raises(KeyError, match="monitor"):
        Trainer(Net(), cfg(monitor="val_bleu"), step_fn).fit(windows(1), windows(1))
