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
    W_hr: np.ndarray | None = None,
) -> tuple[np.ndarray, State, tuple]:
    """Run one cell over time. gx: (T, B, G*H) input pre-activations; state: tuple of (B, H);
    mask: (T, B) bool, False at padded steps; W_hr: (P, H) LSTM projection or None.
    Returns outputs (T, B, H) ((T, B, P) with a projection), final state, cache."""
    T = gx.shape[0]
    B, Hout = state[0].shape  # Hout = H, or P with a projection
    out = np.empty((T, B, Hout), dtype=gx.dtype)  # (T, B, Hout) h at every step
    h_prev = np.empty((T, B, Hout), dtype=gx.dtype)  # (T, B, Hout) h entering every step
    m = None if W_hr is None else np.empty((T, B, W_hr.shape[1]), gx.dtype)  # (T, B, H)
    caches: list = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        h_prev[t] = state[0]
        new, caches[t] = ops.step(gx[t], state, W_hh, b_hh)
        if W_hr is not None:  # LSTM projection: h' = (o * tanh(c')) @ W_hr.T, (B, P)
            m[t] = new[0]
            new = (new[0] @ W_hr.T, *new[1:])
        if mask is not None:  # padded step: keep the old state
            valid = mask[t][:, None]  # (B, 1)
            new = tuple(np.where(valid, a, b) for a, b in zip(new, state, strict=True))
        state = new
        out[t] = state[0]
    if mask is not None:
        out *= mask[:, :, None]  # zero output at padded steps
    return out, state, (caches, h_prev, mask, reverse, m)


def scan_backward(
    ops: CellOps,
    dout: np.ndarray,
    dstate: State,
    cache: tuple,
    W_hh: np.ndarray,
    W_hr: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, State, np.ndarray | None]:
    """BPTT through :func:`scan`. dout: (T, B, H) gradient of the outputs; dstate: gradient of
    the final state. Returns ``dgx, dgh`` (T, B, G*H), ``h_prev`` (T, B, H), the gradient
    of the initial state, and ``dW_hr`` (P, H) with a projection (else None)."""
    caches, h_prev, mask, reverse, m = cache
    T, B = dout.shape[:2]
    dgx = np.empty((T, B, W_hh.shape[0]), dtype=dout.dtype)  # (T, B, G*H)
    dgh = dgx if ops.gates != 3 else np.empty_like(dgx)  # differ only for GRU
    dh_proj = None if W_hr is None else np.empty_like(dout)  # (T, B, P) dL/dh' per step
    if mask is not None:
        dout = dout * mask[:, :, None]  # out_t = m_t * h_t -> dL/dh_t from the output
    dstate = tuple(dstate)
    for t in range(T) if reverse else range(T - 1, -1, -1):  # forward order, reversed
        dstate = (dstate[0] + dout[t], *dstate[1:])  # h_t feeds the output and step t+1
        if mask is not None:  # state_t = m * new + (1 - m) * state_{t-1}
            valid = mask[t][:, None]  # (B, 1)
            d_keep = tuple(np.where(valid, 0.0, d) for d in dstate)
            dstate = tuple(np.where(valid, d, 0.0) for d in dstate)
        if W_hr is not None:  # h' = m_t @ W_hr.T -> dL/dm_t = dh' @ W_hr
            dh_proj[t] = dstate[0]
            dstate = (dstate[0] @ W_hr, *dstate[1:])
        dgx[t], dgh_t, dstate = ops.step_backward(dstate, caches[t], W_hh)
        if dgh is not dgx:
            dgh[t] = dgh_t
        if mask is not None:
            dstate = tuple(a + b for a, b in zip(dstate, d_keep, strict=True))
    dW_hr = None
    if W_hr is not None:  # sum_t dh'_t.T @ m_t as one matmul
        dW_hr = dh_proj.reshape(T * B, -1).T @ m.reshape(T * B, -1)  # (P, H)
    return dgx, dgh, h_prev, dstate, dW_hr


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
        proj_size: LSTM only: P > 0 projects h to P features (``weight_hr_l{k}`` (P, H)),
            so h, the outputs and the next layer's input have P features instead of H.

    Inputs of ``forward(x, hx=None, lengths=None)``: x (T, B, I) or (T, I) unbatched;
    hx (L*D, B, H) (``LSTMState(h, c)`` for LSTM), zeros if None; lengths (B,) ints.
    Outputs: y (T, B, D*H) and the final state (L*D, B, H) (an ``LSTMState`` for LSTM).
    With ``proj_size`` P, h, h0 and y have P features where these say H (c keeps H).
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
        proj_size: int = 0,
    ) -> None:
        super().__init__()
        if mode not in CELLS:
            raise ValueError(f"`mode` must be one of {sorted(CELLS)}, got {mode!r}")
        for name, value in [("input_size", input_size), ("hidden_size", hidden_size)]:
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be >= 1, got {num_layers}")
        if proj_size and (mode != "LSTM" or not 0 < proj_size < hidden_size):
            raise ValueError(
                f"`proj_size` must be 0, or in (0, hidden_size={hidden_size}) for an LSTM; "
                f"got {proj_size} for {mode}"
            )
        self.proj_size = proj_size
        self.mode, self.ops = mode, CELLS[mode]
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        self.num_directions = 2 if bidirectional else 1
        self.dtype = np.dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng()
        G, H, D = self.ops.gates, hidden_size, self.num_directions
        P = proj_size or H  # the size of h (H, or the projection's P)
        self._zero_bias = np.zeros(G * H, dtype=self.dtype)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else D * P
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (G * H, in_size), "weight_hh": (G * H, P)}
                if bias:
                    shapes.update({"bias_ih": (G * H,), "bias_hh": (G * H,)})
                if proj_size:
                    shapes["weight_hr"] = (P, H)
                for name, shape in shapes.items():
                    self.params[name + sfx] = init_uniform(shape, H, rng, self.dtype)
        self.zero_grad()
        self._cache: tuple | None = None

    def _weights(self, layer: int, d: int) -> tuple[np.ndarray, ...]:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        p, zero = self.params, self._zero_bias
        b_ih = p["bias_ih" + sfx] if self.bias else zero
        b_hh = p["bias_hh" + sfx] if self.bias else zero
        W_hr = p["weight_hr" + sfx] if self.proj_size else None
        return sfx, p["weight_ih" + sfx], p["weight_hh" + sfx], b_ih, b_hh, W_hr

    def _state_sizes(self) -> tuple[int, ...]:
        """Features of each state part: (H,), (H, H) for LSTM, (P, H) with a projection."""
        H = self.hidden_size
        return (self.proj_size or H, H) if self.ops.has_cell_state else (H,)

    def _initial_state(self, hx, B: int) -> list[State]:
        """hx -> one state tuple per (layer, direction), index layer * D + d."""
        LD, sizes = self.num_layers * self.num_directions, self._state_sizes()
        if hx is None:
            return [tuple(np.zeros((B, n), dtype=self.dtype) for n in sizes)] * LD
        if self.ops.has_cell_state and (not isinstance(hx, tuple) or len(hx) != 2):
            raise ValueError("`hx` of an LSTM must be a pair (h0, c0)")
        parts = (hx,) if not self.ops.has_cell_state else hx
        arrays = [np.asarray(a, dtype=self.dtype) for a in parts]
        for a, n in zip(arrays, sizes, strict=True):
            if a.shape != (LD, B, n):
                raise ValueError(f"`hx` must have shape (L*D, B, H) = {(LD, B, n)}, got {a.shape}")
        return [tuple(a[k] for a in arrays) for k in range(LD)]

    def forward(
        self,
        x: np.ndarray,
        hx: np.ndarray | LSTMState | None = None,
        lengths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | LSTMState]:
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
                _, W_ih, W_hh, b_ih, b_hh, W_hr = self._weights(layer, d)
                # the input part for all T at once: one (T*B, In) @ (In, G*H) matmul
                gx = (inp.reshape(T * B, -1) @ W_ih.T + b_ih).reshape(T, B, -1)  # (T, B, G*H)
                state0 = states0[layer * D + d]
                out, final, cache = scan(self.ops, gx, state0, W_hh, b_hh, mask, d == 1, W_hr)
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

    def backward(
        self, dy: np.ndarray, dstate: np.ndarray | LSTMState | None = None
    ) -> tuple[np.ndarray, np.ndarray | LSTMState]:
        """BPTT: dy like y, dstate like the final state (or None). Returns ``dx`` (like x) and
        the gradient of ``hx``; parameter gradients are added into ``self.grads``."""
        if self._cache is None:
            raise RuntimeError("`backward` needs a `forward` first")
        caches, T, B, unbatched = self._cache
        D, sizes = self.num_directions, self._state_sizes()
        LD = self.num_layers * D
        Hout = sizes[0]  # features of h and of each direction's output (H, or P)
        dy = np.asarray(dy, dtype=self.dtype)
        if unbatched:
            dy = dy[:, None]  # (T, D*H) -> (T, 1, D*H)
            dstate = None if dstate is None else _map_state(dstate, lambda a: a[:, None])
        elif self.batch_first:
            dy = dy.transpose(1, 0, 2)  # (B, T, D*H) -> (T, B, D*H)
        if dstate is None:
            dfinal = tuple(np.zeros((LD, B, n), dtype=self.dtype) for n in sizes)
        else:
            parts = tuple(dstate) if self.ops.has_cell_state else (dstate,)
            dfinal = tuple(np.asarray(a, dtype=self.dtype) for a in parts)  # each (LD, B, .)
        dh0 = tuple(np.empty_like(a) for a in dfinal)  # each (L*D, B, .)
        dinp = dy  # (T, B, D*H) gradient of the top layer's output
        for layer in range(self.num_layers - 1, -1, -1):
            dbelow = None
            for d in range(D):
                sfx, W_ih, W_hh, _, _, W_hr = self._weights(layer, d)
                inp, cache = caches[layer * D + d]
                dout = dinp[:, :, d * Hout : (d + 1) * Hout]  # (T, B, H) this direction's share
                k = layer * D + d
                dgx, dgh, h_prev, ds0, dW_hr = scan_backward(
                    self.ops, dout, tuple(a[k] for a in dfinal), cache, W_hh, W_hr
                )
                for a, g in zip(dh0, ds0, strict=True):
                    a[k] = g
                if W_hr is not None:
                    self.grads["weight_hr" + sfx] += dW_hr
                G = dgx.shape[-1]
                dgx2, dgh2 = dgx.reshape(T * B, G), dgh.reshape(T * B, G)  # (T*B, G*H)
                # gx = inp @ W_ih.T + b_ih and gh = h_prev @ W_hh.T + b_hh, summed over T, B
                self.grads["weight_ih" + sfx] += dgx2.T @ inp.reshape(T * B, -1)
                self.grads["weight_hh" + sfx] += dgh2.T @ h_prev.reshape(T * B, Hout)
                if self.bias:
                    self.grads["bias_ih" + sfx] += dgx2.sum(axis=0)
                    self.grads["bias_hh" + sfx] += dgh2.sum(axis=0)
                # gx = inp @ W_ih.T -> dL/dinp, again one matmul for all T
                dx = (dgx2 @ W_ih).reshape(T, B, -1)  # (T*B, In) -> (T, B, In)
                dbelow = dx if dbelow is None else dbelow + dx
            dinp = dbelow
        dx, dhx = dinp, dh0
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
    """LSTM with gates i, f, g, o (torch's order); torch.nn.LSTM's arguments, ``proj_size``
    included."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, **kwargs)


class GRU(Recurrent):
    """GRU with gates r, z, n and ``b_hn`` inside the reset product; torch.nn.GRU's arguments."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, **kwargs)
