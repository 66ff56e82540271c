"""MiniRocket (the default series classifier) on onnxruntime and NumPy vs torch, float32.

PPV counts the steps where a convolution exceeds a bias, so a backend agrees with torch to
rounding unless a convolution output ties with a bias within rounding: measure-zero on
real-valued data, so the models here are fitted on and compared on random (or real) series,
never on constant stretches where the zero-sum kernels give exact ties. Ragged batches
include rows shorter than the unpadded windows (``8d`` steps), which count every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export.test_parity import TOL, _max_err, numpy_adapter, ort_adapter
from rnnkit.data.classification import read_ts_examples
from rnnkit.models.minirocket import MiniRocket, MiniRocketConfig

ONNX_TOL = 1e-4


def _err(got: torch.Tensor, ref: torch.Tensor) -> float:
    """Max abs error relative to the logits' scale (at least 1): a fitted head's logits
    reach ~100, where float32 rounding of the F-term head product alone is ~1e-5."""
    return _max_err(got, ref) / max(1.0, float(ref.abs().max()))


def _fitted(I: int, input_length: int, num_features: int = 840, seed: int = 3) -> MiniRocket:
    """A MiniRocket fitted on random ragged series, its head then drawn at random so that
    every feature moves the logits (a ridge fit on noise labels is nearly flat): one PPV
    count off by one step moves a logit by about 0.01, float32 rounding by about 1e-6."""
    gen = torch.Generator().manual_seed(seed)
    cfg = MiniRocketConfig(num_classes=3, input_size=I, input_length=input_length,
                           num_features=num_features)  # fmt: skip
    model = MiniRocket(cfg)
    sizes = torch.randint(input_length, input_length + 20, (12,), generator=gen).tolist()
    series = [torch.randn(n, I, generator=gen) for n in sizes]
    model.fit(series, torch.arange(12) % 3, seed=seed)
    F = model.num_features
    model.head.weight.copy_(torch.randn(model.head.weight.shape, generator=gen) / F**0.5)
    return model.eval()


@pytest.mark.parametrize("I", [1, 3])
def test_random_ragged_batches(tmp_path: Path, I: int) -> None:
    model = _fitted(I, input_length=80)
    assert max(d for d, _ in model.plan) >= 8  # unpadded windows of 64+ steps
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(90, 5, I, generator=gen)
    lengths = torch.tensor([90, 50, 20, 7, 1])  # the last three: shorter than 8d at d >= 3
    with torch.no_grad():
        ref = model(x, lengths)
        short = model(x[:30, 1:4], lengths[1:4].clamp(max=30))
    assert float(ref.std()) > 0.1  # the features reach the logits
    noisy = torch.where(torch.arange(90)[:, None, None] < lengths[None, :, None], x, 9.0)
    for rt, tol in ((ort_adapter(model, tmp_path / "o", "classify"), ONNX_TOL),
                    (numpy_adapter(model, tmp_path / "n", "classify"), TOL)):  # fmt: skip
        assert _err(rt(x, lengths), ref) < tol
        # batch and time are dynamic, and padding content does not matter
        assert _err(rt(x[:30, 1:4], lengths[1:4].clamp(max=30)), short) < tol
        assert _err(rt(noisy, lengths), ref) < tol


def test_one_feature_flip_would_show(tmp_path: Path) -> None:
    """The parity above is not vacuous: moving biases across the convolution outputs moves
    the logits by far more than the tolerance, and the NumPy runtime follows."""
    model = _fitted(1, input_length=30, num_features=168)
    x, lengths = torch.randn(30, 2, 1), torch.tensor([30, 30])
    with torch.no_grad():
        ref = model(x, lengths)
        model.biases[:84] = -1e6  # the first dilation's first features: every step counts
        moved = model(x, lengths)
    assert _max_err(moved, ref) > 100 * TOL
    assert _max_err(numpy_adapter(model, tmp_path / "n", "classify")(x, lengths), moved) < TOL


def test_real_basic_motions_slice(tmp_path: Path, data_dir: Path) -> None:
    """Six-channel accelerometer series (BasicMotions): fitted on 12 training series,
    compared on 4 test series cut to ragged lengths."""
    train = read_ts_examples(data_dir / "BasicMotions" / "BasicMotions_TRAIN.ts")
    test = read_ts_examples(data_dir / "BasicMotions" / "BasicMotions_TEST.ts")
    labels = sorted(set(train.labels))
    series = [torch.as_tensor(item, dtype=torch.float32) for item in train.items[::3]]
    y = torch.tensor([labels.index(v) for v in train.labels[::3]])
    model = MiniRocket(MiniRocketConfig(num_classes=4, input_size=6, input_length=100,
                                        num_features=840))  # fmt: skip
    model.fit(series, y, seed=0)
    model.eval()
    lengths = torch.tensor([100, 61, 30, 87])
    x = torch.zeros(100, 4, 6)
    for b, (item, n) in enumerate(zip(test.items[::10], lengths.tolist(), strict=True)):
        x[:n, b] = torch.as_tensor(item[:n], dtype=torch.float32)
    with torch.no_grad():
        ref = model(x, lengths)
    for rt, tol in ((ort_adapter(model, tmp_path / "o", "classify"), ONNX_TOL),
                    (numpy_adapter(model, tmp_path / "n", "classify"), TOL)):  # fmt: skip
        got = rt(x, lengths)
        assert _err(got, ref) < tol
        assert np.array_equal(got.argmax(-1).numpy(), ref.argmax(-1).numpy())


def test_numpy_bundle_describes_the_plan(tmp_path: Path) -> None:
    model = _fitted(3, input_length=30, num_features=168)
    numpy_adapter(model, tmp_path / "n", "classify")
    manifest = json.loads((tmp_path / "n" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["network"] == "MiniRocket" and manifest["layers"] == {}
    assert manifest["parts"]["plan"] == [[d, c] for d, c in model.plan]
    with np.load(tmp_path / "n" / "weights.npz") as w:
        assert set(w.files) == {"channels", "biases", "mean", "std", "head.weight", "head.bias"}
        assert np.array_equal(w["channels"], model.channels.numpy())
