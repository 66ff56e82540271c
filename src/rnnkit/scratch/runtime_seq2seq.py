"""The translator (encoder, bridge, attention, decoder step) in NumPy, for inference.

The two graphs of an exported ``Seq2Seq`` with the inputs and outputs of the ONNX graphs
of the same names, so one adapter drives both backends and greedy and beam search run
through rnnkit's one sampling loop and one beam search:

- ``encoder``: ``src (S, B), lengths (B,) -> values (S, B, K), mask (S, B), [keys (B, S, ·)],
  h (L_d, B, H_d), [c], [feed (B, H_d)]``;
- ``decoder``: ``tokens (B,), h, [c], [feed], [values, mask, keys] -> log_probs (B, V),
  h', [c'], [feed'], [weights (B, S)]``.

One decoder step (Luong et al. 2015, with input feeding)::

    x = [embed(y); h~_prev]      h = RNN(x, state)      a = softmax(score(h, keys)) on valid s
    c = Σ_s a_s values_s         h~ = tanh(W_c [c; h])  log p(y) = log_softmax(W_o h~ + b_o)

Scores: additive ``v^T tanh(W_q h + keys)``, dot and general ``h^T keys`` (``keys`` is
``values`` for dot, ``W values`` for general, ``W_k values + b`` for additive: prepared once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["bridge", "decoder_step", "encode"]

Recur = Callable[..., tuple[np.ndarray, list[np.ndarray]]]
_FLOOR = np.finfo(np.float32).min  # masked scores: a finite floor, as rnnkit.nn.attention


def _linear(w: dict[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    y = x @ w[prefix + "weight"].T
    return y if prefix + "bias" not in w else y + w[prefix + "bias"]


def bridge(w: dict[str, np.ndarray], spec: dict[str, Any], state: list[np.ndarray]):
    """Encoder final state ``[h (L_e·D, B, H_e), [c]]`` -> decoder initial state ``[h (L_d,
    B, H_d), [c]]``, as :class:`rnnkit.models.seq2seq_bridge.Bridge` (``spec``: its mode,
    sizes and top-aligned ``source`` layers)."""
    L, D, H = spec["enc_layers"], spec["enc_directions"], spec["enc_hidden"]

    def by_layer(s: np.ndarray) -> np.ndarray:  # (L·D, B, H) -> (L, B, D·H)
        B = s.shape[1]
        return s.reshape(L, D, B, H).transpose(0, 2, 1, 3).reshape(L, B, D * H)

    h = by_layer(state[0])
    c = by_layer(state[1]) if len(state) > 1 else None
    src, lstm = spec["source"], spec["dec_lstm"]
    if spec["mode"] == "zeros":
        h0 = np.zeros((spec["dec_layers"], h.shape[1], spec["dec_hidden"]), np.float32)
        return [h0, np.zeros_like(h0)] if lstm else [h0]
    if spec["mode"] == "copy":
        h0 = h[src]  # (L_d, B, H_d)
        return [h0, np.zeros_like(h0) if c is None else c[src]] if lstm else [h0]
    h0 = np.stack([np.tanh(_linear(w, f"bridge.h_proj.{j}.", h[i])) for j, i in enumerate(src)])
    if not lstm:
        return [h0]
    base = h if c is None else c
    return [h0, np.stack([_linear(w, f"bridge.c_proj.{j}.", base[i]) for j, i in enumerate(src)])]


def _keys(w: dict[str, np.ndarray], kind: str, values: np.ndarray) -> np.ndarray:
    """The attention's query-free transform of ``values (S, B, K)`` -> ``(B, S, ·)``."""
    batch_first = values.transpose(1, 0, 2)  # (B, S, K)
    if kind == "dot":
        return batch_first
    return _linear(w, "decoder.attention.key_proj.", batch_first)


def encode(
    w: dict[str, np.ndarray], parts: dict[str, Any], recur: Recur, src: np.ndarray,
    lengths: np.ndarray,
) -> list[np.ndarray]:  # fmt: skip
    """The ``encoder`` graph (see the module doc); ``recur(prefix, x, state, lengths)``."""
    lengths = np.asarray(lengths, np.int64)
    values, final = recur("encoder.rnn.", w["encoder.embedding.weight"][src], [], lengths)
    S, B = src.shape
    mask = np.arange(S)[:, None] < lengths[None, :]  # (S, B)
    keys = [] if parts["attention"] == "none" else [_keys(w, parts["attention"], values)]
    state = bridge(w, parts["bridge"], final)
    feed = [np.zeros((B, parts["feed"]), np.float32)] if parts["feed"] else []
    return [values, mask, *keys, *state, *feed]


def _attend(
    w: dict[str, np.ndarray], kind: str, h: np.ndarray, values: np.ndarray, mask: np.ndarray,
    keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``h (B, H_d)`` -> attentional vector ``(B, H_d)`` and weights ``(B, S)``."""
    if kind == "additive":
        q = h @ w["decoder.attention.query_proj.weight"].T  # (B, A)
        hidden = np.tanh(q[:, None, :] + keys)  # (B, S, A)
        scores = (hidden @ w["decoder.attention.v.weight"].T)[..., 0]  # (B, S)
    else:
        scores = np.einsum("bq,bsq->bs", h, keys)  # (B, S)
    valid = mask.T.astype(bool)  # (B, S)
    scores = np.where(valid, scores, _FLOOR)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(-1, keepdims=True) * valid  # zero at padding
    context = np.einsum("bs,sbk->bk", weights, values)  # (B, K)
    att = np.tanh(np.concatenate([context, h], -1) @ w["decoder.combine.weight"].T)
    return att, weights


def decoder_step(
    w: dict[str, np.ndarray], parts: dict[str, Any], recur: Recur, tokens: np.ndarray,
    *rest: np.ndarray,
) -> list[np.ndarray]:  # fmt: skip
    """The ``decoder`` graph (see the module doc)."""
    n = 2 if parts["dec_lstm"] else 1
    state, rest = list(rest[:n]), rest[n:]
    feed, rest = (rest[0], rest[1:]) if parts["feed"] else (None, rest)
    x = w["decoder.embedding.weight"][tokens]  # (B, E)
    if feed is not None:
        x = np.concatenate([x, feed], -1)  # (B, E + H_d)
    out, new = recur("decoder.rnn.", x[None].astype(np.float32), state)  # (1, B, H_d)
    h = out[0]
    if parts["attention"] == "none":
        att, weights = h, None
    else:
        values, mask, keys = rest
        att, weights = _attend(w, parts["attention"], h, values, mask, keys)
    logits = _linear(w, "decoder.out.", att)  # (B, V_t)
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    outs = [log_probs, *new] + ([att] if feed is not None else [])
    return outs + ([weights] if weights is not None else [])
