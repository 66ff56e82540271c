"""CUDA paths: fp16 with a grad scaler, bf16 autocast, resume on the GPU (skipped without)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.train import StepOutput, TrainConfig, Trainer, load_checkpoint


def step(model, batch, state):
    x, y = batch  # x: (T, B, 3), y: (T, B)
    out, h = model[0](x, state)
    logits = model[1](out)  # (T, B, 2)
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    return StepOutput(loss, y.numel(), h, {"dtype16": float(logits.dtype != torch.float32)})


def data():
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(4, 3, 3, generator=g), torch.randint(0, 2, (4, 3), generator=g))
        for _ in range(4)
    ]


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_on_cuda(precision, tmp_path):
    model = nn.ModuleList([nn.LSTM(3, 8), nn.Linear(8, 2)])
    t = Trainer(
        model,
        TrainConfig(epochs=2, device="cuda", precision=precision, log_every=1, progress=False),
        step,
        run_dir=tmp_path,
    )
    result = t.fit(data(), data()[:1])
    assert t.device.type == "cuda" and next(model.parameters()).is_cuda
    assert all(r["train_dtype16"] == 1.0 for r in t.history if r["split"] == "train")
    assert (t.scaler is not None) == (precision == "fp16")
    assert result["val_loss"] == result["val_loss"]  # finite, not NaN
    sd, _ = load_checkpoint(tmp_path, "last")
    assert all(v.device.type == "cpu" for v in sd.values())
    again = nn.ModuleList([nn.LSTM(3, 8), nn.Linear(8, 2)])
    resumed = Trainer(
        again,
        TrainConfig(epochs=3, device="cuda", precision=precision, log_every=1, progress=False),
        step,
        run_dir=tmp_path,
    )
    assert resumed.fit(data(), data()[:1], resume=True)["step"] == 12
