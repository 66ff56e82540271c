"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): the math, on torch tensors.

Both cells are a gated *linear* recurrence whose gates depend on the input only::

    h_t = a_t ⊙ h_{t-1} + b_t,   a_t, b_t computed from x_t alone

    minGRU:  z = σ(k_z),  a = 1 - z,  b = z ⊙ g(k_h)
    minLSTM: f = σ(k_f), i = σ(k_i),  a = f / (f + i),  b = i / (f + i) ⊙ g(k_h)

with ``k = x W_ih^T + b_ih`` for all T steps in one matmul, and the paper's positive
activation ``g(x) = x + 0.5 if x >= 0 else σ(x)`` on the candidate state.

Two ways to run the recurrence, the same function:

- :func:`scan_log` — the parallel scan in log space (Heinsen 2023): with ``a*_t = Σ_{s<=t}
  log a_s``, ``h_t = exp(a*_t + logcumsumexp_t(log b_t - a*_t)) + exp(a*_t) ⊙ h_0``.
  Every step of every sequence at once (depth log T on a GPU); ``log_a``/``log_b`` come
  from :func:`mingru_log_coeffs` / :func:`minlstm_log_coeffs` without ever forming a
  ``log`` of a number that could be 0.
- :func:`scan_linear` — the recurrence one step at a time, ``h = a_t ⊙ h + b_t``, as a
  single autograd node with a hand-written backward (the adjoint recurrence ``δ_t = ∂h_t +
  a_{t+1} ⊙ δ_{t+1}``). O(1) memory per step beyond the outputs, and on a CPU (where a
  parallel scan has no parallel hardware to use) the faster of the two.

:func:`mingru_step` / :func:`minlstm_step` are the O(1)-per-step cells for generation (and
the cells of the sequential scan). The gate coefficients live in ``_min_gates``.
Shapes: T time, B batch, I input features, H hidden.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnkit.functional import _ckernel
from rnnkit.functional._min_gates import (
    COEFFS,
    KINDS,
    LOG_COEFFS,
    g,
    grad_parts,
    log_g,
    mingru_coeffs,
    mingru_log_coeffs,
    minlstm_coeffs,
    minlstm_log_coeffs,
)

__all__ = [
    "BACKENDS",
    "COEFFS",
    "KINDS",
    "LOG_COEFFS",
    "g",
    "log_g",
    "mingru_coeffs",
    "mingru_log_coeffs",
    "mingru_step",
    "minlstm_coeffs",
    "minlstm_log_coeffs",
    "minlstm_step",
    "SCANS",
    "STEPS",
    "minrnn_layer",
    "minrnn_scan",
    "scan_log",
]


# -- the steps (generation) -------------------------------------------------------------------


def _project(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """``k = x W^T + b``; with ``weight=None``, ``x`` already is ``k`` (a scan's precomputed
    projection, as the ``w_ih=None`` convention of :mod:`rnnkit.functional.cells`)."""
    return x if weight is None else F.linear(x, weight, bias)


def mingru_step(x: Tensor, h: Tensor, weight: Tensor | None, bias: Tensor | None = None) -> Tensor:
    """One minGRU step: ``x (B, I)``, ``h (B, H)``, ``weight (2H, I)`` -> ``h' (B, H)``.

    With ``weight=None``, ``x`` is the projection ``k (B, 2H)`` already.
    """
    a, b = mingru_coeffs(_project(x, weight, bias))  # (B, H) each
    return torch.addcmul(b, a, h)


def minlstm_step(x: Tensor, h: Tensor, weight: Tensor | None, bias: Tensor | None = None) -> Tensor:
    """One minLSTM step: ``x (B, I)``, ``h (B, H)``, ``weight (3H, I)`` -> ``h' (B, H)``.

    With ``weight=None``, ``x`` is the projection ``k (B, 3H)`` already.
    """
    a, b = minlstm_coeffs(_project(x, weight, bias))  # (B, H) each
    return torch.addcmul(b, a, h)


STEPS = {"mingru": mingru_step, "minlstm": minlstm_step}


# -- the parallel scan in log space --------------------------------------------------------


def scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None, *, chunk: int = 64) -> Tensor:
    """``h_t = a_t ⊙ h_{t-1} + b_t`` for all t at once, in log space (Heinsen's method).

    Args:
        log_a: ``(T, B, H)`` log of the decay, ``<= 0``.
        log_b: ``(T, B, H)`` log of the (positive) input term; ``-inf`` allowed (b = 0).
        h0: ``(B, H)`` initial state of any sign, or None for zeros. It enters linearly,
            ``+ exp(a*_t) ⊙ h_0``, so it never needs a logarithm (the paper's ``log h_0``
            requires ``h_0 > 0``; a state handed over from elsewhere, or zeros, is not).
        chunk: the scan runs on blocks of ``chunk`` steps, each block's end state carried
            into the next (T / chunk sequential hops). This bounds ``|a*|`` and so the float32
            cancellation in ``a*_t + logcumsumexp(...)``, which otherwise grows with T.

    Returns:
        ``h (T, B, H)``: the state after every step.
    """
    steps = log_a.size(0)
    outs: list[Tensor] = []
    h = h0
    for start in range(0, steps, chunk):
        la, lb = log_a[start : start + chunk], log_b[start : start + chunk]  # (C, B, H)
        a_star = la.cumsum(0)  # (C, B, H), log of a_1 ⋯ a_t within the block
        block = torch.exp(a_star + torch.logcumsumexp(lb - a_star, dim=0))
        if h is not None:
            block = block + torch.exp(a_star) * h
        outs.append(block)
        h = block[-1]  # (B, H), carried into the next block
    return outs[0] if len(outs) == 1 else torch.cat(outs)  # (T, B, H)


# -- the blocked scan in linear space, one autograd node ----------------------------------


def _blocked_recurrence(a: Tensor, b: Tensor, h0: Tensor, block: int) -> Tensor:
    """``h_t = a_t h_{t-1} + b_t`` (no autograd) as a two-level scan: O(√T) dispatches.

    Time is cut into ``n`` blocks of ``C`` steps. Level 1 runs the C positions of every block
    at once (the local state from zero and the decay product ``P = a_1 ⋯ a_c``); level 2 hops
    over the n block ends carrying the true state; then ``h = local + P ⊙ carry``. The same
    sums as the plain loop, reassociated; nothing is exponentiated, so nothing overflows.
    """
    steps = a.size(0)
    n = -(-steps // block)
    pad = n * block - steps
    if pad:  # a = 1, b = 0 past the end: the state just carries (and is cut off below)
        a = torch.cat([a, a.new_ones((pad, *a.shape[1:]))])
        b = torch.cat([b, b.new_zeros((pad, *b.shape[1:]))])
    a = a.view(n, block, *a.shape[1:])  # (n, C, B, H)
    b = b.view(n, block, *b.shape[1:])  # (n, C, B, H)
    local = torch.empty_like(b)  # (n, C, B, H): the state within each block, from zero
    decay = torch.empty_like(a)  # (n, C, B, H): a_1 ⋯ a_c within each block
    local[:, 0], decay[:, 0] = b[:, 0], a[:, 0]
    for c in range(1, block):
        torch.addcmul(b[:, c], a[:, c], local[:, c - 1], out=local[:, c])
        torch.mul(a[:, c], decay[:, c - 1], out=decay[:, c])
    carry = torch.empty_like(b[:, 0])  # (n, B, H): the true state entering each block
    prev = h0
    for j in range(n):
        carry[j] = prev
        prev = torch.addcmul(local[j, -1], decay[j, -1], prev)
    h = torch.addcmul(local, decay, carry.unsqueeze(1))  # (n, C, B, H)
    return h.view(n * block, *h.shape[2:])[:steps]  # (T, B, H)


class _FusedScan(torch.autograd.Function):
    """minGRU/minLSTM coefficients + the linear recurrence, one node, backward by hand.

    Forward: ``a, b`` from ``k``, then ``h_t = a_t h_{t-1} + b_t`` (blocked). Backward: the
    adjoint ``δ_t = ∂h_t + a_{t+1} δ_{t+1}`` (the same recurrence reversed), then, with
    ``b = w g`` and ``a = 1 - w``: ``dL/dw = δ (g - h_{t-1})``, ``dL/dk_h = δ w g'``.
    """

    @staticmethod
    def forward(ctx, k: Tensor, h0: Tensor, valid: Tensor | None, kind: str, block: int) -> Tensor:  # noqa: ANN001
        with torch.no_grad():
            a, b = COEFFS[kind](k)  # (T, B, H) each
            if valid is not None:  # padded steps: a = 1, b = 0, the state carries over
                a = torch.where(valid, a, 1.0)
                b = torch.where(valid, b, 0.0)
            h = _blocked_recurrence(a, b, h0, block)  # (T, B, H)
        ctx.save_for_backward(k, h, h0, valid)
        ctx.kind, ctx.block = kind, block
        return h

    @staticmethod
    def backward(ctx, dh: Tensor):  # noqa: ANN001, ANN205
        k, h, h0, valid = ctx.saved_tensors
        a, w, s, gh, dgh = grad_parts(ctx.kind, k)
        if valid is not None:
            a = torch.where(valid, a, 1.0)
        a_next = torch.cat([a[1:], a.new_zeros((1, *a.shape[1:]))])  # (T, B, H): a_{t+1}
        delta = _blocked_recurrence(
            a_next.flip(0), dh.flip(0).contiguous(), torch.zeros_like(h0), ctx.block
        ).flip(0)  # (T, B, H)
        dh0 = a[0] * delta[0]
        if valid is not None:
            delta = torch.where(valid, delta, 0.0)  # padded steps carry, they have no gates
        h_prev = torch.cat([h0.unsqueeze(0), h[:-1]])  # (T, B, H): h_{t-1}
        dw = delta * (gh - h_prev) * s  # dL/d(gate logit)
        dk_h = delta * w * dgh
        if ctx.kind == "mingru":
            dk = torch.cat([dw, dk_h], dim=-1)  # (T, B, 2H)
        else:
            k_i, k_f, _ = k.chunk(3, dim=-1)  # (T, B, H) each
            # d = softplus(-k_f) - softplus(-k_i): dd/dk_i = σ(-k_i), dd/dk_f = -σ(-k_f)
            dk = torch.cat(
                [dw * torch.sigmoid(-k_i), -dw * torch.sigmoid(-k_f), dk_h], dim=-1
            )  # (T, B, 3H)
        return dk, dh0, None, None, None


BLOCK_ROWS = 2048
"""Rows (steps x batch) per block in the C path's backward: its ``dk`` block stays in cache
while the weight-gradient matmul consumes it."""


class _CLayer(torch.autograd.Function):
    """``x -> k = x W^T + b -> h`` on the fused C kernel (:mod:`._ckernel`): one autograd node.

    Forward: one matmul, then gates + recurrence in one pass. Backward walks time in blocks,
    last first: the kernel writes a block of ``dk`` (the adjoint carried between blocks), and
    the block feeds ``dW += dk^T x``, ``db += Σ dk`` and ``dx = dk W`` at once, so the full
    ``(T, B, G·H)`` gradient of ``k`` is never materialised. With ``weight=None`` the input is
    ``k`` itself and ``dk`` is its gradient.
    """

    @staticmethod
    def forward(  # noqa: ANN001
        ctx,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        h0: Tensor,
        valid: Tensor | None,
        kind: str,
    ) -> Tensor:
        with torch.no_grad():
            k = (x if weight is None else F.linear(x, weight, bias)).contiguous()  # (T, B, G·H)
            h0 = h0.to(k.dtype).contiguous()
            mask = _ckernel.valid_bytes(valid)  # (T, B) uint8 or None
            h = _ckernel.forward(KINDS[kind], k, h0, mask)  # (T, B, H)
        ctx.save_for_backward(x, weight, k, h, h0, mask)
        ctx.kind = kind
        return h

    @staticmethod
    @once_differentiable  # the kernel writes raw memory: no graph for a second derivative
    def backward(ctx, dh: Tensor):  # noqa: ANN001, ANN205
        x, weight, k, h, h0, mask = ctx.saved_tensors
        steps, batch, width = k.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        block = max(1, BLOCK_ROWS // batch)
        delta = torch.zeros_like(h0)  # (B, H): a_{t+1} δ_{t+1}, ends as dL/dh0
        if weight is None:
            dk_all = torch.empty_like(k)  # (T, B, G·H): the input's gradient
        else:
            buf = k.new_empty((min(block, steps), batch, width))  # one block of dk
            features = x.size(-1)
            dx = x.new_empty(x.shape) if need_x else None  # (T, B, I), contiguous
            dw = torch.zeros_like(weight) if need_w else None  # (G·H, I)
            db = k.new_zeros(width) if need_b else None  # (G·H,)
        for stop in range(steps, 0, -block):
            start = max(0, stop - block)
            dk = dk_all[start:stop] if weight is None else buf[: stop - start]
            _ckernel.backward(
                KINDS[ctx.kind],
                k[start:stop],
                h0 if start == 0 else h[start - 1],
                h[start:stop],
                None if mask is None else mask[start:stop],
                dh[start:stop].to(k.dtype).contiguous(),
                dk,
                delta,
            )
            if weight is None:
                continue
            rows = dk.view(-1, width)  # (rows, G·H)
            if dw is not None:
                dw.addmm_(rows.t(), x[start:stop].reshape(-1, features))
            if db is not None:
                db += rows.sum(0)
            if dx is not None:
                torch.mm(rows, weight, out=dx[start:stop].view(-1, features))
        if weight is None:
            return dk_all, None, None, delta, None, None
        return dx, dw, db, delta, None, None


def _block(steps: int) -> int:
    """⌈√T⌉ steps per block: about as many block positions as blocks (fewest dispatches)."""
    return max(1, math.isqrt(max(steps - 1, 0)) + 1)


SCANS = ("linear", "log")
BACKENDS = ("auto", "c", "torch")


def minrnn_scan(
    kind: str,
    k: Tensor,
    h0: Tensor | None = None,
    *,
    valid: Tensor | None = None,
    scan: str = "linear",
    backend: str = "auto",
) -> Tensor:
    """Run a minGRU/minLSTM layer's recurrence over all steps, from its gate logits.

    Args:
        kind: "mingru" or "minlstm".
        k: ``(T, B, G·H)``, ``x W_ih^T + b_ih`` for every step (G = 2: z | h; 3: i | f | h).
        h0: ``(B, H)`` initial state (any sign), or None for zeros.
        valid: ``(T, B, 1)`` bool, False at padded steps (``a = 1, b = 0`` there: the state
            carries over unchanged), or None when every step is valid.
        scan: "log" — Heinsen's parallel scan in log space (:func:`scan_log`), the paper's
            parallel mode; "linear" — the blocked two-level scan in linear space, fused with
            the gates into one autograd node with a hand-written backward (fastest on CPU).
        backend: for ``scan="linear"``: "c" — the fused C kernel (:mod:`._ckernel`; CPU,
            float32/float64, an error where it cannot be built), "torch" — torch ops, "auto"
            — the C kernel where available, else torch ops. Both compute the same function.

    Returns:
        ``h (T, B, H)``; at padded steps it holds the last valid state.
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
    if scan not in SCANS:
        raise ValueError(f"`scan` must be one of {SCANS}, got {scan!r}")
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    if h0 is None:
        h0 = k.new_zeros((k.size(1), k.size(2) // KINDS[kind]))  # (B, H)
    if scan == "linear":
        if _use_c(k, backend):
            return _CLayer.apply(k, None, None, h0, valid, kind)
        return _FusedScan.apply(k.contiguous(), h0, valid, kind, _block(k.size(0)))
    log_a, log_b = LOG_COEFFS[kind](k)  # (T, B, H) each
    if valid is not None:  # log a = 0 (a = 1), log b = -inf (b = 0) at padded steps
        log_a = torch.where(valid, log_a, 0.0)
        log_b = torch.where(valid, log_b, float("-inf"))
    return scan_log(log_a, log_b, h0)


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is active for ``device_type`` (torch >= 2.4 API, older fallback)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        if device_type == "cpu":
            return torch.is_autocast_cpu_enabled()
        return torch.is_autocast_enabled()


def _use_c(k: Tensor, backend: str) -> bool:
    """Whether the linear scan runs on the C kernel: ``backend`` "c", or "auto" and possible.

    Not under autocast: there the matmul would hand the kernel bfloat16, which it does not
    read; torch ops follow autocast's dtypes instead.
    """
    if backend == "torch":
        return False
    autocast = _autocast_on(k.device.type)
    if _ckernel.available(k) and not autocast:
        return True
    if backend == "c":
        raise RuntimeError(
            "backend='c' needs a CPU float32/float64 tensor outside autocast and a built "
            f"kernel (a C compiler; RNNKIT_CKERNEL not 0), got a {k.device.type} {k.dtype} "
            f"tensor, autocast {'on' if autocast else 'off'}, kernel "
            f"{'built' if _ckernel.load() is not None else 'unavailable'}"
        )
    return False


def minrnn_layer(
    kind: str,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    h0: Tensor | None = None,
    *,
    valid: Tensor | None = None,
    scan: str = "linear",
    backend: str = "auto",
) -> Tensor:
    """One minGRU/minLSTM layer·direction over a whole sequence: ``x`` -> ``h``.

    ``k = x W^T + b`` then :func:`minrnn_scan`; on the C kernel (``scan="linear"``) the
    matmul joins the node so the backward never materialises ``dL/dk`` (see :class:`_CLayer`).

    Args:
        x: ``(T, B, I)``; weight: ``(G·H, I)``; bias: ``(G·H,)`` or None.
        h0, valid, scan, backend: as in :func:`minrnn_scan`.

    Returns:
        ``h (T, B, H)``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    if scan == "linear" and _use_c(x, backend):
        if h0 is None:
            h0 = x.new_zeros((x.size(1), weight.size(0) // KINDS[kind]))  # (B, H)
        return _CLayer.apply(x, weight, bias, h0, valid, kind)
    return minrnn_scan(kind, F.linear(x, weight, bias), h0, valid=valid, scan=scan, backend="torch")
