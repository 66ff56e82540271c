"""rnnkit.functional.minrnn: both scans against a per-step loop from the paper's equations."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from rnnkit.functional.minrnn import g, log_g, mingru_step, minlstm_step, minrnn_scan, scan_log

KINDS = {"mingru": 2, "minlstm": 3}
NO_CC = pytest.mark.skipif(
    shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler for the C kernel"
)
METHODS = [pytest.param("linear-c", marks=NO_CC), "linear-torch", "log"]
"""Every way to run the scan: the linear scan on the C kernel and on torch ops, the log scan."""


def run_scan(method: str, kind: str, k, h0=None, valid=None):
    scan, _, backend = method.partition("-")
    return minrnn_scan(kind, k, h0, valid=valid, scan=scan, backend=backend or "auto")


def reference(kind: str, k: torch.Tensor, h0: torch.Tensor, valid=None) -> torch.Tensor:
    """The paper's equations, one step at a time, written out (k: (T, B, G·H))."""
    h, out = h0, []
    for t in range(k.size(0)):
        if kind == "mingru":
            k_z, k_h = k[t].chunk(2, -1)
            z = torch.sigmoid(k_z)
            h_tilde = torch.where(k_h >= 0, k_h + 0.5, torch.sigmoid(k_h))
            new = (1 - z) * h + z * h_tilde
        else:
            k_i, k_f, k_h = k[t].chunk(3, -1)
            i, f = torch.sigmoid(k_i), torch.sigmoid(k_f)
            h_tilde = torch.where(k_h >= 0, k_h + 0.5, torch.sigmoid(k_h))
            new = f / (f + i) * h + i / (f + i) * h_tilde
        h = new if valid is None else torch.where(valid[t], new, h)
        out.append(h)
    return torch.stack(out)


def test_g_and_log_g():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    torch.testing.assert_close(log_g(x).exp(), g(x))
    assert (g(x) > 0).all()


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("with_h0", [False, True])
def test_scan_matches_reference_float64(kind, method, with_h0):
    gen = torch.Generator().manual_seed(0)
    T, B, H = 37, 3, 5
    k = 3 * torch.randn(T, B, KINDS[kind] * H, generator=gen, dtype=torch.float64)
    h0 = torch.randn(B, H, generator=gen, dtype=torch.float64) if with_h0 else None
    ref = reference(kind, k, torch.zeros(B, H, dtype=torch.float64) if h0 is None else h0)
    torch.testing.assert_close(run_scan(method, kind, k, h0), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("method", METHODS)
def test_scan_float32_long(kind, method):
    """float32, T = 300, a negative h0: both scans within 1e-5 of a float64 loop."""
    gen = torch.Generator().manual_seed(1)
    T, B, H = 300, 4, 16
    k = torch.randn(T, B, KINDS[kind] * H, generator=gen)
    h0 = torch.randn(B, H, generator=gen)
    ref = reference(kind, k.double(), h0.double())
    out = run_scan(method, kind, k, h0)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("method", METHODS)
def test_padded_steps_carry_the_state(kind, method):
    gen = torch.Generator().manual_seed(2)
    T, B, H = 9, 3, 4
    k = torch.randn(T, B, KINDS[kind] * H, generator=gen, dtype=torch.float64)
    h0 = torch.randn(B, H, generator=gen, dtype=torch.float64)
    valid = (torch.arange(T)[:, None] < torch.tensor([9, 2, 5]))[..., None]  # (T, B, 1)
    out = run_scan(method, kind, k, h0, valid)
    torch.testing.assert_close(out, reference(kind, k, h0, valid), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[-1, 1], out[1, 1])  # row 1 stops after 2 steps


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(kind, method):
    gen = torch.Generator().manual_seed(3)
    T, B, H = 6, 2, 3
    k = torch.randn(T, B, KINDS[kind] * H, generator=gen, dtype=torch.float64)
    h0 = torch.randn(B, H, generator=gen, dtype=torch.float64)
    valid = (torch.arange(T)[:, None] < torch.tensor([6, 4]))[..., None]
    k.requires_grad_(True)
    h0.requires_grad_(True)
    for v in (None, valid):
        assert torch.autograd.gradcheck(
            lambda k, h0, v=v: run_scan(method, kind, k, h0, v), (k, h0)
        )


def test_scan_log_chunks_agree():
    gen = torch.Generator().manual_seed(4)
    log_a = -torch.rand(50, 2, 3, generator=gen, dtype=torch.float64)
    log_b = torch.randn(50, 2, 3, generator=gen, dtype=torch.float64)
    h0 = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        scan_log(log_a, log_b, h0, chunk=7), scan_log(log_a, log_b, h0, chunk=64)
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_step_is_one_scan_step(kind):
    gen = torch.Generator().manual_seed(5)
    B, I, H = 2, 3, 4
    x = torch.randn(B, I, generator=gen, dtype=torch.float64)
    w = torch.randn(KINDS[kind] * H, I, generator=gen, dtype=torch.float64)
    bias = torch.randn(KINDS[kind] * H, generator=gen, dtype=torch.float64)
    h = torch.randn(B, H, generator=gen, dtype=torch.float64)
    step = mingru_step if kind == "mingru" else minlstm_step
    k = torch.nn.functional.linear(x, w, bias)[None]  # (1, B, G·H)
    torch.testing.assert_close(step(x, h, w, bias), reference(kind, k, h)[0])


def test_errors():
    k = torch.zeros(2, 1, 4)
    with pytest.raises(ValueError, match="`kind`"):
        minrnn_scan("gru", k)
    with pytest.raises(ValueError, match="`scan`"):
        minrnn_scan("mingru", k, scan="tree")
    with pytest.raises(ValueError, match="`backend`"):
        minrnn_scan("mingru", k, backend="cuda")
