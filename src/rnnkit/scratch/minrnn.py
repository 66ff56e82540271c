"""minGRU and minLSTM (Feng et al. 2024) in NumPy: sequential forward, backward by hand.

Same parameters and names as :class:`rnnkit.nn.MinGRU` / :class:`rnnkit.nn.MinLSTM`
(``weight_ih_l{l} (G·H, I_l)``, ``bias_ih_l{l} (G·H,)``; blocks z | h, or i | f | h), so a
torch state dict loads with :func:`rnnkit.scratch.load_state_dict`. Unidirectional, no
``lengths`` (the torch layer has both). Per layer, with ``k = x W^T + b`` for all steps::

    minGRU:  w = σ(k_z)                                   (z)
    minLSTM: w = σ(d),  d = softplus(-k_f) - softplus(-k_i)   (i' = i/(f+i); f' = 1 - i')
    a = 1 - w,  b = w ⊙ g(k_h),  h_t = a_t ⊙ h_{t-1} + b_t,  g(x) = x + 0.5 | σ(x)

Backward (δ_t = dL/dh_t through every path, the adjoint of the recurrence)::

    δ_t = dy_t + a_{t+1} ⊙ δ_{t+1}        (δ_{T+1} term: dL/dh_n)
    dL/dw = δ_t ⊙ (g(k_h) - h_{t-1})       (b = w g, a = 1 - w)
    dk_z = dL/dw ⊙ w (1 - w)               minGRU
    dk_i = dL/dd ⊙ σ(-k_i), dk_f = -dL/dd ⊙ σ(-k_f), dL/dd = dL/dw ⊙ w (1 - w)   minLSTM
    dk_h = δ_t ⊙ w ⊙ g'(k_h);  dW = dk^T x,  db = Σ dk,  dx = dk W,  dh_0 = a_1 ⊙ δ_1
"""

from __future__ import annotations

import numpy as np

from rnnkit.scratch.cells import sigmoid
from rnnkit.scratch.modules import Module, check_sizes
from rnnkit.scratch.optim import init_uniform

__all__ = ["MinGRU", "MinLSTM", "MinRNN"]

_GATES = {"mingru": 2, "minlstm": 3}


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def linear_scan(a: np.ndarray, b: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """h_t = a_t * h_{t-1} + b_t from ``h0 (B, H)``; a, b: (T, B, H). Returns h (T, B, H)."""
    h = np.empty_like(b)  # (T, B, H)
    prev = h0
    for t in range(b.shape[0]):
        prev = a[t] * prev + b[t]
        h[t] = prev
    return h


def linear_scan_adjoint(
    a: np.ndarray, dy: np.ndarray, dh_n: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The backward of :func:`linear_scan`: ``delta_t = dy_t + a_{t+1} delta_{t+1}`` (dL/dh_t
    in total), from ``dh_n (B, H)`` or zeros. Returns delta (T, B, H) and dL/dh0 = a_1 delta_1."""
    delta = np.empty_like(dy)  # (T, B, H)
    carry = np.zeros_like(dy[0]) if dh_n is None else dh_n.copy()
    for t in range(dy.shape[0] - 1, -1, -1):
        delta[t] = dy[t] + carry
        carry = a[t] * delta[t]
    return delta, carry


def initial_state(
    x: np.ndarray, hx: np.ndarray | None, input_size: int, num_layers: int, hidden_size: int
) -> np.ndarray:
    """Check ``x (T, B, I)`` and return ``hx (L, B, H)`` (zeros when None) of a stack of
    one-state layers (minGRU, minLSTM, RG-LRU)."""
    if x.ndim != 3 or x.shape[-1] != input_size:
        raise ValueError(f"`x` must be (T, B, {input_size}) = (T, B, I), got {x.shape}")
    shape = (num_layers, x.shape[1], hidden_size)
    if hx is None:
        return np.zeros(shape, dtype=x.dtype)
    if hx.shape != shape:
        raise ValueError(f"`hx` must be (L, B, H) = {shape}, got {hx.shape}")
    return hx


class MinRNN(Module):
    """A stacked minGRU/minLSTM layer (see the module doc). x: (T, B, I) -> y (T, B, H)."""

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        if kind not in _GATES:
            raise ValueError(f"`kind` must be one of {sorted(_GATES)}, got {kind!r}")
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        self.kind, self.hidden_size, self.num_layers = kind, hidden_size, num_layers
        self.input_size, self.bias = input_size, bias
        rng = rng if rng is not None else np.random.default_rng()
        gates = _GATES[kind] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            self.params[f"weight_ih_l{layer}"] = init_uniform(
                (gates, width), hidden_size, rng, dtype
            )
            if bias:
                self.params[f"bias_ih_l{layer}"] = init_uniform((gates,), hidden_size, rng, dtype)
        self.zero_grad()
        self._caches: list[tuple] = []

    def _gates(self, k: np.ndarray) -> tuple[np.ndarray, ...]:
        """``w, g(k_h), g'(k_h)`` from ``k (T, B, G·H)``, each (T, B, H)."""
        H = self.hidden_size
        k_h = k[..., -H:]  # (T, B, H)
        if self.kind == "mingru":
            w = sigmoid(k[..., :H])
        else:
            w = sigmoid(_softplus(-k[..., H : 2 * H]) - _softplus(-k[..., :H]))
        s = sigmoid(k_h)
        pos = k_h >= 0
        return w, np.where(pos, k_h + 0.5, s), np.where(pos, 1.0, s * (1.0 - s))

    def forward(self, x: np.ndarray, hx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x: (T, B, I); hx: (L, B, H) or None. Returns y (T, B, H) and h_n (L, B, H)."""
        hx = initial_state(x, hx, self.input_size, self.num_layers, self.hidden_size)
        self._caches, finals = [], []
        for layer in range(self.num_layers):
            W = self.params[f"weight_ih_l{layer}"]
            k = x @ W.T  # (T, B, G·H)
            if self.bias:
                k = k + self.params[f"bias_ih_l{layer}"]
            w, gh, dgh = self._gates(k)
            a, b = 1.0 - w, w * gh  # (T, B, H) each
            h = linear_scan(a, b, hx[layer])  # (T, B, H)
            self._caches.append((x, k, w, gh, dgh, h, hx[layer]))
            finals.append(h[-1])
            x = h
        return x, np.stack(finals)

    def backward(
        self, dy: np.ndarray, dh_n: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """dy: (T, B, H), dh_n: (L, B, H) or None. Adds into ``grads``; returns dx, dhx."""
        if not self._caches:
            raise RuntimeError("`backward` needs a `forward` first")
        H = self.hidden_size
        dhx = np.zeros((self.num_layers, *dy.shape[1:]), dtype=dy.dtype)  # (L, B, H)
        for layer in range(self.num_layers - 1, -1, -1):
            x, k, w, gh, dgh, h, h0 = self._caches[layer]
            a = 1.0 - w
            delta, dhx[layer] = linear_scan_adjoint(a, dy, None if dh_n is None else dh_n[layer])
            h_prev = np.concatenate([h0[None], h[:-1]])  # (T, B, H): h_{t-1}
            dlogit = delta * (gh - h_prev) * w * a  # dL/d(logit of w)
            dk_h = delta * w * dgh
            if self.kind == "mingru":
                dk = np.concatenate([dlogit, dk_h], axis=-1)  # (T, B, 2H)
            else:
                k_i, k_f = k[..., :H], k[..., H : 2 * H]
                dk = np.concatenate(
                    [dlogit * sigmoid(-k_i), -dlogit * sigmoid(-k_f), dk_h], axis=-1
                )  # (T, B, 3H)
            W = self.params[f"weight_ih_l{layer}"]
            flat = dk.reshape(-1, dk.shape[-1])  # (T·B, G·H)
            self.grads[f"weight_ih_l{layer}"] += flat.T @ x.reshape(-1, x.shape[-1])
            if self.bias:
                self.grads[f"bias_ih_l{layer}"] += flat.sum(axis=0)
            dy = dk @ W  # (T, B, I_l): the gradient reaching the layer below
        return dy, dhx


class MinGRU(MinRNN):
    """minGRU in NumPy (see the module doc). ``MinGRU(I, H, L, bias=True, rng=..., dtype=...)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("mingru", input_size, hidden_size, num_layers, **kwargs)


class MinLSTM(MinRNN):
    """minLSTM in NumPy (see the module doc); arguments as :class:`MinGRU`."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("minlstm", input_size, hidden_size, num_layers, **kwargs)
