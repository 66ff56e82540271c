"""The sLSTM over a whole sequence in one autograd node, backward by hand (the fast path).

:func:`rnnkit.functional.slstm.slstm_cell` run by the generic scan builds ~25 autograd
nodes a step, and the recurrent weight's gradient arrives as T small matmuls. Here the
forward runs the same equations without a graph, and the backward runs the adjoint
recurrence once, reversed, with the weight gradient as ONE matmul over all steps. The
equations (see :mod:`rnnkit.functional.slstm`; ``a_t = log f_t + m_{t-1}``)::

    m_t = max(a_t, i~_t),  i'_t = exp(i~_t - m_t),  f'_t = exp(a_t - m_t)
    c_t = f'_t c_{t-1} + i'_t z_t,  n_t = f'_t n_{t-1} + i'_t,  h_t = o_t c_t / n_t

and their adjoints, step t backwards (``δx = ∂L/∂x``; ``δh_t`` includes the output's)::

    δo~ = δh · (c/n) · o (1 - o)
    δc += δh · o / n,        δn -= δh · o c / n²
    δf' = δc c_{t-1} + δn n_{t-1},   δi' = δc z + δn,   δz~ = δc i' (1 - z²)
    δm  = δm_carry - δi' i' - δf' f'
    δa  = δf' f' + δm [a > i~],      δi~ = δi' i' + δm [a < i~]   (ties: half each)
    δf~ = δa σ(-f~) (sigmoid gate) or δa (exp gate);   δm_{t-1} = δa
    δpre = [δi~ | δf~ | δz~ | δo~],  δh_{t-1} = δpre R^T,  δc_{t-1} = δc f',  δn_{t-1} = δn f'

then ``δR = Σ_t h_{t-1}^T δpre_t`` and ``δgx = δpre``. The result equals the scan's autograd
to rounding (tested in float64). Shapes: T time, B batch, H hidden.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.functional.slstm import SLSTMState

__all__ = ["slstm_sequence"]


def _forward(gx: Tensor, w: Tensor, state: SLSTMState, exp_forget: bool) -> dict[str, Tensor]:
    """Run every step without a graph; return what the backward needs (see the module doc)."""
    steps, batch = gx.shape[:2]
    hidden = w.size(0)
    buf = {k: gx.new_empty((steps, batch, hidden)) for k in ("h", "ig", "fg", "z", "o", "dlf")}
    buf["mask"] = gx.new_empty((steps, batch, hidden))
    for k in ("c", "n"):
        buf[k] = gx.new_empty((steps + 1, batch, hidden))  # index 0: the initial state
    h, c, n, m = state
    buf["c"][0], buf["n"][0] = c, n
    for t in range(steps):
        pre = torch.addmm(gx[t], h, w)  # (B, 4H)
        i_raw, f_raw, z_raw, o_raw = pre.chunk(4, dim=-1)  # (B, H) each
        a = (f_raw if exp_forget else F.logsigmoid(f_raw)) + m
        m = torch.maximum(a, i_raw)
        buf["mask"][t] = (a > i_raw).to(gx.dtype) + 0.5 * (a == i_raw).to(gx.dtype)
        ig, fg = torch.exp(i_raw - m), torch.exp(a - m)
        z, o = torch.tanh(z_raw), torch.sigmoid(o_raw)
        c = torch.addcmul(fg * c, ig, z)
        n = torch.addcmul(ig, fg, n)
        h = o * c / n
        buf["h"][t], buf["ig"][t], buf["fg"][t], buf["z"][t], buf["o"][t] = h, ig, fg, z, o
        buf["c"][t + 1], buf["n"][t + 1] = c, n
        buf["dlf"][t] = 1.0 if exp_forget else torch.sigmoid(-f_raw)  # d log f / d f~
    buf["m"] = m
    return buf


class _SLSTMSequence(torch.autograd.Function):
    """``(gx (T, B, 4H), w (H, 4H), h0, c0, n0, m0) -> (out (T, B, H), c_T, n_T, m_T)``."""

    @staticmethod
    def forward(ctx, gx, w, h0, c0, n0, m0, exp_forget):  # noqa: ANN001, ANN205
        buf = _forward(gx, w, SLSTMState(h0, c0, n0, m0), exp_forget)
        ctx.save_for_backward(w, h0, *(buf[k] for k in ("h", "c", "n", "ig", "fg", "z", "o")),
                              buf["dlf"], buf["mask"])  # fmt: skip
        return buf["h"], buf["c"][-1].clone(), buf["n"][-1].clone(), buf["m"]

    @staticmethod
    def backward(ctx, d_out, d_c, d_n, d_m):  # noqa: ANN001, ANN205
        w, h0, hs, cs, ns, igs, fgs, zs, os_, dlfs, masks = ctx.saved_tensors
        steps = hs.size(0)
        d_out = torch.zeros_like(hs) if d_out is None else d_out
        dc = torch.zeros_like(h0) if d_c is None else d_c.clone()
        dn = torch.zeros_like(h0) if d_n is None else d_n.clone()
        dm = torch.zeros_like(h0) if d_m is None else d_m.clone()
        dh = torch.zeros_like(h0)
        d_pre = hs.new_empty((steps, hs.size(1), w.size(1)))  # (T, B, 4H)
        w_t = w.t()
        for t in range(steps - 1, -1, -1):
            dh = dh + d_out[t]
            o, ig, fg, z = os_[t], igs[t], fgs[t], zs[t]
            c, n = cs[t + 1], ns[t + 1]
            ratio = c / n
            d_o = dh * ratio * o * (1.0 - o)
            dc = dc + dh * o / n
            dn = dn - dh * o * ratio / n
            d_fg = dc * cs[t] + dn * ns[t]
            d_ig = dc * z + dn
            d_z = dc * ig * (1.0 - z * z)
            dm = dm - d_ig * ig - d_fg * fg
            da = d_fg * fg + dm * masks[t]
            d_i = d_ig * ig + dm * (1.0 - masks[t])
            torch.cat([d_i, da * dlfs[t], d_z, d_o], dim=-1, out=d_pre[t])
            dh = d_pre[t] @ w_t  # (B, H)
            dc, dn, dm = dc * fg, dn * fg, da
        h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])  # (T, B, H)
        d_w = h_prev.flatten(0, 1).t() @ d_pre.flatten(0, 1)  # (H, 4H): one matmul
        return d_pre, d_w, dh, dc, dn, dm, None


def slstm_sequence(
    gx: Tensor, w_dense: Tensor, state: SLSTMState, *, forget: str = "sigmoid"
) -> tuple[Tensor, SLSTMState]:
    """The sLSTM forward in time over all of ``gx``, one autograd node.

    Args:
        gx: ``(T, B, 4H)`` the input part ``W x + b`` (blocks i | f | z | o).
        w_dense: ``(H, 4H)`` the recurrent weights in dense form
            (:func:`rnnkit.functional.slstm.dense_recurrent`).
        state: the initial :class:`SLSTMState` (``(B, H)`` fields), after
            :func:`rnnkit.functional.slstm.mark_empty`.
        forget: "sigmoid" or "exp".

    Returns:
        ``(out (T, B, H), final state)``; the same values and gradients as scanning
        :func:`rnnkit.functional.slstm.slstm_cell`.
    """
    h0, c0, n0, m0 = (s.contiguous() for s in state)
    out, c, n, m = _SLSTMSequence.apply(gx.contiguous(), w_dense, h0, c0, n0, m0, forget == "exp")
    return out, SLSTMState(out[-1], c, n, m)
