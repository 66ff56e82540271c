"""RG-LRU (Hawk, De et al. 2024) in NumPy: sequential forward, backward by hand.

Same parameters and names as :class:`rnnkit.nn.RGLRU` (``weight_ih_l{l} (3H, I_l)``,
``bias_ih_l{l} (3H,)``, blocks u | r | i, and ``lambda_l{l} (H,)``), so a torch state dict
loads with :func:`rnnkit.scratch.load_state_dict`. Unidirectional, no ``lengths`` (the torch
layer has both). Per layer, with ``k = x W^T + b`` for all steps and ``c = 8``::

    r = σ(k_r),  i = σ(k_i),  log a = -c r softplus(-Λ),  a = exp(log a)
    s = sqrt(1 - a²),  b = s ⊙ i ⊙ u,  h_t = a_t ⊙ h_{t-1} + b_t

Backward (δ_t = dL/dh_t through every path, the adjoint of the recurrence)::

    δ_t = dy_t + a_{t+1} ⊙ δ_{t+1}                      (δ_{T+1} term: dL/dh_n)
    du = δ s i,  di = δ s u,  ds = δ i u
    d log a = δ h_{t-1} a + ds · ds/dy · (-2 a²)        (y = 1 - a², ds/dy = 1 / (2 s))
    dk_r = d log a · (-c softplus(-Λ)) · r (1 - r),  dk_i = di · i (1 - i)
    dΛ = Σ_{t,b} d log a · (-c r) · (-σ(-Λ))
    dW = dk^T x,  db = Σ dk,  dx = dk W,  dh_0 = a_1 δ_1

``ds/dy`` is bounded by :data:`SQRT_GRAD_MAX` where ``1 - a² -> 0``, exactly as the torch
layer (:mod:`rnnkit.functional.rglru`) bounds it.
"""

from __future__ import annotations

import numpy as np

from rnnkit.scratch.cells import sigmoid
from rnnkit.scratch.minrnn import _softplus, initial_state, linear_scan, linear_scan_adjoint
from rnnkit.scratch.modules import Module, check_sizes
from rnnkit.scratch.optim import init_uniform

__all__ = ["C", "SQRT_GRAD_MAX", "RGLRU"]

C = 8.0
"""The paper's constant ``c`` in ``a_t = a^(c r_t)``."""

SQRT_GRAD_MAX = 1000.0
"""Bound on ``d sqrt(y)/dy`` (the torch layer's)."""


def init_lambda(hidden_size: int, rng: np.random.Generator, dtype: type) -> np.ndarray:
    """``Λ (H,)`` with ``σ(Λ)^c`` uniform in [0.9, 0.999] (the paper's init)."""
    a = rng.uniform(0.9, 0.999, hidden_size) ** (1.0 / C)
    return np.log(a / (1.0 - a)).astype(dtype)


class RGLRU(Module):
    """A stacked RG-LRU layer (see the module doc). x: (T, B, I) -> y (T, B, H)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.input_size, self.bias = input_size, bias
        rng = rng if rng is not None else np.random.default_rng()
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            shape = (3 * hidden_size, width)
            self.params[f"weight_ih_l{layer}"] = init_uniform(shape, hidden_size, rng, dtype)
            if bias:
                self.params[f"bias_ih_l{layer}"] = init_uniform(
                    (3 * hidden_size,), hidden_size, rng, dtype
                )
            self.params[f"lambda_l{layer}"] = init_lambda(hidden_size, rng, dtype)
        self.zero_grad()
        self._caches: list[tuple] = []

    def _coeffs(self, k: np.ndarray, lam: np.ndarray) -> dict[str, np.ndarray]:
        """The gates of ``k (T, B, 3H)``: u, r, i, softplus(-Λ), a, s = sqrt(1 - a²), b."""
        u, k_r, k_i = np.split(k, 3, axis=-1)  # (T, B, H) each
        r, i, sp = sigmoid(k_r), sigmoid(k_i), _softplus(-lam)
        log_a = -C * r * sp
        s = np.sqrt(-np.expm1(2.0 * log_a))  # 1 - a² without cancellation near a = 1
        return {"u": u, "r": r, "i": i, "sp": sp, "a": np.exp(log_a), "s": s, "b": s * i * u}

    def forward(self, x: np.ndarray, hx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x: (T, B, I); hx: (L, B, H) or None. Returns y (T, B, H) and h_n (L, B, H)."""
        hx = initial_state(x, hx, self.input_size, self.num_layers, self.hidden_size)
        self._caches, finals = [], []
        for layer in range(self.num_layers):
            k = x @ self.params[f"weight_ih_l{layer}"].T  # (T, B, 3H)
            if self.bias:
                k = k + self.params[f"bias_ih_l{layer}"]
            g = self._coeffs(k, self.params[f"lambda_l{layer}"])
            h = linear_scan(g["a"], g["b"], hx[layer])  # (T, B, H)
            self._caches.append((x, g, h, hx[layer]))
            finals.append(h[-1])
            x = h
        return x, np.stack(finals)

    def backward(
        self, dy: np.ndarray, dh_n: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """dy: (T, B, H), dh_n: (L, B, H) or None. Adds into ``grads``; returns dx, dhx."""
        if not self._caches:
            raise RuntimeError("`backward` needs a `forward` first")
        dhx = np.zeros((self.num_layers, *dy.shape[1:]), dtype=dy.dtype)  # (L, B, H)
        for layer in range(self.num_layers - 1, -1, -1):
            x, g, h, h0 = self._caches[layer]
            a = g["a"]
            delta, dhx[layer] = linear_scan_adjoint(a, dy, None if dh_n is None else dh_n[layer])
            h_prev = np.concatenate([h0[None], h[:-1]])  # (T, B, H): h_{t-1}
            ds = delta * g["i"] * g["u"]
            dsdy = 1.0 / np.maximum(2.0 * g["s"], 1.0 / SQRT_GRAD_MAX)
            dlog_a = delta * h_prev * a + ds * dsdy * (-2.0 * a * a)
            dk_r = dlog_a * (-C * g["sp"]) * g["r"] * (1.0 - g["r"])
            dk_i = delta * g["s"] * g["u"] * g["i"] * (1.0 - g["i"])
            dk = np.concatenate([delta * g["s"] * g["i"], dk_r, dk_i], axis=-1)  # (T, B, 3H)
            lam = self.params[f"lambda_l{layer}"]
            dsp = (dlog_a * (-C * g["r"])).sum(axis=(0, 1))  # (H,)
            self.grads[f"lambda_l{layer}"] += dsp * -sigmoid(-lam)
            W = self.params[f"weight_ih_l{layer}"]
            flat = dk.reshape(-1, dk.shape[-1])  # (T·B, 3H)
            self.grads[f"weight_ih_l{layer}"] += flat.T @ x.reshape(-1, x.shape[-1])
            if self.bias:
                self.grads[f"bias_ih_l{layer}"] += flat.sum(axis=0)
            dy = dk @ W  # (T, B, I_l): the gradient reaching the layer below
        return dy, dhx
