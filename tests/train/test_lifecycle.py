"""The trainer's run life cycle: lock, restore-best, signals, budgets per invocation, timed
checkpoints, a full disk, a missing device, config.json, the caller's RNGs left alone, and
the explicit TrainerState."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import rnnkit.train.checkpoint as ck
from rnnkit.train import (
    CheckpointWriteError,
    RunLockedError,
    TrainConfig,
    Trainer,
    TrainerState,
    TrainingInterrupted,
    check_device,
    load_checkpoint,
    read_run_config,
    write_run_config,
)
from rnnkit.train.metrics_log import read_metrics_csv
from rnnkit.train.step import Tally
from train_toys import Net, rising_val, step_fn, windows


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "progress": False, "log_every": 1, **kw})


@pytest.mark.parametrize("optimizer", ["adam", "ntasgd"])
def test_restore_best_loads_the_evaluated_best_weights(tmp_path, optimizer):
    train, val = rising_val()
    t = Trainer(Net(), cfg(epochs=8, lr=0.5, optimizer=optimizer, ntasgd_nonmono=1), step_fn,
                run_dir=tmp_path)  # fmt: skip
    result = t.fit(train, val, restore_best=True)
    best, meta = load_checkpoint(tmp_path, "best")
    last, _ = load_checkpoint(tmp_path, "last")
    assert meta["step"] == result["best_step"] < result["step"]
    assert all(torch.equal(v, t.model.state_dict()[k]) for k, v in best.items())
    assert not all(torch.equal(v, last[k]) for k, v in best.items())
    assert t.evaluate(val)["loss"] == pytest.approx(result["best_value"], rel=1e-6)
    # the figures of the kept (best) evaluation, beside the last one's
    assert result["best_eval"]["val_loss"] == pytest.approx(result["best_value"], rel=1e-6)
    assert result["best_eval"]["val_loss"] < result["val_loss"]


@pytest.mark.parametrize("optimizer", ["adam", "ntasgd"])
def test_restore_best_without_a_run_dir_keeps_the_best_in_memory(tmp_path, optimizer):
    """The same weights as restored from best/ of the same run written to disk."""
    train, val = rising_val()
    config = cfg(epochs=8, lr=0.5, optimizer=optimizer, ntasgd_nonmono=1)
    on_disk = Trainer(Net(), config, step_fn, run_dir=tmp_path)
    torch.manual_seed(0)
    on_disk.model.load_state_dict(Net().state_dict())
    expected = on_disk.fit(train, val, restore_best=True)
    in_memory = Trainer(Net(), config, step_fn)
    torch.manual_seed(0)
    in_memory.model.load_state_dict(Net().state_dict())
    result = in_memory.fit(train, val, restore_best=True)
    assert result["best_step"] == expected["best_step"] < result["step"]
    best = on_disk.model.state_dict()
    assert all(torch.equal(v, best[k]) for k, v in in_memory.model.state_dict().items())
    assert in_memory.evaluate(val)["loss"] == pytest.approx(result["best_value"], rel=1e-6)
    assert result["best_eval"] == pytest.approx(expected["best_eval"], rel=1e-6)


def test_evaluating_only_does_not_log_training(caplog):
    t = Trainer(Net(), cfg(), step_fn)
    with caplog.at_level("INFO", logger="rnnkit.train.trainer"):
        t.evaluate(windows(2))
    assert "training on" not in caplog.text
    with caplog.at_level("INFO", logger="rnnkit.train.trainer"):
        t.fit(windows(2))
    assert "training on cpu (fp32)" in caplog.text


def test_save_weights_writes_a_best_checkpoint_load_checkpoint_reads(tmp_path):
    from rnnkit.train import save_weights

    net = Net()
    path = save_weights(tmp_path, net, meta={"saved_by": "test"})
    assert path == tmp_path / "best" and not list(tmp_path.glob(".*tmp*"))  # no leftovers
    state, meta = load_checkpoint(tmp_path, "best")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert (meta["kind"], meta["step"], meta["saved_by"]) == ("best", None, "test")
    with pytest.raises(ValueError, match="`which` must be 'best'"):
        save_weights(tmp_path, net, which="last")


def test_without_restore_best_the_final_weights_stay(tmp_path):
    train, val = rising_val()
    t = Trainer(Net(), cfg(epochs=4, lr=0.5), step_fn, run_dir=tmp_path)
    t.fit(train, val)
    last, _ = load_checkpoint(tmp_path, "last")
    assert all(torch.equal(v, t.model.state_dict()[k]) for k, v in last.items())


def test_sigterm_in_process_saves_and_raises_then_restores_handlers(tmp_path):
    calls = {"n": 0}

    def signalling(model, batch, state):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the end of this step
        return step_fn(model, batch, state)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    t = Trainer(Net(), cfg(epochs=5), signalling, run_dir=tmp_path)
    with pytest.raises(TrainingInterrupted) as e:
        t.fit(windows(4))
    assert (e.value.signal_name, e.value.step, e.value.checkpoint) == (
        "SIGTERM",
        3,
        tmp_path / "last",
    )
    assert str(e.value) == (
        f"interrupted by SIGTERM at step 3; checkpoint saved in {tmp_path / 'last'}; "
        "continue with the same command and `--resume true`"
    )
    assert load_checkpoint(tmp_path, "last")[1]["step"] == 3
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert not (tmp_path / "run.lock").exists()
    result = Trainer(Net(), cfg(epochs=5), step_fn, run_dir=tmp_path).fit(windows(4), resume=True)
    assert result["step"] == 20


def test_a_second_ctrl_c_outside_a_save_stops_at_once(tmp_path):
    calls = {"n": 0}

    def twice(model, batch, state):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a step that hangs: the user insists
        return step_fn(model, batch, state)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="SIGINT received twice"):
        Trainer(Net(), cfg(epochs=5), twice, run_dir=tmp_path).fit(windows(4))
    assert signal.getsignal(signal.SIGINT) == before
    assert not (tmp_path / "run.lock").exists() and not (tmp_path / "last").exists()


def test_max_time_budgets_this_invocation_only(tmp_path):
    Trainer(Net(), cfg(epochs=None, max_steps=2), step_fn, run_dir=tmp_path).fit(windows(4))
    meta_path = tmp_path / "last" / "trainer.json"
    meta = json.loads(meta_path.read_text())
    meta["elapsed"] = 1000.0  # as if earlier invocations had trained for 1000 s
    meta_path.write_text(json.dumps(meta))
    t = Trainer(Net(), cfg(epochs=None, max_steps=4, max_time=100.0), step_fn, run_dir=tmp_path)
    result = t.fit(windows(4), resume=True)
    assert result["stopped"] == "max_steps" and result["step"] == 4  # not stopped at once
    assert result["elapsed"] >= 1000.0  # the total is still reported
    times = [r["time"] for r in read_metrics_csv(tmp_path / "metrics.csv") if r["step"] > 2]
    assert times and min(times) >= 1000.0


def test_checkpoint_minutes_writes_last_on_the_clock(tmp_path):
    calls = {"n": 0}

    def failing(model, batch, state):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("boom")
        return step_fn(model, batch, state)

    every_step = cfg(epochs=3, checkpoint_minutes=1e-9)  # always due after a step
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(Net(), every_step, failing, run_dir=tmp_path / "a").fit(windows(6))
    assert load_checkpoint(tmp_path / "a", "last")[1]["step"] == 3
    assert not (tmp_path / "a" / "run.lock").exists()  # released on the error too
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="boom"):
        Trainer(Net(), cfg(epochs=3), failing, run_dir=tmp_path / "b").fit(windows(6))
    assert not (tmp_path / "b" / "last").exists()  # without it: nothing before the epoch end
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        cfg(checkpoint_minutes=0.0)


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    real, calls = ck._write_file, {"n": 0}

    def full_after_first_checkpoint(path, data):
        if path.parent.name.startswith(".last.tmp-"):
            calls["n"] += 1
            if calls["n"] > 4:  # the first last/ (4 files) is written, then the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, data)

    monkeypatch.setattr(ck, "_write_file", full_after_first_checkpoint)
    t = Trainer(Net(), cfg(epochs=2, checkpoint_every=1), step_fn, run_dir=tmp_path)
    with pytest.raises(CheckpointWriteError) as e:
        t.fit(windows(4))
    last = tmp_path / "last"
    assert str(e.value) == (
        f"could not write the checkpoint {last}: [Errno 28] No space left on device; "
        f"the previous checkpoint in {last} is intact"
    )
    assert isinstance(e.value, OSError) and e.value.errno == errno.ENOSPC
    assert load_checkpoint(tmp_path, "last")[1]["step"] == 1
    assert not list(tmp_path.glob(".*tmp*")) and not (tmp_path / "run.lock").exists()


def test_missing_cuda_fails_before_the_run_directory_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    msg = "`device` cuda was asked for but torch.cuda.is_available() is False; use --device cpu"
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        check_device("cuda")
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="cuda:1 was asked for"):
        Trainer(Net(), cfg(device="cuda:1"), step_fn, run_dir=tmp_path / "run").fit(windows(1))
    assert not (tmp_path / "run").exists()


def test_a_locked_run_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "run.lock").write_text(
        json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "started": "x"})
    )
    with pytest.raises(RunLockedError, match=f"in use by process {os.getppid()}"):
        Trainer(Net(), cfg(), step_fn, run_dir=tmp_path).fit(windows(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.lock"]


def test_config_json_keeps_the_task_sections_and_is_format_2(tmp_path):
    write_run_config(tmp_path, "lm", {"model": {"hidden_size": 5}})  # the task, before fit
    (tmp_path / ".last.tmp-0123abcd").mkdir()  # an orphan from a killed writer
    Trainer(Net(), cfg(), step_fn, run_dir=tmp_path, run_config={"data": {"path": "p"}}).fit(
        windows(1)
    )
    conf = read_run_config(tmp_path)
    assert conf["format"] == 2 and conf["task"] == "lm"
    assert conf["model"] == {"hidden_size": 5} and conf["data"] == {"path": "p"}
    assert TrainConfig.from_dict(conf["train"]) == cfg()
    assert not (tmp_path / ".last.tmp-0123abcd").exists()


def global_rng_states():
    return (
        torch.get_rng_state(),
        json.dumps(np.random.get_state()[1].tolist()),  # noqa: NPY002
        random.getstate(),
    )


def test_fit_leaves_the_callers_global_rngs_alone():
    g = torch.Generator().manual_seed(3)
    ds = TensorDataset(torch.randn(8, 4, 3, generator=g), torch.randint(0, 2, (8, 4), generator=g))
    loader = DataLoader(
        ds,
        batch_size=4,
        shuffle=True,  # draws from the global torch RNG inside fit
        collate_fn=lambda items: tuple(torch.stack([i[j] for i in items], 1) for j in (0, 1)),
    )
    model = Net(p=0.5)  # dropout draws from the global torch RNG inside fit
    torch.manual_seed(11)
    np.random.seed(12)  # noqa: NPY002
    random.seed(13)
    before = global_rng_states()
    Trainer(model, cfg(epochs=2), step_fn).fit(loader)
    after = global_rng_states()
    assert torch.equal(before[0], after[0]) and before[1:] == after[1:]


def test_trainer_state_round_trip():
    State = namedtuple("State", "h c")
    rng = ck.get_rng_state()
    state = TrainerState(
        step=7,
        epoch=1,
        batch=3,
        elapsed=2.5,
        best_value=0.5,
        best_step=6,
        bad_evals=1,
        monitor_history=[0.7, 0.5],
        ntasgd_switch_step=None,
        last_eval={"val_loss": 0.5},
        last_eval_step=6,
        carry=State(torch.randn(1, 2, 3), torch.randn(1, 2, 3)),
        epoch_rng=rng,
        log_tally=Tally({"weight": 3.0, "loss": 1.5, "metrics": {"acc": 2.0}}),
    )
    js, tensors = state.to_dict()
    js = json.loads(json.dumps(js))  # the JSON part is plain JSON
    back = TrainerState.from_dict(js, tensors)
    assert back.step == 7 and back.monitor_history == [0.7, 0.5]
    assert back.last_eval == {"val_loss": 0.5} and back.log_tally.to_dict() == {
        "weight": 3.0,
        "loss": 1.5,
        "metrics": {"acc": 2.0},
    }
    assert torch.equal(back.carry.h, state.carry.h) and torch.equal(back.carry.c, state.carry.c)
    assert torch.equal(back.epoch_rng[1]["torch"], rng[1]["torch"])
    assert back.epoch_rng[0] == json.loads(json.dumps(rng[0]))
