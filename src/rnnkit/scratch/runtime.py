"""Run an exported NumPy bundle with the scratch engine: NumPy alone, no torch.

A bundle (written by ``rnnkit export --format numpy``) is a directory with
``weights.npz`` (the network's state dict, float32, torch's names) and ``manifest.json``
(``{"format": "numpy", "network", "graphs", "layers": {prefix: layer}, "parts": {...}}``),
where each recurrent layer is described by its mode, sizes, directions, projection, layer
norm and zoneout, so this module needs none of rnnkit's torch-side configs. Plain layers
run on the scratch engine's :class:`~rnnkit.scratch.layers.Recurrent`; layer norm and
zoneout on :mod:`rnnkit.scratch.runtime_cells`.

:class:`BundleRuntime` has one entry point, ``run(graph, inputs) -> outputs``, with the
inputs and outputs of the ONNX graphs of the same name: ``lm``; ``classify`` (recurrent
classifier, LSTM-FCN with :mod:`rnnkit.scratch.runtime_conv`, MiniRocket with
:mod:`rnnkit.scratch.runtime_minirocket`); ``encoder`` and ``decoder``
(translator, :mod:`rnnkit.scratch.runtime_seq2seq`); ``encoder_rnn``, ``decoder_rnn`` and
``head`` (forecaster). The torch adapters drive both backends the same way.

>>> # rt = BundleRuntime.load("runs/demo/export/numpy")
>>> # logits, h, c = rt.run("lm", [tokens, h0, c0])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.scratch.layers import LSTMState, Recurrent
from rnnkit.scratch.runtime_cells import run_layer
from rnnkit.scratch.runtime_conv import average_steps, conv_branch
from rnnkit.scratch.runtime_minirocket import minirocket
from rnnkit.scratch.runtime_seq2seq import decoder_step, encode

__all__ = ["MODES", "BundleRuntime", "pool"]

MODES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}
"""rnnkit layer mode -> scratch mode: the cells the scratch engine runs."""


def _extended(spec: dict[str, Any]) -> bool:
    """Whether a layer has options beyond torch.nn's (run by :mod:`.runtime_cells`)."""
    return any(spec.get(k) for k in ("layer_norm", "zoneout_h", "zoneout_c"))


def _layer(spec: dict[str, Any], weights: dict[str, np.ndarray], prefix: str) -> Recurrent | None:
    mode = MODES.get(spec["mode"])
    if mode is None:
        raise ValueError(f"cell mode {spec['mode']!r} has no NumPy runtime; it has {list(MODES)}")
    if _extended(spec):
        return None
    layer = Recurrent(
        mode, spec["input_size"], spec["hidden_size"], spec["num_layers"],
        bias=spec["bias"], bidirectional=spec["bidirectional"], dtype=np.float32,
        proj_size=spec["proj_size"],
    )  # fmt: skip
    for name, p in layer.params.items():
        p[...] = weights[prefix + name]
    return layer


def _linear(weights: dict[str, np.ndarray], prefix: str, x: np.ndarray) -> np.ndarray:
    y = x @ weights[prefix + "weight"].T
    bias = weights.get(prefix + "bias")
    return y if bias is None else y + bias


def _log_softmax(a: np.ndarray, axis: int = -1) -> np.ndarray:
    a = a - a.max(axis=axis, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=axis, keepdims=True))


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    return np.exp(_log_softmax(a, axis))


def pool(
    mode: str, out: np.ndarray, lengths: np.ndarray, directions: int, attn: Any = None
) -> np.ndarray:
    """Masked pooling of ``out (T, B, F)`` over each row's ``lengths (B,)`` -> ``(B, F)``,
    as ``rnnkit.models.pooling.Pooling``; ``attn(out) -> scores (T, B)`` for attention."""
    T, B, F = out.shape
    mask = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
    if mode == "last":
        last = out[lengths - 1, np.arange(B)]  # (B, F)
        if directions == 2:  # the backward half ends at t = 0
            last = np.concatenate([last[:, : F // 2], out[0, :, F // 2 :]], axis=-1)
        return last
    if mode == "mean":
        return np.where(mask[..., None], out, 0.0).sum(0) / lengths[:, None].astype(out.dtype)
    if mode == "max":
        return np.where(mask[..., None], out, -np.inf).max(0)
    scores = np.where(mask, attn(out), -np.inf)  # (T, B)
    return (_softmax(scores, 0)[..., None] * out).sum(0)


class BundleRuntime:
    """A loaded bundle: ``run(graph, inputs) -> outputs`` (see the module doc)."""

    def __init__(self, manifest: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.manifest = manifest
        self.weights = weights
        self.layers = {p: _layer(s, weights, p) for p, s in manifest["layers"].items()}

    @classmethod
    def load(cls, directory: str | Path) -> BundleRuntime:
        """Read ``manifest.json`` and ``weights.npz`` from ``directory``."""
        directory = Path(directory)
        path = directory / "manifest.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; not a NumPy bundle (`rnnkit export`)")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != "numpy":
            raise ValueError(f"{path}: format {manifest.get('format')!r}, expected 'numpy'")
        with np.load(directory / "weights.npz") as f:
            weights = {k: f[k] for k in f.files}
        return cls(manifest, weights)

    def run(self, graph: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The graph ``graph`` of the bundle on ``inputs`` (as the ONNX graph of that name)."""
        fns = {
            "lm": self._lm, "classify": self._classify, "head": self._head,
            "encoder_rnn": lambda x, *st: self._rnn_graph("encoder.", x, st),
            "decoder_rnn": lambda x, *st: self._rnn_graph("decoder.", x, st),
            "encoder": lambda *a: encode(self.weights, self.manifest["parts"], self._recur, *a),
            "decoder": lambda *a: decoder_step(
                self.weights, self.manifest["parts"], self._recur, *a
            ),
        }  # fmt: skip
        fn = fns.get(graph)
        if fn is None or graph not in self.manifest["graphs"]:
            raise ValueError(
                f"`graph` must be one of {list(self.manifest['graphs'])}, got {graph!r}"
            )
        return fn(*inputs)

    def _recur(self, prefix: str, x: np.ndarray, state: list[np.ndarray], lengths: Any = None):
        layer = self.layers[prefix]
        if layer is None:  # layer norm or zoneout
            spec = self.manifest["layers"][prefix]
            return run_layer(spec, self.weights, prefix, x, list(state), lengths)
        hx = None if not state else (LSTMState(*state) if len(state) == 2 else state[0])
        y, final = layer.forward(x, hx, lengths)
        return y, list(final) if isinstance(final, tuple) else [final]

    def _rnn_graph(self, prefix: str, x: np.ndarray, state: tuple) -> list[np.ndarray]:
        """One recurrent layer: ``x (T, B, I), h0, [c0] -> y, h_n, [c_n]``."""
        y, final = self._recur(prefix, x.astype(np.float32), list(state))
        return [y, *final]

    def _head(self, features: np.ndarray) -> list[np.ndarray]:
        """``features (N, F) -> (N, out)`` through the manifest's ``head`` steps."""
        x = features.astype(np.float32)
        for kind, *prefix in self.manifest["parts"]["head"]:
            x = np.maximum(x, 0.0) if kind == "relu" else _linear(self.weights, prefix[0], x)
        return [x]

    def _lm(self, tokens: np.ndarray, *state: np.ndarray) -> list[np.ndarray]:
        w, parts = self.weights, self.manifest["parts"]
        x = w["embedding.weight"][tokens]  # (T, B, E)
        per = len(state) // len(parts["rnn"])
        finals: list[np.ndarray] = []
        for i, prefix in enumerate(parts["rnn"]):
            x, fin = self._recur(prefix, x, list(state[i * per : (i + 1) * per]))
            finals += fin
        return [_linear(w, "decoder.", x), *finals]  # logits (T, B, V)

    def _pool(self, out: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The manifest's pooling of ``out (T, B, D·H)`` -> ``(B, D·H)``."""
        w, parts = self.weights, self.manifest["parts"]

        def attn(o: np.ndarray) -> np.ndarray:
            hidden = np.tanh(_linear(w, "pool.attention.proj.", o))
            return (hidden @ w["pool.attention.score.weight"].T)[..., 0]  # (T, B)

        return pool(parts["pooling"], out, lengths, parts["directions"], attn)

    def _classify(self, x: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        w, parts = self.weights, self.manifest["parts"]
        lengths = np.asarray(lengths, dtype=np.int64)
        if self.manifest.get("network") == "LSTMFCN":
            return self._lstm_fcn(x.astype(np.float32), lengths)
        if self.manifest.get("network") == "MiniRocket":
            return [minirocket(w, parts, x, lengths)]
        if parts["input"] == "embedding" and parts.get("subwords"):
            x = subword_embed(w["input_layer.weight"], w["subword.weight"], x)  # (T, B, E)
        elif parts["input"] == "embedding":
            x = w["input_layer.weight"][x]  # (T, B, E)
        elif parts["input"] == "linear":
            x = _linear(w, "input_layer.", x.astype(np.float32))
        out, _ = self._recur("rnn.", x.astype(np.float32), [], lengths)  # (T, B, D·H)
        return [_linear(w, "head.", self._pool(out, lengths))]

    def _lstm_fcn(self, x: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """LSTM-FCN: averaged steps -> (recurrent branch, pooled) ++ conv branch -> head."""
        parts = self.manifest["parts"]
        x, lengths = average_steps(x, lengths, parts["pool"])  # (T/k, B, I)
        T, B, I = x.shape
        if parts["axis"] == "channels":  # dimension shuffle: I steps of `width` features
            width = parts["width"]
            valid = np.arange(T)[:, None] < lengths[None, :]  # (T, B)
            seq = np.zeros((I, B, width), np.float32)
            seq[..., : min(T, width)] = (x * valid[..., None]).transpose(2, 1, 0)[..., :width]
            out, _ = self._recur("rnn.", seq, [])  # (I, B, D·H)
            pooled = self._pool(out, np.full(B, I))
        else:
            out, _ = self._recur("rnn.", x, [], lengths)  # (T, B, D·H)
            pooled = self._pool(out, lengths)
        conv = conv_branch(self.weights, parts["conv"], x, lengths)  # (B, F)
        return [_linear(self.weights, "head.", np.concatenate([pooled, conv], axis=-1))]


def subword_embed(words: np.ndarray, grams: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A token's word vector plus the mean of its n-gram vectors (subwords; n-gram id 0 is
    padding): tables ``(V, E)`` and ``(buckets, E)``, ids ``x (T, B, 1 + K)`` -> ``(T, B, E)``."""
    ids = x[..., 1:]  # (T, B, K)
    count = np.maximum((ids > 0).sum(-1, keepdims=True), 1).astype(np.float32)
    return words[x[..., 0]] + grams[ids].sum(-2) / count
