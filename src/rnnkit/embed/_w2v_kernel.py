"""The word2vec CPU kernel (``rnnkit/csrc/word2vec.c``): built on first use, called via ctypes.

Why a C file: a word2vec step is ~P (K + 2) tiny 100-float rows gathered, multiplied and
scattered back. As torch ops every one of the six steps (two gathers, two batched products,
two scatter-adds) makes a pass over ``(P, 1+K, E)`` buffers far larger than the cache; the C
loop touches each row once per pass, in cache. That is the difference between about a fifth
of gensim's speed and more than half of it (docs/embeddings.md).

The build is :func:`rnnkit.native.build_library`'s, as for every kernel (one build per
source, flags and CPU, in the kernel cache); no compiler, a failed build (one warning) or
``RNNKIT_CKERNEL=0`` make :func:`load` return None and
:class:`rnnkit.embed.engine.TorchEngine` uses torch ops: same update, slower.
"""

from __future__ import annotations

import ctypes
import functools
from concurrent.futures import ThreadPoolExecutor

from rnnkit.native import build_library, worker_pool

__all__ = ["load", "pool"]


def _declare(lib: ctypes.CDLL) -> None:
    p, n, f = ctypes.c_void_p, ctypes.c_long, ctypes.c_float
    # (w_in, w_out, dim, inputs, mask, ctx, rows, k1, h, g, dh, p0, p1) -> loss
    lib.w2v_grad_f32.argtypes = [p, p, n, p, p, n, p, n, p, p, p, n, n]
    lib.w2v_grad_f32.restype = ctypes.c_double
    # (w_in, w_out, dim, inputs, mask, ctx, rows, k1, h, g, dh, n, alpha, part, parts)
    lib.w2v_apply_f32.argtypes = [p, p, n, p, p, n, p, n, p, p, p, n, f, n, n]
    lib.w2v_apply_f32.restype = None


@functools.cache
def load() -> ctypes.CDLL | None:
    """The compiled kernel library, building it if needed; None where that is not possible."""
    return build_library("word2vec", _declare, "the word2vec CPU kernel")


def pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """One pool per worker count and process (a forked child must not reuse its parent's)."""
    return worker_pool("rnnkit-w2v", workers, pid)
