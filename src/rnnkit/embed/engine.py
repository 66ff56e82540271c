"""The fast word2vec engine: :func:`rnnkit.scratch.word2vec.sgd_step` in torch index ops.

The same batches (:mod:`rnnkit.scratch.w2v_sampling`) and the same update rule as the NumPy
engine, with the gradient written by hand (no autograd graph, ``torch.no_grad``)::

    h   = W_in[inputs]                       (P, E)    skip-gram   index_select
        = (mask @ W_in[contexts]) / count    (P, E)    CBOW
    U   = W_out[[targets | negatives]]       (P, 1+K, E)           index_select
    s   = U h                                (P, 1+K)              bmm
    g   = (σ(s) - y) * live                  (P, 1+K)
    W_in[inputs]  -= alpha g U               (P, E)    bmm, index_add_
    W_out[rows]   -= alpha g h               (P·(1+K), E)          index_add_

Gathers, batched matrix products and scatter-adds: each op is a pass over a ``(P, 1+K, E)``
buffer far larger than the cache, which keeps this path at a fraction of gensim's speed. So
for float32 on the CPU the step runs in a C kernel (``rnnkit/csrc/word2vec.c``, compiled on
first use by :mod:`rnnkit.embed._w2v_kernel`) that does the same arithmetic row by row, split
over ``threads``; the torch ops are the fallback (no compiler, ``RNNKIT_CKERNEL=0``,
float64) and the reference it is tested against. See docs/embeddings.md for the profile.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from rnnkit.embed import _w2v_kernel
from rnnkit.scratch.w2v_sampling import Batch
from rnnkit.scratch.word2vec import sgd_step

__all__ = ["ENGINES", "NumpyEngine", "TorchEngine", "make_engine"]


class TorchEngine:
    """``W_in`` and ``W_out`` as torch tensors, stepped by :meth:`step`.

    Args:
        w_in, w_out: ``(V, E)`` initial weights (NumPy; copied).
        dtype: ``torch.float32`` (default) or ``torch.float64``.
        threads: threads of the C kernel (None: torch's intra-op thread count).
        kernel: use the C kernel where it can run (float32; built); False: torch ops only.
    """

    def __init__(
        self,
        w_in: np.ndarray,
        w_out: np.ndarray,
        dtype: torch.dtype = torch.float32,
        threads: int | None = None,
        kernel: bool = True,
    ) -> None:
        self.w_in: Tensor = torch.tensor(w_in, dtype=dtype)
        self.w_out: Tensor = torch.tensor(w_out, dtype=dtype)
        self.threads = max(1, threads or torch.get_num_threads())
        self.lib = _w2v_kernel.load() if kernel and dtype == torch.float32 else None

    @property
    def uses_kernel(self) -> bool:
        """Whether steps run in the C kernel (else torch ops)."""
        return self.lib is not None

    def step(self, batch: Batch, alpha: float, with_loss: bool = False) -> float | None:
        """One SGD step on ``batch`` in place; the batch's summed loss if ``with_loss``."""
        if self.lib is not None:
            loss = self._kernel_step(batch, alpha)
            return loss if with_loss else None
        return self.torch_step(batch, alpha, with_loss)

    def _kernel_step(self, batch: Batch, alpha: float) -> float:
        """The step in C: gradients split by examples, then updates split by rows."""
        lib, n, dim = self.lib, len(batch.targets), self.w_in.shape[1]
        if n == 0:
            return 0.0
        inputs = np.ascontiguousarray(batch.inputs, dtype=np.int64)
        mask = None if batch.mask is None else np.ascontiguousarray(batch.mask, np.float32)
        ctx = 0 if mask is None else mask.shape[1]
        rows = np.ascontiguousarray(np.concatenate([batch.targets[:, None], batch.negatives], 1))
        k1 = rows.shape[1]
        h, dh = np.empty((n, dim), np.float32), np.empty((n, dim), np.float32)
        g = np.empty((n, k1), np.float32)
        w_in, w_out = self.w_in.data_ptr(), self.w_out.data_ptr()
        ptr = (inputs.ctypes.data, None if mask is None else mask.ctypes.data, ctx)
        common = (w_in, w_out, dim, *ptr, rows.ctypes.data, k1, h.ctypes.data, g.ctypes.data)
        parts = min(self.threads, n)
        bounds = [n * t // parts for t in range(parts + 1)]
        pool = _w2v_kernel.pool(parts, os.getpid())
        losses = pool.map(
            lambda t: lib.w2v_grad_f32(*common, dh.ctypes.data, bounds[t], bounds[t + 1]),
            range(parts),
        )
        loss = sum(losses)
        list(
            pool.map(
                lambda t: lib.w2v_apply_f32(*common, dh.ctypes.data, n, alpha, t, parts),
                range(parts),
            )
        )
        return float(loss)

    @torch.no_grad()
    def torch_step(self, batch: Batch, alpha: float, with_loss: bool = False) -> float | None:
        """:meth:`step` in torch ops (the fallback, and the kernel's reference)."""
        w_in, w_out = self.w_in, self.w_out
        targets = torch.from_numpy(batch.targets)
        negatives = torch.from_numpy(batch.negatives)
        n, dim = len(targets), w_in.shape[1]
        if n == 0:
            return 0.0 if with_loss else None
        inputs = torch.from_numpy(batch.inputs)
        if batch.mask is None:  # skip-gram
            h = w_in.index_select(0, inputs)  # (P, E)
        else:  # CBOW: the mean of the context rows
            mask = torch.from_numpy(batch.mask).to(w_in.dtype)  # (P, C)
            ctx = w_in.index_select(0, inputs.reshape(-1)).view(n, -1, dim)  # (P, C, E)
            count = mask.sum(1, keepdim=True)  # (P, 1)
            h = torch.bmm(mask.unsqueeze(1), ctx).squeeze(1) / count  # (P, E)
        rows = torch.cat([targets.unsqueeze(1), negatives], 1)  # (P, 1+K)
        u = w_out.index_select(0, rows.reshape(-1)).view(n, -1, dim)  # (P, 1+K, E)
        s = torch.bmm(u, h.unsqueeze(2)).squeeze(2)  # (P, 1+K)
        g = torch.sigmoid(s)
        g[:, 0] -= 1.0
        g[:, 1:].masked_fill_(negatives == targets.unsqueeze(1), 0.0)  # skip neg == target
        loss = _loss(s, negatives, targets) if with_loss else None
        d_h = torch.bmm(g.unsqueeze(1), u).squeeze(1)  # (P, E)
        d_u = g.unsqueeze(2) * h.unsqueeze(1)  # (P, 1+K, E)
        if batch.mask is None:
            w_in.index_add_(0, inputs, d_h, alpha=-alpha)
        else:  # every context row gets the whole ∂L/∂h (word2vec's CBOW rule)
            d_ctx = mask.unsqueeze(2) * d_h.unsqueeze(1)  # (P, C, E)
            w_in.index_add_(0, inputs.reshape(-1), d_ctx.view(-1, dim), alpha=-alpha)
        w_out.index_add_(0, rows.reshape(-1), d_u.view(-1, dim), alpha=-alpha)
        return loss

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W_in, W_out)`` as NumPy arrays (views of the tensors)."""
        return self.w_in.numpy(), self.w_out.numpy()


class NumpyEngine:
    """The scratch engine behind :class:`TorchEngine`'s interface (:func:`sgd_step`)."""

    uses_kernel = False

    def __init__(self, w_in: np.ndarray, w_out: np.ndarray, dtype: type = np.float32) -> None:
        self.w_in, self.w_out = w_in.astype(dtype), w_out.astype(dtype)

    def step(self, batch: Batch, alpha: float, with_loss: bool = False) -> float | None:
        """One SGD step on ``batch`` in place; the batch's summed loss if ``with_loss``."""
        loss = sgd_step(self.w_in, self.w_out, batch, alpha)
        return loss if with_loss else None

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W_in, W_out)``."""
        return self.w_in, self.w_out


ENGINES = ("torch", "numpy")


def make_engine(
    name: str, w_in: np.ndarray, w_out: np.ndarray, threads: int | None = None
) -> TorchEngine | NumpyEngine:
    """The engine ``name`` (``torch`` or ``numpy``) started from ``(W_in, W_out)``."""
    if name == "torch":
        return TorchEngine(w_in, w_out, threads=threads)
    if name == "numpy":
        return NumpyEngine(w_in, w_out)
    raise ValueError(f"`engine` must be one of {list(ENGINES)}, got {name!r}")


def _loss(s: Tensor, negatives: Tensor, targets: Tensor) -> float:
    """``-log σ(s_t) - Σ_k log σ(-s_k)`` summed over the batch (skipped negatives left out)."""
    live = (negatives != targets.unsqueeze(1)).to(s.dtype)
    pos = torch.nn.functional.softplus(-s[:, 0]).sum()
    neg = (torch.nn.functional.softplus(s[:, 1:]) * live).sum()
    return float(pos + neg)
