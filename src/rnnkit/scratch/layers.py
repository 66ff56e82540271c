"""Recurrent layers in NumPy: stacked, bidirectional, variable lengths, full BPTT.

``RNN``, ``LSTM`` and ``GRU`` take ``torch.nn``'s constructor arguments and parameter names
(``weight_ih_l0``, ``bias_hh_l1_reverse``) and return the same outputs for the same weights.
``backward`` is backpropagation through time written out: the scan runs backwards over the
cached steps of every layer and direction (see ``docs/derivations/bptt.md``).

Variable lengths follow torch's packed sequences: a padded step (t >= length) leaves the
state unchanged and outputs zeros, the final state is each row's last valid step, and the
reverse direction starts at each row's last valid step.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from rnnkit.scratch.cells import CELLS, CellOps
from rnnkit.scratch.modules import Module
from rnnkit.scratch.optim import init_uniform

__all__ = ["GRU", "LSTM", "RNN", "LSTMState", "Recurrent", "scan", "scan_backward"]

logger = logging.getLogger(__name__)

State = tuple[np.ndarray, ...]


class LSTMState(NamedTuple):
    """LSTM state: ``h`` and ``c``, each (L*D, B, H) for a layer or (B, H) for a cell."""

    h: np.ndarray
    c: np.ndarray


def scan(
    ops: CellOps,
    gx: np.ndarray,
    state: State,
    W_hh: np.ndarray,
    b_hh: np.ndarray,
    mask: np.ndarray | None = None,
    reverse: bool = False,
) -> tuple[np.ndarray, State, tuple]:
    """Run one cell over time. gx: (T, B, G*H) input pre-activations; state: tuple of (B, H);
    mask: (T, B) bool, False at padded steps. Returns outputs (T, B, H), final state, cache."""
    T = gx.shape[0]
    B, H = state[0].shape
    out = np.empty((T, B, H), dtype=gx.dtype)  # (T, B, H) h at every step
    h_prev = np.empty((T, B, H), dtype=gx.dtype)  # (T, B, H) h entering every step
    caches: list = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        h_prev[t] = state[0]
        new, caches[t] = ops.step(gx[t], state, W_hh, b_hh)
        if mask is not None:  # padded step: keep the old state
            m = mask[t][:, None]  # (B, 1)
            new = tuple(np.where(m, a, b) for a, b in zip(new, state, strict=True))
        state = new
        out[t] = state[0]
    if mask is not None:
        out *= mask[:, :, None]  # zero output at padded steps
    return out, state, (caches, h_prev, mask, reverse)


def scan_backward(
    ops: CellOps, dout: np.ndarray, dstate: State, cache: tuple, W_hh: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, State]:
    """BPTT through :func:`scan`. dout: (T, B, H) gradient of the outputs; dstate: gradient of
    the final state. Returns ``dgx, dgh`` (T, B, G*H), ``h_prev`` (T, B, H) and the gradient
    of the initial state."""
    caches, h_prev, mask, reverse = cache
    T = dout.shape[0]
    dgx = np.empty((T, *dout.shape[1:-1], ops.gates * dout.shape[-1]), dtype=dout.dtype)
    dgh = dgx if ops.gates != 3 else np.empty_like(dgx)  # differ only for GRU
    if mask is not None:
        dout = dout * mask[:, :, None]  # out_t = m_t * h_t -> dL/dh_t from the output
    dstate = tuple(dstate)
    for t in range(T) if reverse else range(T - 1, -1, -1):  # forward order, reversed
        dstate = (dstate[0] + dout[t], *dstate[1:])  # h_t feeds the output and step t+1
        if mask is not None:  # state_t = m * new + (1 - m) * state_{t-1}
            m = mask[t][:, None]  # (B, 1)
            d_keep = tuple(np.where(m, 0.0, d) for d in dstate)
            dstate = tuple(np.where(m, d, 0.0) for d in dstate)
        dgx[t], dgh_t, dstate = ops.step_backward(dstate, caches[t], W_hh)
        if dgh is not dgx:
            dgh[t] = dgh_t
        if mask is not None:
            dstate = tuple(a + b for a, b in zip(dstate, d_keep, strict=True))
    return dgx, dgh, h_prev, dstate


class Recurrent(Module):
    """A stack of L recurrent layers, D directions each. Parameters use torch's names.

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"RNN_SIGMOID"``, ``"LSTM"`` or ``"GRU"``.
        input_size: I. hidden_size: H. num_layers: L.
        bias: whether the layers have ``bias_ih`` / ``bias_hh``.
        batch_first: inputs and outputs are (B, T, .) instead of (T, B, .).
        bidirectional: D = 2 when True.
        dtype: float64 (exact, for checks) or float32 (fast).
        rng: the generator for the initial weights (uniform +-1/sqrt(H), as torch).

    Inputs of ``forward(x, hx=None, lengths=None)``: x (T, B, I) or (T, I) unbatched;
    hx (L*D, B, H) (``LSTMState(h, c)`` for LSTM), zeros if None; lengths (B,) ints.
    Outputs: y (T, B, D*H) and the final state (L*D, B, H) (an ``LSTMState`` for LSTM).
    ``backward(dy, dstate=None)`` returns ``dx`` and the gradient of ``hx``, and adds the
    parameter gradients into ``self.grads``.
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        dtype: type = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if mode not in CELLS:
            raise ValueError(f"`mode` must be one of {sorted(CELLS)}, got {mode!r}")
        for name, value in [("input_size", input_size), ("hidden_size", hidden_size)]:
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers}")
        self.mode, self.ops = mode, CELLS[mode]
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.num_directions = 2 if bidirectional else 1
        self.dtype = np.dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng()
        G, H, D = self.ops.gates, hidden_size, self.num_directions
        self._zero_bias = np.zeros(G * H, dtype=self.dtype)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else D * H
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (G * H, in_size), "weight_hh": (G * H, H)}
                if bias:
                    shapes.update({"bias_ih": (G * H,), "bias_hh": (G * H,)})
                for name, shape in shapes.items():
                    self.params[name + sfx] = init_uniform(shape, H, rng, self.dtype)
        self.zero_grad()
        self._cache: tuple | None = None

    def _weights(self, layer: int, d: int) -> tuple[np.ndarray, ...]:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        p, zero = self.params, self._zero_bias
        b_ih = p["bias_ih" + sfx] if self.bias else zero
        b_hh = p["bias_hh" + sfx] if self.bias else zero
        return sfx, p["weight_ih" + sfx], p["weight_hh" + sfx], b_ih, b_hh

    def _initial_state(self, hx, B: int) -> list[State]:
        """hx -> one state tuple per (layer, direction), index layer * D + d."""
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        parts = (hx,) if not self.ops.has_cell_state else hx
        if hx is None:
            zero = np.zeros((B, H), dtype=self.dtype)
            return [(zero,) * (2 if self.ops.has_cell_state else 1)] * LD
        if self.ops.has_cell_state and (not isinstance(hx, tuple) or len(hx) != 2):
            raise ValueError("`hx` of an LSTM must be a pair (h0, c0)")
        arrays = [np.asarray(a, dtype=self.dtype) for a in parts]
        for a in arrays:
            if a.shape != (LD, B, H):
                raise ValueError(f"`hx` must have shape (L*D, B, H) = {(LD, B, H)}, got {a.shape}")
        return [tuple(a[k] for a in arrays) for k in range(LD)]

    def forward(self, x: np.ndarray, hx=None, lengths: np.ndarray | None = None):
        """y (T, B, D*H), final state (L*D, B, H); see the class docstring."""
        x = np.asarray(x, dtype=self.dtype)
        unbatched = x.ndim == 2
        if x.ndim not in (2, 3):
            raise ValueError(f"`x` must be (T, B, I) or (T, I), got shape {x.shape}")
        if unbatched:
            x = x[:, None, :]  # (T, I) -> (T, 1, I)
            hx = None if hx is None else _map_state(hx, lambda a: np.asarray(a)[:, None])
        elif self.batch_first:
            x = x.transpose(1, 0, 2)  # (B, T, I) -> (T, B, I)
        T, B, I = x.shape
        if I != self.input_size:
            raise ValueError(f"input has {I} features, the layer expects {self.input_size}")
        mask = None
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > T:
                raise ValueError(
                    f"`lengths` must be (B,) = ({B},) ints in [1, T={T}], got {lengths!r}"
                )
            mask = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
        states0 = self._initial_state(hx, B)
        D, finals, caches, inp = self.num_directions, [], [], x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                _, W_ih, W_hh, b_ih, b_hh = self._weights(layer, d)
                # the input part for all T at once: one (T*B, In) @ (In, G*H) matmul
                gx = (inp.reshape(T * B, -1) @ W_ih.T + b_ih).reshape(T, B, -1)  # (T, B, G*H)
                out, final, cache = scan(
                    self.ops, gx, states0[layer * D + d], W_hh, b_hh, mask, reverse=d == 1
                )
                outs.append(out)
                finals.append(final)
                caches.append((inp, cache))
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=-1)  # (T, B, D*H)
        self._cache = (caches, T, B, unbatched)
        y = inp
        final = tuple(np.stack(k) for k in zip(*finals, strict=True))  # each (L*D, B, H)
        if unbatched:
            y, final = y[:, 0], tuple(a[:, 0] for a in final)  # drop B = 1
        elif self.batch_first:
            y = y.transpose(1, 0, 2)  # (T, B, D*H) -> (B, T, D*H)
        return y, LSTMState(*final) if self.ops.has_cell_state else final[0]

    def backward(self, dy: np.ndarray, dstate=None):
        """BPTT: dy like y, dstate like the final state (or None). Returns ``dx`` (like x) and
        the gradient of ``hx``; parameter gradients are added into ``self.grads``."""
        if self._cache is None:
            raise RuntimeError("`backward` needs a `forward` first")
        caches, T, B, unbatched = self._cache
        H, D, LD = self.hidden_size, self.num_directions, self.num_layers * self.num_directions
        dy = np.asarray(dy, dtype=self.dtype)
        if unbatched:
            dy = dy[:, None]  # (T, D*H) -> (T, 1, D*H)
            dstate = None if dstate is None else _map_state(dstate, lambda a: a[:, None])
        elif self.batch_first:
            dy = dy.transpose(1, 0, 2)  # (B, T, D*H) -> (T, B, D*H)
        n_state = 2 if self.ops.has_cell_state else 1
        if dstate is None:
            dfinal = np.zeros((n_state, LD, B, H), dtype=self.dtype)
        else:
            parts = tuple(dstate) if self.ops.has_cell_state else (dstate,)
            dfinal = np.stack([np.asarray(a, dtype=self.dtype) for a in parts])  # (n, LD, B, H)
        dh0 = np.empty_like(dfinal)  # (n, L*D, B, H)
        dinp = dy  # (T, B, D*H) gradient of the top layer's output
        for layer in range(self.num_layers - 1, -1, -1):
            dbelow = None
            for d in range(D):
                sfx, W_ih, W_hh, _, _ = self._weights(layer, d)
                inp, cache = caches[layer * D + d]
                dout = dinp[:, :, d * H : (d + 1) * H]  # (T, B, H) this direction's share
                k = layer * D + d
                dgx, dgh, h_prev, ds0 = scan_backward(
                    self.ops, dout, tuple(dfinal[:, k]), cache, W_hh
                )
                dh0[:, k] = ds0
                G = dgx.shape[-1]
                dgx2, dgh2 = dgx.reshape(T * B, G), dgh.reshape(T * B, G)  # (T*B, G*H)
                # gx = inp @ W_ih.T + b_ih and gh = h_prev @ W_hh.T + b_hh, summed over T, B
                self.grads["weight_ih" + sfx] += dgx2.T @ inp.reshape(T * B, -1)
                self.grads["weight_hh" + sfx] += dgh2.T @ h_prev.reshape(T * B, H)
                if self.bias:
                    self.grads["bias_ih" + sfx] += dgx2.sum(axis=0)
                    self.grads["bias_hh" + sfx] += dgh2.sum(axis=0)
                # gx = inp @ W_ih.T -> dL/dinp, again one matmul for all T
                dx = (dgx2 @ W_ih).reshape(T, B, -1)  # (T*B, In) -> (T, B, In)
                dbelow = dx if dbelow is None else dbelow + dx
            dinp = dbelow
        dx = dinp
        dhx = tuple(dh0)
        if unbatched:
            dx, dhx = dx[:, 0], tuple(a[:, 0] for a in dhx)  # drop B = 1
        elif self.batch_first:
            dx = dx.transpose(1, 0, 2)  # (T, B, I) -> (B, T, I)
        return dx, LSTMState(*dhx) if self.ops.has_cell_state else dhx[0]

    def state_at(self, t: int) -> np.ndarray | LSTMState:
        """The state (L, B, H) entering time step t (0 <= t < T) of the last forward, as an
        ``hx`` to restart from (truncated BPTT). Unidirectional layers only."""
        if self._cache is None or self.num_directions != 1:
            raise RuntimeError("`state_at` needs a forward of a unidirectional layer first")
        caches, T, _, _ = self._cache
        if not 0 <= t < T:
            raise ValueError(f"`t` must be in [0, {T}), got {t} (the final state is returned)")
        # scan's cache: (step caches, h entering each step, mask, reverse)
        h = np.stack([cache[1][t] for _, cache in caches])  # (L, B, H)
        if not self.ops.has_cell_state:
            return h
        c = np.stack([cache[0][t][1] for _, cache in caches])  # lstm_step cache: (gates, c, .)
        return LSTMState(h, c)


def _map_state(state, fn):
    return LSTMState(*(fn(a) for a in state)) if isinstance(state, tuple) else fn(state)


class RNN(Recurrent):
    """Elman RNN, ``nonlinearity`` in {"tanh", "relu", "sigmoid"}; torch.nn.RNN's arguments."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        **kwargs,
    ) -> None:
        if nonlinearity not in ("tanh", "relu", "sigmoid"):
            raise ValueError(
                f"`nonlinearity` must be 'tanh', 'relu' or 'sigmoid', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, **kwargs
        )


class LSTM(Recurrent):
    """LSTM with gates i, f, g, o (torch's order); torch.nn.LSTM's arguments (no proj_size)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, **kwargs)


class GRU(Recurrent):
    """GRU with gates r, z, n and ``b_hn`` inside the reset product; torch.nn.GRU's arguments."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, **kwargs)
