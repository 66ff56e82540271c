"""The fused minGRU/minLSTM C kernel: same function and gradients as torch ops, built safely."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import threading
import time
import warnings

import pytest
import torch

from rnnkit.functional import _ckernel, minrnn
from rnnkit.functional.minrnn import minrnn_layer, minrnn_scan

KINDS = {"mingru": 2, "minlstm": 3}
HAVE_CC = shutil.which(os.environ.get("CC") or "cc") is not None
pytestmark = pytest.mark.skipif(not HAVE_CC, reason="no C compiler: the C kernel cannot be built")


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """A kernel cache of its own, and load() forgotten before and after."""
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    _ckernel.load.cache_clear()
    yield tmp_path
    _ckernel.load.cache_clear()


def inputs(kind, dtype, *, T=23, B=4, I=5, H=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=gen, dtype=dtype)
    w = 2 * torch.randn(KINDS[kind] * H, I, generator=gen, dtype=dtype)
    b = torch.randn(KINDS[kind] * H, generator=gen, dtype=dtype)
    h0 = torch.randn(B, H, generator=gen, dtype=dtype)
    valid = (torch.arange(T)[:, None] < torch.tensor([T, 3, T - 5, 1]))[..., None]  # (T, B, 1)
    return x, w, b, h0, valid


def outputs_and_grads(kind, backend, x, w, b, h0, valid):
    """h, and the gradients of a random projection of h with respect to x, w, b, h0."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, w, b, h0)]
    h = minrnn_layer(kind, *leaves, valid=valid, backend=backend)
    probe = torch.randn(h.shape, generator=torch.Generator().manual_seed(9), dtype=h.dtype)
    grads = torch.autograd.grad((h * probe).sum(), leaves)
    return (h, *grads)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("block_rows", [2048, 9])
def test_c_layer_equals_torch_ops(kind, dtype, masked, block_rows, monkeypatch):
    """Output and every gradient (x, W, b, h0), one block or many blocks of steps."""
    monkeypatch.setattr(minrnn, "BLOCK_ROWS", block_rows)  # 9 rows / B = 4 -> 2 steps a block
    x, w, b, h0, valid = inputs(kind, dtype)
    valid = valid if masked else None
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {}
    got = outputs_and_grads(kind, "c", x, w, b, h0, valid)
    want = outputs_and_grads(kind, "torch", x, w, b, h0, valid)
    for name, g, r in zip(("h", "dx", "dW", "db", "dh0"), got, want, strict=True):
        torch.testing.assert_close(g, r, **tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_c_layer_gradcheck(kind, monkeypatch):
    monkeypatch.setattr(minrnn, "BLOCK_ROWS", 5)  # B = 4: one step a block
    x, w, b, h0, valid = inputs(kind, torch.float64, T=5, I=2, H=3)
    leaves = tuple(t.requires_grad_(True) for t in (x, w, b, h0))
    for v in (None, valid):
        assert torch.autograd.gradcheck(
            lambda *ts, v=v: minrnn_layer(kind, *ts, valid=v, backend="c"), leaves
        )


def test_second_derivatives_are_refused_not_wrong():
    x, w, b, h0, _ = inputs("mingru", torch.float64)
    x.requires_grad_(True)
    h = minrnn_layer("mingru", x, w, b, h0, backend="c")
    (dx,) = torch.autograd.grad((h * h).sum(), x, create_graph=True)  # dL/dh = 2h has a graph
    with pytest.raises(RuntimeError, match="differentiate twice"):
        dx.sum().backward()


def test_c_layer_without_bias_and_partial_grads():
    x, w, _, h0, _ = inputs("mingru", torch.float64)
    w.requires_grad_(True)  # x and h0 need no gradient: only dW is formed
    h = minrnn_layer("mingru", x, w, None, h0, backend="c")
    (dw,) = torch.autograd.grad(h.sum(), w)
    w_ref = w.detach().clone().requires_grad_(True)
    h_ref = minrnn_layer("mingru", x, w_ref, None, h0, backend="torch")
    (dw_ref,) = torch.autograd.grad(h_ref.sum(), w_ref)
    torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dw, dw_ref, rtol=1e-12, atol=1e-12)


def test_noncontiguous_input_and_gradient():
    """batch-first views and an expanded upstream gradient (from .sum()) are handled."""
    x, w, b, h0, _ = inputs("minlstm", torch.float64)
    x_bt = x.transpose(0, 1).contiguous().requires_grad_(True)  # (B, T, I) storage
    h = minrnn_layer("minlstm", x_bt.transpose(0, 1), w, b, h0, backend="c")
    (dx,) = torch.autograd.grad(h.sum(), x_bt)
    x_ref = x.clone().requires_grad_(True)
    (dx_ref,) = torch.autograd.grad(
        minrnn_layer("minlstm", x_ref, w, b, h0, backend="torch").sum(), x_ref
    )
    torch.testing.assert_close(dx.transpose(0, 1), dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_threads_split_the_batch_exactly(kind):
    """Rows are independent, so the kernel on 1 or 3 worker threads is bit-identical."""
    gen = torch.Generator().manual_seed(4)
    k = torch.randn(30, 5, KINDS[kind] * 7, generator=gen).requires_grad_(True)
    valid = (torch.arange(30)[:, None] < torch.tensor([30, 3, 12, 1, 29]))[..., None]
    before, results = torch.get_num_threads(), []
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            h = minrnn_scan(kind, k, valid=valid, backend="c")
            results.append((h, *torch.autograd.grad((h * h).sum(), k)))
    finally:
        torch.set_num_threads(before)
    for a, c in zip(*results, strict=True):
        assert torch.equal(a, c)


def _child_scan(k, queue):
    torch.set_num_threads(2)
    queue.put(minrnn_scan("mingru", k, backend="c").tolist())  # plain data through the pipe


def test_a_forked_child_gets_its_own_worker_threads():
    """The parent's worker threads do not survive fork(): a child that reused the pool would
    find it 'idle' and wait forever. Warm the pool so both its threads exist and sit idle."""
    k = torch.randn(6, 4, 2 * 3)
    want = minrnn_scan("mingru", k, backend="c")
    barrier = threading.Barrier(2)
    list(_ckernel._pool(2, os.getpid()).map(lambda _: barrier.wait(), range(2)))  # 2 threads
    time.sleep(0.3)  # both idle now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_scan, args=(k, queue))
    child.start()
    try:
        got = queue.get(timeout=20)
    finally:
        child.join(timeout=5)
        child.kill()
    assert torch.equal(torch.tensor(got), want)


def test_extreme_logits_stay_finite():
    """Logits of ±200 (exp overflows in float32 if taken naively) give finite h and grads."""
    k = torch.tensor([[-200.0, 200.0, -200.0], [200.0, -200.0, 200.0]]).repeat(4, 1, 1)
    k = k.view(4, 2, 3).repeat_interleave(2, dim=-1).requires_grad_(True)  # (T, B, 3·H=6)
    h = minrnn_scan("minlstm", k, backend="c")
    (dk,) = torch.autograd.grad(h.sum(), k)
    ref = minrnn_scan("minlstm", k.detach().double(), backend="torch")
    assert torch.isfinite(h).all() and torch.isfinite(dk).all()
    torch.testing.assert_close(h.double(), ref)


def test_a_compiler_means_the_kernel_builds(fresh_kernel):
    """Where a compiler exists (so nothing above was skipped) the kernel must build."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed build warns: make it fail here
        assert _ckernel.load() is not None


def test_kernel_is_cached_per_source_and_cpu(fresh_kernel):
    assert _ckernel.load() is not None
    built = list((fresh_kernel / "kernels").glob("minrnn-*.so"))
    assert len(built) == 1
    _ckernel.load.cache_clear()
    stamp = built[0].stat().st_mtime_ns
    assert _ckernel.load() is not None  # reused, not rebuilt
    assert built[0].stat().st_mtime_ns == stamp


def test_loading_the_kernel_keeps_subnormals():
    """-ffast-math is a compile flag only: loading must not switch on flush-to-zero."""
    assert _ckernel.load() is not None
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # subnormal in float32
    assert (tiny * 1.5).item() != 0.0
    assert ctypes.c_float(1e-40).value != 0.0


def test_disabled_or_no_compiler_falls_back(fresh_kernel, monkeypatch):
    k = torch.randn(5, 2, 8)
    want = minrnn_scan("mingru", k, backend="torch")
    monkeypatch.setenv("RNNKIT_CKERNEL", "0")
    assert _ckernel.load() is None and not _ckernel.available(k)
    torch.testing.assert_close(minrnn_scan("mingru", k), want)  # auto -> torch ops
    with pytest.raises(RuntimeError, match="backend='c' needs"):
        minrnn_scan("mingru", k, backend="c")
    _ckernel.load.cache_clear()
    monkeypatch.delenv("RNNKIT_CKERNEL")
    monkeypatch.setenv("CC", str(fresh_kernel / "no-such-compiler"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _ckernel.load() is None
    assert any("could not build the minGRU/minLSTM CPU kernel" in str(w.message) for w in caught)
    torch.testing.assert_close(minrnn_scan("mingru", k), want)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_autocast_bfloat16_uses_torch_ops(kind):
    """Under CPU autocast the matmul yields bfloat16: "auto" takes the torch-op path (the
    same result as asking for it), and "c" says why it cannot run."""
    x, w, b, h0, _ = inputs(kind, torch.float32)
    w.requires_grad_(True)
    results = []
    for backend in ("auto", "torch"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = minrnn_layer(kind, x, w, b, h0, backend=backend)
        results.append((h, *torch.autograd.grad(h.float().sum(), w)))
    assert results[0][0].dtype == torch.bfloat16
    for a, c in zip(*results, strict=True):
        assert torch.equal(a, c)
    with (
        torch.autocast("cpu", dtype=torch.bfloat16),
        pytest.raises(RuntimeError, match="autocast on"),
    ):
        minrnn_layer(kind, x, w, b, h0, backend="c")


def test_c_backend_refuses_what_it_cannot_run():
    with pytest.raises(RuntimeError, match="torch.float16"):
        minrnn_scan("mingru", torch.randn(3, 1, 4).half(), backend="c")
