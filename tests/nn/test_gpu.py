"""On CUDA: the cuDNN fused path vs the scan path, outputs and gradients (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from rnnkit.nn import GRU, LSTM, RNN

T, B, I, H = 7, 4, 5, 8


@pytest.mark.gpu
@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (LSTM, dict(num_layers=2, bidirectional=True)),
        (LSTM, dict(num_layers=2, proj_size=3, batch_first=True)),
        (GRU, dict(num_layers=3, bidirectional=True)),
        (RNN, dict(num_layers=2, nonlinearity="relu")),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_cudnn_fused_matches_scan(cls, kwargs, dtype):
    torch.manual_seed(0)
    fused = cls(I, H, impl="fused", device="cuda", dtype=dtype, **kwargs)
    scan = cls(I, H, impl="scan", device="cuda", dtype=dtype, **kwargs)
    scan.load_state_dict(fused.state_dict())
    shape = (B, T, I) if kwargs.get("batch_first") else (T, B, I)
    x = torch.randn(shape, device="cuda", dtype=dtype)
    lengths = torch.tensor([T, 3, 5, 1])
    tol = 1e-10 if dtype == torch.float64 else 1e-4  # float32: cuDNN sums in another order
    results = []
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # TF32 would cost ~1e-3
        for layer in (fused, scan):
            out, state = layer(x, lengths=lengths)
            states = list(state) if isinstance(state, tuple) else [state]
            (out.square().sum() + sum(s.square().sum() for s in states)).backward()
            results.append([out, *states, *(p.grad for p in layer.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, atol=tol, rtol=tol)
