"""A tiny training run for the kill -9 resume test (run as a subprocess).

usage: python _resume_script.py RUN_DIR {full,resume} [--kill-step N | --kill-write N |
    --signal-step N]

--kill-step N: SIGKILL itself at the N-th training batch of this process.
--kill-write N: SIGKILL itself in the middle of writing the N-th checkpoint file.
--signal-step N: at the N-th training batch, create RUN_DIR.ready and wait there until the
    test has sent a signal (SIGTERM or SIGINT); the run then exits with status 3 and the
    TrainingInterrupted message on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import rnnkit.train.checkpoint as ck
from rnnkit.train import StepOutput, TrainConfig, Trainer, TrainingInterrupted


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 6)
        self.drop = nn.Dropout(0.3)  # draws from the global RNG: resume must restore it
        self.out = nn.Linear(6, 2)

    def forward(self, x, h=None):
        y, h = self.rnn(x, h)  # y: (T, B, H)
        return self.out(self.drop(y)), h


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("mode", choices=["full", "resume"])
    p.add_argument("--kill-step", type=int, default=0)
    p.add_argument("--kill-write", type=int, default=0)
    p.add_argument("--signal-step", type=int, default=0)
    a = p.parse_args(argv)

    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, 3, generator=g)  # (N, T, I)
    y = torch.randint(0, 2, (16, 5), generator=g)
    # shuffle=True without a generator: the order comes from the global torch RNG
    train = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, drop_last=True)
    val = [(x[:4], y[:4])]
    calls = {"train": 0, "write": 0}
    trainer: list[Trainer] = []

    def step(model, batch, state):
        xb, yb = batch
        if model.training:
            calls["train"] += 1
            if calls["train"] == a.kill_step:
                os.kill(os.getpid(), signal.SIGKILL)
            if calls["train"] == a.signal_step:
                Path(a.run_dir + ".ready").touch()
                deadline = time.monotonic() + 120
                while trainer[0].stop_requested is None and time.monotonic() < deadline:
                    time.sleep(0.01)
        out, h = model(xb.transpose(0, 1), state)  # (T, B, I)
        loss = F.cross_entropy(out.flatten(0, 1), yb.transpose(0, 1).flatten())
        return StepOutput(loss, yb.numel(), h, {"err": (out.argmax(-1) != yb.T).float().mean()})

    if a.kill_write:
        real = ck._write_file

        def dying_write(path, data):
            calls["write"] += 1
            if calls["write"] == a.kill_write:
                with open(path, "wb") as f:  # half a file, then the process dies
                    f.write(data[: len(data) // 2])
                    f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)

        ck._write_file = dying_write

    torch.manual_seed(0)
    model = Net()
    cfg = TrainConfig(
        epochs=3,
        lr=0.01,
        schedule="cosine",
        warmup_steps=2,
        eval_every=3,
        checkpoint_every=2,
        log_every=1,
        seed=5,
        progress=False,
    )
    trainer.append(Trainer(model, cfg, step, run_dir=a.run_dir))
    try:
        trainer[0].fit(train, val, resume=a.mode == "resume")
    except TrainingInterrupted as e:
        print(e, file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
