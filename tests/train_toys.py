"""The toy recurrent model and data the training-engine tests share (tests/ is on the
test path: ``from train_toys import Net, step_fn, windows, rising_val``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.train import StepOutput


class Net(nn.Module):
    """GRU + dropout + linear head; forward(x: (T, B, 3), h) -> ((T, B, 2), h)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 5)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(5, 2)

    def forward(self, x, h=None):
        y, h = self.rnn(x, h)
        return self.out(self.drop(y)), h


def step_fn(model, batch, state):
    x, y = batch  # x: (T, B, 3), y: (T, B)
    out, h = model(x, state)
    loss = F.cross_entropy(out.flatten(0, 1), y.flatten())
    return StepOutput(loss, y.numel(), h, {"acc": (out.argmax(-1) == y).float().mean()})


def windows(n: int = 4, seed: int = 0, t: int = 4, b: int = 3):
    """``n`` random batches ``(x (t, b, 3), y (t, b))`` from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(t, b, 3, generator=g), torch.randint(0, 2, (t, b), generator=g))
        for _ in range(n)
    ]


def rising_val():
    """Train on y = 0, validate on y = 1: validation loss rises as training goes on."""
    x = torch.randn(4, 3, 3, generator=torch.Generator().manual_seed(0))
    train = [(x, torch.zeros(4, 3, dtype=torch.long))]
    val = [(x, torch.ones(4, 3, dtype=torch.long))]
    return train, val
