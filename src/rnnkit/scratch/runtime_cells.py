"""Forward-only recurrent layers with rnnkit's options, in NumPy: layer norm and zoneout.

The scratch engine's :class:`~rnnkit.scratch.layers.Recurrent` runs torch.nn's cells (with
their backward); an exported network may also have the options of
:mod:`rnnkit.functional.cells`, written out here for inference, line for line with them
(σ the logistic sigmoid, ``LN_G`` each of the G gate blocks normalised over its H units)::

    gx = LN_G(x W_ih^T) ⊙ γ_ih + b_ih           gh = LN_G(h W_hh^T) ⊙ γ_hh + b_hh
    LSTM:  c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),     h' = σ(o) ⊙ tanh(LN(c') ⊙ γ_c + β_c) [W_hr^T]
    GRU:   n = tanh(gx_n + σ(r) ⊙ gh_n),        h' = n + σ(z) ⊙ (h - n)
    Elman: h' = tanh(gx + gh) (or relu)
    zoneout (evaluation, its expectation):     s' = s' + p ⊙ (s - s')

Padded steps (``t >= length``) keep the state and output zeros; the reverse direction
starts at each row's last valid step, as torch's packed sequences.

>>> # y, (h, c) = run_layer(spec, weights, "rnn.", x, [h0, c0], lengths)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LN_EPS", "run_layer"]

LN_EPS = 1e-5  # F.layer_norm's default, as rnnkit.functional.cells uses it
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * a) + 1.0)  # overflow-free σ


def _layer_norm(a: np.ndarray, groups: int) -> np.ndarray:
    """``LN_G(a)``: each of the G blocks of ``a (..., G·H)`` normalised (no gain)."""
    blocks = a.reshape(*a.shape[:-1], groups, -1)  # (..., G, H)
    mean = blocks.mean(-1, keepdims=True)
    var = blocks.var(-1, keepdims=True)
    return ((blocks - mean) / np.sqrt(var + LN_EPS)).reshape(a.shape)


def _step(
    spec: dict[str, Any], w: dict[str, np.ndarray], gx: np.ndarray, state: list[np.ndarray]
) -> list[np.ndarray]:
    """One step from the input part ``gx (B, G·H)``: the new state (h[, c])."""
    mode, G = spec["mode"], _GATES[spec["mode"]]
    h = state[0]
    gh = h @ w["w_hh"].T  # (B, G·H)
    if spec.get("layer_norm"):
        gh = _layer_norm(gh, G) * w["ln_hh"]
    gh = gh + w["b_hh"]
    if mode == "gru":
        xr, xz, xn = np.split(gx, 3, axis=-1)
        hr, hz, hn = np.split(gh, 3, axis=-1)
        n = np.tanh(xn + _sigmoid(xr + hr) * hn)
        new = [n + _sigmoid(xz + hz) * (h - n)]
    elif mode == "lstm":
        i, f, g, o = np.split(gx + gh, 4, axis=-1)
        c = _sigmoid(f) * state[1] + _sigmoid(i) * np.tanh(g)
        c_out = _layer_norm(c, 1) * w["ln_c_w"] + w["ln_c_b"] if spec.get("layer_norm") else c
        h_new = _sigmoid(o) * np.tanh(c_out)
        new = [h_new @ w["w_hr"].T if "w_hr" in w else h_new, c]  # (B, P) with a projection
    else:
        a = gx + gh
        new = [np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0.0)]
    for k, p in enumerate((spec.get("zoneout_h", 0.0), spec.get("zoneout_c", 0.0))[: len(new)]):
        if p:
            new[k] = new[k] + p * (state[k] - new[k])
    return new


def _weights(spec: dict[str, Any], weights: dict[str, np.ndarray], prefix: str, sfx: str):
    G, H = _GATES[spec["mode"]], spec["hidden_size"]
    zero = np.zeros(G * H, np.float32)
    get = lambda name: weights.get(prefix + name + sfx)  # noqa: E731
    w = {"w_ih": get("weight_ih"), "w_hh": get("weight_hh")}
    w["b_ih"] = zero if get("bias_ih") is None else get("bias_ih")
    w["b_hh"] = zero if get("bias_hh") is None else get("bias_hh")
    if spec.get("layer_norm"):
        w["ln_ih"], w["ln_hh"] = get("ln_ih_weight"), get("ln_hh_weight")
        if spec["mode"] == "lstm":
            w["ln_c_w"], w["ln_c_b"] = get("ln_c_weight"), get("ln_c_bias")
    if spec.get("proj_size"):
        w["w_hr"] = get("weight_hr")
    return w


def _direction(
    spec: dict[str, Any], w: dict[str, np.ndarray], x: np.ndarray, state: list[np.ndarray],
    mask: np.ndarray, reverse: bool,
) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """One layer direction over ``x (T, B, I)`` with ``mask (T, B)``: y, final state."""
    G = _GATES[spec["mode"]]
    gx = x @ w["w_ih"].T  # (T, B, G·H)
    if spec.get("layer_norm"):
        gx = _layer_norm(gx, G) * w["ln_ih"]
    gx = gx + w["b_ih"]
    T, B = x.shape[:2]
    y = np.zeros((T, B, state[0].shape[-1]), np.float32)  # (T, B, H_out)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new = _step(spec, w, gx[t], state)
        m = mask[t][:, None]  # (B, 1): padded steps keep the state
        state = [np.where(m, n, s) for n, s in zip(new, state, strict=True)]
        y[t] = np.where(m, new[0], 0.0)
    return y, state


def run_layer(
    spec: dict[str, Any],
    weights: dict[str, np.ndarray],
    prefix: str,
    x: np.ndarray,
    state: list[np.ndarray],
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A stacked (bidirectional) layer described by ``spec`` (a bundle's layer entry).

    Args:
        spec: ``mode`` (rnn_tanh, rnn_relu, lstm, gru), ``hidden_size``, ``num_layers``,
            ``bidirectional``, ``proj_size``, ``layer_norm``, ``zoneout_h``, ``zoneout_c``.
        weights: the network's state dict (torch's names) under ``prefix``.
        x: ``(T, B, I)``; state: ``[h0 (L·D, B, H_out), [c0 (L·D, B, H)]]`` or ``[]`` (zeros).
        lengths: ``(B,)`` valid steps per row (None: all T).

    Returns:
        ``y (T, B, D·H_out)`` and the final state ``[h_n, [c_n]]``, each row's last valid step.
    """
    T, B = x.shape[:2]
    D, L, H = 1 + bool(spec["bidirectional"]), spec["num_layers"], spec["hidden_size"]
    h_out = spec.get("proj_size") or H
    if not state:
        state = [np.zeros((L * D, B, h_out), np.float32)]
        state += [np.zeros((L * D, B, H), np.float32)] if spec["mode"] == "lstm" else []
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
    finals: list[list[np.ndarray]] = [[] for _ in state]
    for layer in range(L):
        ys = []
        for d in range(D):
            k = layer * D + d
            w = _weights(spec, weights, prefix, f"_l{layer}" + ("_reverse" if d else ""))
            y, fin = _direction(spec, w, x, [s[k] for s in state], mask, reverse=bool(d))
            ys.append(y)
            for j, f in enumerate(fin):
                finals[j].append(f)
        x = np.concatenate(ys, axis=-1)  # (T, B, D·H_out)
    return x, [np.stack(f) for f in finals]
