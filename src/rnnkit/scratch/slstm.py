"""sLSTM (xLSTM, Beck et al. 2024) in NumPy: sequential forward, backward by hand.

Same parameters and names as :class:`rnnkit.nn.SLSTM` (``weight_ih_l{l} (4H, I_l)``,
blocks i | f | z | o; ``weight_hh_l{l} (4, NH, d, d)``, block-diagonal per head;
``bias_ih_l{l} (4H,)``), so a torch state dict loads with
:func:`rnnkit.scratch.load_state_dict`. Unidirectional, no ``lengths``. Per layer and step,
with ``pre = W x_t + b + R h_{t-1}`` and ``a_t = log f_t + m_{t-1}``::

    m_t = max(a_t, i~_t),  i' = exp(i~ - m_t),  f' = exp(a_t - m_t),  z = tanh(z~),  o = σ(o~)
    c_t = f' c_{t-1} + i' z,  n_t = f' n_{t-1} + i',  h_t = o c_t / n_t

(``log f = log σ(f~)``, or ``f~`` with ``forget_gate="exp"``; a row with ``n = 0`` holds
nothing and starts from ``m = -inf``). Backward, step t backwards (``δx = dL/dx``)::

    δo~ = δh (c/n) o (1 - o),   δc += δh o / n,   δn -= δh o c / n²
    δf' = δc c_{t-1} + δn n_{t-1},   δi' = δc z + δn,   δz~ = δc i' (1 - z²)
    δm  = δm_carry - δi' i' - δf' f'
    δa  = δf' f' + δm [a > i~],   δi~ = δi' i' + δm [a < i~]   (ties: half each)
    δf~ = δa σ(-f~) (or δa),   δm_{t-1} = δa,   δc_{t-1} = δc f',   δn_{t-1} = δn f'
    δh_{t-1} = R^T δpre (per head),   δR += δpre h_{t-1}^T (per head),   δW = δpre^T x
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnkit.scratch.cells import sigmoid
from rnnkit.scratch.modules import Module, check_sizes
from rnnkit.scratch.optim import init_uniform

__all__ = ["SLSTM", "SLSTMState"]


class SLSTMState(NamedTuple):
    """The state, each field ``(L, B, H)``: hidden, cell, normaliser, stabiliser."""

    h: np.ndarray
    c: np.ndarray
    n: np.ndarray
    m: np.ndarray


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


class SLSTM(Module):
    """A stacked sLSTM layer (see the module doc). x: (T, B, I) -> y (T, B, H)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        num_heads: int = 1,
        forget_gate: str = "sigmoid",
        bias: bool = True,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        check_sizes(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
            num_heads=num_heads,
        )  # fmt: skip
        if hidden_size % num_heads:
            raise ValueError(
                f"`num_heads` must divide `hidden_size`={hidden_size}, got {num_heads}"
            )
        if forget_gate not in ("sigmoid", "exp"):
            raise ValueError(f"`forget_gate` must be 'sigmoid' or 'exp', got {forget_gate!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_heads, self.forget_gate, self.bias = num_heads, forget_gate, bias
        rng = rng if rng is not None else np.random.default_rng()
        d = hidden_size // num_heads
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            shape = (4 * hidden_size, width)
            self.params[f"weight_ih_l{layer}"] = init_uniform(shape, hidden_size, rng, dtype)
            self.params[f"weight_hh_l{layer}"] = np.zeros((4, num_heads, d, d), dtype=dtype)
            if bias:
                self.params[f"bias_ih_l{layer}"] = np.zeros(4 * hidden_size, dtype=dtype)
        self.zero_grad()
        self._caches: list[dict] = []

    def _recurrent(self, h: np.ndarray, w_hh: np.ndarray) -> np.ndarray:
        """``R h``: ``h (B, H)``, ``w_hh (4, NH, d, d)`` -> ``(B, 4H)``, gate-major."""
        hh = h.reshape(h.shape[0], self.num_heads, -1)  # (B, NH, d)
        return np.einsum("bne,gnje->bgnj", hh, w_hh).reshape(h.shape[0], -1)

    def _layer_forward(self, gx: np.ndarray, w_hh: np.ndarray, state: tuple) -> dict:
        """Every step of one layer; returns the cache (see :meth:`backward`)."""
        T, B, _ = gx.shape
        H = self.hidden_size
        h, c, n, m = state
        m = np.where(n == 0, -np.inf, m)  # an empty memory keeps nothing
        keys = ("h", "c", "n", "ig", "fg", "z", "o", "dlf", "mask")
        cache = {k: np.empty((T, B, H), dtype=gx.dtype) for k in keys}
        cache.update(h0=h, c0=c, n0=n)
        for t in range(T):
            pre = gx[t] + self._recurrent(h, w_hh)  # (B, 4H)
            i_raw, f_raw, z_raw, o_raw = np.split(pre, 4, axis=-1)  # (B, H) each
            exp_gate = self.forget_gate == "exp"
            a = (f_raw if exp_gate else _log_sigmoid(f_raw)) + m
            m = np.maximum(a, i_raw)
            ig, fg = np.exp(i_raw - m), np.exp(a - m)
            z, o = np.tanh(z_raw), sigmoid(o_raw)
            c, n = fg * c + ig * z, fg * n + ig
            h = o * c / n
            step = {"h": h, "c": c, "n": n, "ig": ig, "fg": fg, "z": z, "o": o}
            step["dlf"] = np.ones_like(f_raw) if exp_gate else sigmoid(-f_raw)
            step["mask"] = (a > i_raw) + 0.5 * (a == i_raw)
            for k, v in step.items():
                cache[k][t] = v
        cache["m"] = m
        return cache

    def forward(self, x: np.ndarray, hx: SLSTMState | None = None) -> tuple[np.ndarray, SLSTMState]:
        """x: (T, B, I); hx: :class:`SLSTMState` of (L, B, H) or None. Returns y (T, B, H)
        and the final state."""
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"`x` must be (T, B, {self.input_size}) = (T, B, I), got {x.shape}")
        L, B, H = self.num_layers, x.shape[1], self.hidden_size
        if hx is None:
            hx = SLSTMState(*(np.zeros((L, B, H), dtype=x.dtype) for _ in range(4)))
        elif len(hx) != 4 or any(f.shape != (L, B, H) for f in hx):
            raise ValueError(f"`hx` must be 4 arrays (h, c, n, m) of (L, B, H) = {(L, B, H)}")
        self._caches, finals = [], []
        for layer in range(L):
            gx = x @ self.params[f"weight_ih_l{layer}"].T  # (T, B, 4H)
            if self.bias:
                gx = gx + self.params[f"bias_ih_l{layer}"]
            state = tuple(f[layer] for f in hx)
            cache = self._layer_forward(gx, self.params[f"weight_hh_l{layer}"], state)
            cache["x"] = x
            self._caches.append(cache)
            finals.append((cache["h"][-1], cache["c"][-1], cache["n"][-1], cache["m"]))
            x = cache["h"]
        return x, SLSTMState(*(np.stack(f) for f in zip(*finals, strict=True)))

    def _layer_backward(self, layer: int, dy: np.ndarray, dfinal: tuple) -> tuple:
        """The adjoint recurrence of one layer; adds into ``grads``; returns dx and dstate."""
        k = self._caches[layer]
        w_hh = self.params[f"weight_hh_l{layer}"]
        T, B, H = dy.shape
        heads, d = self.num_heads, H // self.num_heads
        dh, dc, dn, dm = (f.copy() for f in dfinal)
        d_pre = np.empty((T, B, 4 * H), dtype=dy.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + dy[t]
            o, ig, fg, z, c, n = (k[name][t] for name in ("o", "ig", "fg", "z", "c", "n"))
            c_prev = k["c"][t - 1] if t else k["c0"]
            n_prev = k["n"][t - 1] if t else k["n0"]
            d_o = dh * (c / n) * o * (1.0 - o)
            dc = dc + dh * o / n
            dn = dn - dh * o * c / (n * n)
            d_fg, d_ig = dc * c_prev + dn * n_prev, dc * z + dn
            d_z = dc * ig * (1.0 - z * z)
            dm = dm - d_ig * ig - d_fg * fg
            da = d_fg * fg + dm * k["mask"][t]
            d_i = d_ig * ig + dm * (1.0 - k["mask"][t])
            d_pre[t] = np.concatenate([d_i, da * k["dlf"][t], d_z, d_o], axis=-1)
            g4 = d_pre[t].reshape(B, 4, heads, d)  # (B, 4, NH, d)
            dh = np.einsum("bgnj,gnje->bne", g4, w_hh).reshape(B, H)
            dc, dn, dm = dc * fg, dn * fg, da
        h_prev = np.concatenate([k["h0"][None], k["h"][:-1]]).reshape(T, B, heads, d)
        g4 = d_pre.reshape(T, B, 4, heads, d)
        self.grads[f"weight_hh_l{layer}"] += np.einsum("tbgnj,tbne->gnje", g4, h_prev)
        x = k["x"]
        flat = d_pre.reshape(-1, 4 * H)  # (T·B, 4H)
        self.grads[f"weight_ih_l{layer}"] += flat.T @ x.reshape(-1, x.shape[-1])
        if self.bias:
            self.grads[f"bias_ih_l{layer}"] += flat.sum(axis=0)
        return d_pre @ self.params[f"weight_ih_l{layer}"], (dh, dc, dn, dm)

    def backward(
        self, dy: np.ndarray, dh_n: SLSTMState | None = None
    ) -> tuple[np.ndarray, SLSTMState]:
        """dy: (T, B, H); dh_n: gradients of the final state's fields, or None. Adds into
        ``grads``; returns dx (T, B, I) and the initial state's gradients."""
        if not self._caches:
            raise RuntimeError("`backward` needs a `forward` first")
        L = self.num_layers
        zeros = np.zeros((L, *dy.shape[1:]), dtype=dy.dtype)
        dh_n = SLSTMState(zeros, zeros, zeros, zeros) if dh_n is None else dh_n
        dstates = [None] * L
        for layer in range(L - 1, -1, -1):
            dy, dstates[layer] = self._layer_backward(layer, dy, tuple(f[layer] for f in dh_n))
        return dy, SLSTMState(*(np.stack(f) for f in zip(*dstates, strict=True)))
