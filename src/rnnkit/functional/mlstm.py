"""mLSTM, the matrix-memory LSTM of xLSTM (Beck et al. 2024, section 2.3): three forms.

Per head, with ``d = H / heads`` and ``k`` scaled by ``1/sqrt(d)`` (the paper's equations;
the input and forget gates are one scalar per head, the output gate is per unit)::

    C_t = f_t C_{t-1} + i_t k_t v_t^T            matrix memory (d x d), covariance update
    n_t = f_t n_{t-1} + i_t k_t                  normaliser
    h~_t = C_t^T q_t / max(|n_t^T q_t|, 1)        read-out
    h_t = o_t ⊙ h~_t,  o_t = σ(o~),  i_t = exp(i~),  f_t = σ(f~)

Stabilised as the sLSTM (:mod:`rnnkit.functional.slstm`): ``m_t = max(log f_t + m_{t-1},
i~_t)``, ``C, n`` kept scaled by ``exp(-m_t)``, and the floor 1 becomes ``exp(-m_t)``. The
zero state ``(C, n, m) = 0`` is the paper's zero state exactly.

The gates depend on ``x_t`` only, so three forms compute the same ``h``:

- :func:`mlstm_recurrent` — one step at a time, O(1) memory per step (generation);
- :func:`mlstm_parallel` — all steps at once (quadratic in T): with ``F_t = Σ_{s<=t} log
  f_s``, ``log D_ts = F_t - F_s + i~_s`` (s <= t), the initial state decayed by ``F_t +
  m_0``, and ``m_t`` the row maximum of both. That maximum *is* the recurrent ``m_t``
  unrolled, so the two forms agree to rounding;
- :func:`mlstm_chunkwise` — the parallel form on chunks of ``chunk`` steps, each chunk's
  end state ``(C, n, m)`` carried into the next (O(T·chunk) work, long sequences).

Padded steps (``valid`` False) get ``f = 1, i = 0`` (``log f = 0, i~ = -inf``): the state
carries over unchanged. Shapes: T time, B batch, NH heads, d head size, H = NH·d.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "FLOOR_LOG_MAX",
    "FORMS",
    "MLSTMState",
    "mlstm_chunkwise",
    "mlstm_parallel",
    "mlstm_recurrent",
    "mlstm_sequence",
    "split_projection",
    "zero_state",
]

FORMS = ("parallel", "chunkwise", "recurrent")

FLOOR_LOG_MAX = 80.0
"""The floor ``exp(-m)`` is computed as ``exp(min(-m, 80))``: it overflows float32 (and its
gradient turns to NaN) only for ``i~ < -80``, where ``h~`` is 0 to float precision anyway."""


class MLSTMState(NamedTuple):
    """The mLSTM state (a layer's ``h_n`` has ``L·D`` in front of every field)."""

    C: Tensor
    """``(B, NH, d, d)`` matrix memory, ``C[.., a, b]``: key unit a, value unit b."""
    n: Tensor
    """``(B, NH, d)`` normaliser."""
    m: Tensor
    """``(B, NH)`` stabiliser."""


class Gates(NamedTuple):
    """One layer's projected input, split per head (see :func:`split_projection`)."""

    q: Tensor  # (T, B, NH, d)
    k: Tensor  # (T, B, NH, d), scaled by 1/sqrt(d)
    v: Tensor  # (T, B, NH, d)
    o: Tensor  # (T, B, H) output gate σ(o~)
    i: Tensor  # (T, B, NH) input gate logit i~
    log_f: Tensor  # (T, B, NH) log forget gate


def split_projection(proj: Tensor, heads: int, valid: Tensor | None = None) -> Gates:
    """``proj (T, B, 4H + 2NH)`` (blocks q | k | v | o | i | f) -> :class:`Gates`.

    ``valid (T, B, 1)``: padded steps get ``log f = 0``, ``i~ = -inf`` (the state carries).
    """
    width = proj.size(-1) - 2 * heads
    hidden = width // 4
    d = hidden // heads
    q, k, v, o, i_raw, f_raw = proj.split([hidden] * 4 + [heads] * 2, dim=-1)
    shape = (*proj.shape[:-1], heads, d)
    log_f = F.logsigmoid(f_raw)  # (T, B, NH)
    if valid is not None:
        log_f = torch.where(valid, log_f, 0.0)
        i_raw = torch.where(valid, i_raw, float("-inf"))
    k = k.reshape(shape) / math.sqrt(d)
    return Gates(q.reshape(shape), k, v.reshape(shape), torch.sigmoid(o), i_raw, log_f)


def zero_state(batch: int, heads: int, d: int, like: Tensor) -> MLSTMState:
    """The zero state (nothing stored) for ``batch`` rows, dtype/device of ``like``."""
    return MLSTMState(
        like.new_zeros((batch, heads, d, d)),
        like.new_zeros((batch, heads, d)),
        like.new_zeros((batch, heads)),
    )


def _floor(m: Tensor) -> Tensor:
    """``exp(-m)``, capped (see :data:`FLOOR_LOG_MAX`)."""
    return torch.exp(torch.clamp(-m, max=FLOOR_LOG_MAX))


def _readout(g: Gates, h_tilde: Tensor) -> Tensor:
    """``h = o ⊙ h~``: ``h~ (T, B, NH, d)`` -> ``(T, B, H)``."""
    return g.o * h_tilde.flatten(-2)


def mlstm_recurrent(g: Gates, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
    """The recurrent form: one step at a time. Returns ``(h (T, B, H), final state)``."""
    C, n, m = state
    outs = []
    steps = zip(*(x.unbind(0) for x in (g.q, g.k, g.v, g.i, g.log_f)), strict=True)
    for q, k, v, i_raw, log_f in steps:  # (B, NH, ·) each; unbind: see mlstm_chunkwise
        m_new = torch.maximum(log_f + m, i_raw)  # (B, NH)
        i_gate = torch.exp(i_raw - m_new).unsqueeze(-1)  # (B, NH, 1)
        f_gate = torch.exp(log_f + m - m_new).unsqueeze(-1)  # (B, NH, 1)
        C = f_gate.unsqueeze(-1) * C + i_gate.unsqueeze(-1) * (k.unsqueeze(-1) * v.unsqueeze(-2))
        n = f_gate * n + i_gate * k  # (B, NH, d)
        num = torch.einsum("bnkv,bnk->bnv", C, q)  # (B, NH, d): C^T q
        den = (n * q).sum(-1).abs()  # (B, NH)
        outs.append(num / torch.maximum(den, _floor(m_new)).unsqueeze(-1))
        m = m_new
    h_tilde = torch.stack(outs)  # (T, B, NH, d)
    return _readout(g, h_tilde), MLSTMState(C, n, m)


def _chunk(g: Gates, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
    """The parallel form over all of ``g``'s steps: ``h~ (T, B, NH, d)`` and the end state."""
    C0, n0, m0 = state
    steps = g.q.size(0)
    q, k, v = (x.permute(1, 2, 0, 3) for x in (g.q, g.k, g.v))  # (B, NH, T, d)
    cum = g.log_f.cumsum(0).permute(1, 2, 0)  # (B, NH, T): F_t
    i_raw = g.i.permute(1, 2, 0)  # (B, NH, T)
    log_d = cum.unsqueeze(-1) - cum.unsqueeze(-2) + i_raw.unsqueeze(-2)  # (B, NH, T, T)
    causal = torch.ones(steps, steps, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, float("-inf"))
    log_0 = cum + m0.unsqueeze(-1)  # (B, NH, T): the initial state's decay
    m = torch.maximum(log_d.amax(-1), log_0)  # (B, NH, T) = the recurrent m_t
    decay = torch.exp(log_d - m.unsqueeze(-1))  # (B, NH, T, T)
    w0 = torch.exp(log_0 - m)  # (B, NH, T)
    scores = (q @ k.transpose(-1, -2)) * decay  # (B, NH, T, T)
    num = scores @ v + w0.unsqueeze(-1) * (q @ C0)  # (B, NH, T, d)
    den = scores.sum(-1) + w0 * (q @ n0.unsqueeze(-1)).squeeze(-1)  # (B, NH, T)
    h_tilde = num / torch.maximum(den.abs(), _floor(m)).unsqueeze(-1)
    last = decay[..., -1, :].unsqueeze(-1)  # (B, NH, T, 1): D_Ts
    C = w0[..., -1, None, None] * C0 + (k * last).transpose(-1, -2) @ v  # (B, NH, d, d)
    n = w0[..., -1, None] * n0 + (k * last).sum(-2)  # (B, NH, d)
    return h_tilde.permute(2, 0, 1, 3), MLSTMState(C, n, m[..., -1])


def mlstm_parallel(g: Gates, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
    """The parallel (quadratic) form. Returns ``(h (T, B, H), final state)``."""
    h_tilde, final = _chunk(g, state)
    return _readout(g, h_tilde), final


def mlstm_chunkwise(g: Gates, state: MLSTMState, chunk: int = 64) -> tuple[Tensor, MLSTMState]:
    """The chunkwise form: the parallel form per ``chunk`` steps, the state carried between."""
    if chunk < 1:
        raise ValueError(f"`chunk` must be >= 1, got {chunk}")
    outs = []
    # split, not x[start:stop]: split's backward is ONE cat of the chunk gradients, where
    # each slice's backward would fill and add a (T, ...) zero tensor (O(T²/chunk) traffic)
    for part in zip(*(x.split(chunk, dim=0) for x in g), strict=True):
        h_tilde, state = _chunk(Gates(*part), state)
        outs.append(h_tilde)
    return _readout(g, torch.cat(outs)), state


def mlstm_sequence(
    proj: Tensor,
    heads: int,
    state: MLSTMState | None = None,
    *,
    valid: Tensor | None = None,
    form: str = "chunkwise",
    chunk: int = 64,
) -> tuple[Tensor, MLSTMState]:
    """An mLSTM layer·direction over a whole sequence, forward in time.

    Args:
        proj: ``(T, B, 4H + 2NH)`` the projected input ``x W^T + b`` (q | k | v | o | i | f).
        heads: NH (divides H).
        state: the initial :class:`MLSTMState` (``(B, ·)`` fields), or None for zeros.
        valid: ``(T, B, 1)`` bool, False at padded steps (the state carries), or None.
        form: "parallel", "chunkwise" or "recurrent" (see the module doc).
        chunk: steps per chunk for "chunkwise".

    Returns:
        ``(h (T, B, H), final state)``; at padded steps ``h`` is not zeroed here.
    """
    if form not in FORMS:
        raise ValueError(f"`form` must be one of {FORMS}, got {form!r}")
    g = split_projection(proj, heads, valid)
    if state is None:
        state = zero_state(proj.size(1), heads, g.q.size(-1), proj)
    if form == "recurrent":
        return mlstm_recurrent(g, state)
    if form == "parallel":
        return mlstm_parallel(g, state)
    return mlstm_chunkwise(g, state, chunk)
