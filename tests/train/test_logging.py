"""metrics.csv rows, the progress bar, TensorBoard missing, set_epoch and shard hooks."""

from __future__ import annotations

import builtins
import logging
import time

import pytest
import torch
from torch import nn

from rnnkit.train import StepOutput, TrainConfig, Trainer, reset_state, unwrap
from rnnkit.train.distributed import DistInfo, shard
from rnnkit.train.metrics_log import MetricsLog, read_metrics_csv


def step(model, batch, state):
    x, y = batch  # x: (B, 2), y: (B, 1)
    loss = nn.functional.mse_loss(model(x), y)
    return StepOutput(loss, x.shape[0], None, {"mae": (model(x) - y).abs().mean()})


def data(n=4):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(3, 2, generator=g), torch.randn(3, 1, generator=g)) for _ in range(n)]


def test_metrics_csv_rows_and_weighted_means(tmp_path):
    t = Trainer(
        nn.Linear(2, 1), TrainConfig(epochs=1, log_every=2, progress=False), step, run_dir=tmp_path
    )
    t.fit(data(4), data(2))
    rows = read_metrics_csv(tmp_path / "metrics.csv")
    assert [(r["step"], r["split"]) for r in rows] == [(2, "train"), (4, "train"), (4, "val")]
    assert set(rows[0]) >= {"train_loss", "train_mae", "lr", "grad_norm", "items_per_s"}
    val = rows[2]
    t.model.eval()
    with torch.no_grad():  # weighted mean over the two validation batches (equal weights)
        manual = sum(step(t.model, b, None).loss.item() for b in data(2)) / 2
    assert val["val_loss"] == pytest.approx(manual, rel=1e-6)
    assert val["train_loss"] == pytest.approx((rows[0]["train_loss"] + rows[1]["train_loss"]) / 2)


def test_metrics_log_widens_header_and_truncates_on_restore(tmp_path):
    log = MetricsLog(tmp_path / "m.csv")
    log.append({"step": 1, "split": "train", "a": 1.0})
    log.append({"step": 2, "split": "val", "b": 2.5})
    with open(tmp_path / "m.csv", "a") as f:
        f.write("3,0,train,,0.")  # a torn last line
    assert [r["step"] for r in read_metrics_csv(tmp_path / "m.csv")] == [1, 2]
    again = MetricsLog(tmp_path / "m.csv")
    again.restore(upto_step=1)
    assert read_metrics_csv(tmp_path / "m.csv") == [{"step": 1, "split": "train", "a": 1.0}]


def test_progress_bar_shown_when_asked(capsys):
    def slow(model, batch, state):
        time.sleep(0.12)  # past tqdm's refresh interval, so the postfix is drawn
        return step(model, batch, state)

    Trainer(nn.Linear(2, 1), TrainConfig(epochs=1, progress=True), slow).fit(data(3))
    err = capsys.readouterr().err
    assert "epoch 0" in err and "mae" in err
    Trainer(nn.Linear(2, 1), TrainConfig(epochs=1, progress=False), step).fit(data(3))
    assert capsys.readouterr().err == ""


def test_missing_tensorboard_warns(tmp_path, monkeypatch, caplog):
    real_import = builtins.__import__

    def no_tb(name, *args, **kw):
        if name.startswith("torch.utils.tensorboard") or name == "tensorboard":
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    with caplog.at_level(logging.WARNING):
        Trainer(
            nn.Linear(2, 1),
            TrainConfig(epochs=1, tensorboard=True, progress=False),
            step,
            run_dir=tmp_path,
        ).fit(data(2))
    assert "tensorboard" in caplog.text and "not installed" in caplog.text
    assert (tmp_path / "metrics.csv").is_file()


class Stream:
    """A re-iterable stream with the set_epoch and shard hooks."""

    def __init__(self, rank=0, world=1):
        self.epochs, self.rank, self.world = [], rank, world

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def shard(self, rank, world):
        return Stream(rank, world)

    def __iter__(self):
        return iter(data(4)[self.rank :: self.world])


def test_set_epoch_called_before_each_epoch_and_shard_hook():
    s = Stream()
    Trainer(nn.Linear(2, 1), TrainConfig(epochs=3, progress=False), step).fit(s)
    assert s.epochs == [0, 1, 2]
    part = shard(s, DistInfo(rank=1, world=2, enabled=True))
    assert (part.rank, part.world) == (1, 2) and len(list(part)) == 2
    assert shard(s, DistInfo()) is s
    assert unwrap(nn.Linear(1, 1)).in_features == 1


def test_reset_mask_inside_step_fn():
    """A task resets restarted streams inside its step function."""
    rnn = nn.RNN(2, 3)
    seen = []

    def tbptt(model, batch, state):
        x, restart = batch  # x: (T, B, 2), restart: (B,)
        if state is not None:
            state = reset_state(state, restart)
        seen.append(None if state is None else state.detach().clone())
        out, h = model(x, state)
        return StepOutput(out.pow(2).mean(), x.shape[1], h)

    x = torch.randn(3, 2, 2)
    batches = [(x, torch.tensor([False, False])), (x, torch.tensor([True, False]))]
    Trainer(rnn, TrainConfig(epochs=1, progress=False), tbptt).fit(batches)
    assert torch.equal(seen[1][:, 0], torch.zeros(1, 3)) and seen[1][:, 1].abs().sum() > 0


def test_a_loader_sharded_by_torchrun_env_is_refused_outside_the_group(monkeypatch) -> None:
    """RANK/WORLD_SIZE in the environment but no process group (distributed=False): the
    loader holds half the data; training on it silently would be wrong."""
    from torch.utils.data import TensorDataset

    from rnnkit.train import distributed_loader

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    loader = distributed_loader(TensorDataset(torch.arange(10.0)), batch_size=2)
    with pytest.raises(ValueError, match="shard 1 of 2, this process is rank 0 of 1"):
        shard(loader, DistInfo())
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    single = distributed_loader(TensorDataset(torch.arange(10.0)), batch_size=2)
    assert shard(single, DistInfo()) is single  # one process, one shard: fine


def test_progress_bar_shows_the_step_rate_and_costs_nothing_when_off(monkeypatch) -> None:
    from rnnkit.train.metrics_log import ProgressBar

    calls = []
    monkeypatch.setattr(time, "monotonic", lambda: calls.append(1) or float(len(calls)))
    off = ProgressBar(False, 3, 0, "epoch 0")
    before = len(calls)
    off.update({"loss": 1.0}, 20)
    assert len(calls) == before  # no bar: not even the clock is read
    on = ProgressBar(True, 3, 0, "epoch 0")
    on.update({"loss": 1.25}, 20)  # one clock tick of 1 s since the bar was made
    assert on.bar.postfix == "loss=1.25, items/s=20"
    on.close()
