"""One training run for the DDP equivalence test.

usage: python _ddp_script.py RUN_DIR               (one process, global batch 8)
       torchrun --nproc_per_node 2 _ddp_script.py RUN_DIR   (two ranks, batch 4 each)
"""

from __future__ import annotations

import logging
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from rnnkit.train import StepOutput, TrainConfig, Trainer, distributed_loader

GLOBAL_BATCH = 8


def time_major(items):
    x = torch.stack([i[0] for i in items], 1)  # (T, B, I)
    y = torch.stack([i[1] for i in items], 1)  # (T, B)
    return x, y


def step(model, batch, state):
    x, y = batch
    out, _ = model(x)
    out = out @ torch.ones(out.shape[-1], 2) / out.shape[-1]  # (T, B, 2)
    loss = F.cross_entropy(out.flatten(0, 1), y.flatten())
    return StepOutput(loss, y.numel(), None, {"acc": (out.argmax(-1) == y).float().mean()})


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    g = torch.Generator().manual_seed(2)
    ds = TensorDataset(
        torch.randn(32, 5, 3, generator=g), torch.randint(0, 2, (32, 5), generator=g)
    )
    train = distributed_loader(
        ds, GLOBAL_BATCH // world, shuffle=True, seed=3, collate_fn=time_major
    )
    val = distributed_loader(ds, GLOBAL_BATCH // world, shuffle=False, collate_fn=time_major)
    torch.manual_seed(0)
    model = nn.GRU(3, 4)
    cfg = TrainConfig(epochs=2, optimizer="sgd", lr=0.5, momentum=0.9, log_every=2, progress=False)
    Trainer(model, cfg, step, run_dir=sys.argv[1]).fit(train, val)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
