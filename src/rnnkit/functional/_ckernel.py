"""The fused minGRU/minLSTM CPU kernel (``rnnkit/csrc/minrnn.c``): built on first use, via ctypes.

Why a C file: on a CPU the minGRU/minLSTM recurrence is memory-bound. Written as torch ops,
the gates, the scan and the hand-written backward make ~15 passes over ``(T, B, H)`` tensors;
the C loop reads ``k`` once and writes ``h`` once per direction, and its exponentials are
vectorised (glibc's libmvec). That is what brings minGRU training to >= 5x ``torch.nn.GRU``
(docs/minrnn.md, "Speed").

How: :func:`rnnkit.native.build_library` compiles the file on first use into the kernel
cache (its rules: one build per source, flags and CPU; no compiler or ``RNNKIT_CKERNEL=0``:
:func:`load` returns None, with one warning when a build failed, and callers use the
torch-op path: same results, slower).
"""

from __future__ import annotations

import ctypes
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from rnnkit.native import build_library, worker_pool

__all__ = ["available", "backward", "forward", "load", "valid_bytes"]

SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _declare(lib: ctypes.CDLL) -> None:
    p, n = ctypes.c_void_p, ctypes.c_long
    for suffix in SUFFIX.values():  # (G, pointers..., sizes...): see the C file's signatures
        getattr(lib, f"minrnn_forward_{suffix}").argtypes = [n, p, p, p, p, n, n, n, n, n]
        getattr(lib, f"minrnn_backward_{suffix}").argtypes = [n, p, p, p, p, p, p, p] + [n] * 5
        getattr(lib, f"minrnn_forward_{suffix}").restype = None
        getattr(lib, f"minrnn_backward_{suffix}").restype = None


@functools.cache
def load() -> ctypes.CDLL | None:
    """The compiled kernel library, building it if needed; None where that is not possible."""
    return build_library("minrnn", _declare, "the minGRU/minLSTM CPU kernel")


def available(k: Tensor) -> bool:
    """Whether the kernel can run on ``k``: a CPU float32/float64 tensor, kernel built."""
    return k.device.type == "cpu" and k.dtype in SUFFIX and load() is not None


def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """One pool per worker count *and process*: a forked child must not reuse its parent's
    pool, whose threads did not survive the fork (work sent there would never run)."""
    return worker_pool("rnnkit-minrnn", workers, pid)


def _split(fn, batch: int) -> None:  # noqa: ANN001
    """Call ``fn(b0, b1)`` on slices of the batch, one per torch intra-op thread.

    ctypes releases the GIL during the call, so the slices run in parallel; each writes only
    its own rows.
    """
    workers = max(1, min(torch.get_num_threads(), batch))
    if workers == 1:
        fn(0, batch)
        return
    bounds = [batch * w // workers for w in range(workers + 1)]
    list(_pool(workers, os.getpid()).map(fn, bounds[:-1], bounds[1:]))


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def valid_bytes(valid: Tensor | None) -> Tensor | None:
    """``valid (T, B, 1)`` bool -> ``(T, B)`` uint8 contiguous, as the kernel reads it (or None)."""
    return None if valid is None else valid[..., 0].to(torch.uint8).contiguous()


def forward(groups: int, k: Tensor, h0: Tensor, valid: Tensor | None) -> Tensor:
    """``h (T, B, H)`` from ``k (T, B, G·H)``, ``h0 (B, H)``, ``valid (T, B)`` uint8 or None.

    All contiguous, one dtype (see :func:`valid_bytes`).
    """
    steps, batch, width = k.shape
    hidden = width // groups
    h = k.new_empty((steps, batch, hidden))
    fn = getattr(load(), f"minrnn_forward_{SUFFIX[k.dtype]}")
    _split(
        lambda b0, b1: fn(
            groups, _ptr(k), _ptr(h0), _ptr(valid), _ptr(h), steps, batch, hidden, b0, b1
        ),
        batch,
    )
    return h


def backward(
    groups: int,
    k: Tensor,
    h_before: Tensor,
    h: Tensor,
    valid: Tensor | None,
    dh: Tensor,
    dk: Tensor,
    delta: Tensor,
) -> None:
    """The adjoint over one block of steps, last step first, writing ``dk`` in place.

    Args:
        groups: G, 2 (minGRU) or 3 (minLSTM).
        k: ``(T, B, G·H)`` the block's gate logits; ``h``: ``(T, B, H)`` its states;
            ``h_before``: ``(B, H)`` the state before its first step.
        valid: ``(T, B)`` uint8 (1 = real step) or None; ``dh``: ``(T, B, H)`` dL/dh.
        dk: ``(T, B, G·H)`` output, dL/dk.
        delta: ``(B, H)`` in: ``a_{t+1} δ_{t+1}`` from the block after (zeros for the last
            block); out: the same for the block before (after the first block, dL/dh0).

    All contiguous, one dtype; blocks let a caller consume ``dk`` while it is in cache.
    """
    steps, batch, width = k.shape
    fn = getattr(load(), f"minrnn_backward_{SUFFIX[k.dtype]}")
    _split(
        lambda b0, b1: fn(
            groups,
            _ptr(k),
            _ptr(h_before),
            _ptr(h),
            _ptr(valid),
            _ptr(dh),
            _ptr(dk),
            _ptr(delta),
            steps,
            batch,
            width // groups,
            b0,
            b1,
        ),
        batch,
    )
