"""``export_numpy``: a network as a NumPy bundle for :mod:`rnnkit.scratch.runtime`.

The bundle is ``weights.npz`` (every tensor of the state dict, float32) and
``manifest.json`` describing each recurrent layer (mode, sizes, directions, projection)
and the parts around it, so the scratch runtime rebuilds the network with NumPy alone.
Plain cells run on the scratch engine's layers; layer-normalised cells and zoneout (its
eval expectation) on :mod:`rnnkit.scratch.runtime_cells`; MiniRocket (no recurrent layer)
on :mod:`rnnkit.scratch.runtime_minirocket`; minGRU/minLSTM are a one-line error naming
the cell.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from rnnkit.export.onnx_export import check_output_layer, state_shapes, write_manifest
from rnnkit.scratch.runtime import MODES

__all__ = ["NUMPY_NETWORKS", "export_numpy", "layer_spec"]


def layer_spec(layer: nn.Module, name: str) -> dict[str, Any]:
    """The manifest entry of one rnnkit recurrent layer; ``ValueError`` naming what the
    scratch engine cannot run."""
    mode = getattr(layer, "_scan_mode", None)
    if mode not in MODES:
        raise ValueError(
            f"`{name}`: cell {type(layer).__name__} has no NumPy runtime; the scratch engine "
            f"runs {', '.join(MODES)} (use --format onnx)"
        )
    return {
        "mode": mode, "input_size": layer.input_size, "hidden_size": layer.hidden_size,
        "num_layers": layer.num_layers, "bidirectional": bool(layer.bidirectional),
        "proj_size": layer.proj_size, "bias": bool(layer.bias),
        "layer_norm": bool(getattr(layer, "layer_norm", False)),
        "zoneout_h": float(getattr(layer, "zoneout_h", 0.0)),
        "zoneout_c": float(getattr(layer, "zoneout_c", 0.0)),
    }  # fmt: skip


def _lm_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    modules = list(model.layers) if getattr(model, "layers", None) is not None else None
    prefixes = [f"layers.{i}." for i in range(len(modules))] if modules else ["rnn."]
    layers = {p: layer_spec(m, p) for p, m in zip(prefixes, modules or [model.rnn], strict=True)}
    return layers, {"rnn": prefixes}, {"lm": {}}


def _classifier_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    c = model.config
    kind = "embedding" if c.vocab_size else ("linear" if c.project_input else "identity")
    parts = {"input": kind, "pooling": c.pooling, "directions": c.rnn.directions}
    parts["subwords"] = bool(c.vocab_size and c.subword_buckets)  # x (T, B, 1 + K) then
    return {"rnn.": layer_spec(model.rnn, "rnn")}, parts, {"classify": {}}


def _parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(layers, parts, graphs) of the manifest for ``model``."""
    name = type(model).__name__
    if name not in _NETWORK_PARTS:
        raise ValueError(
            f"network {name} has no NumPy runtime yet; it has {', '.join(NUMPY_NETWORKS)} "
            "(use --format onnx)"
        )
    return _NETWORK_PARTS[name](model)


def _lstm_fcn_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """LSTM-FCN: the recurrent branch's layer and pooling, the conv blocks, the averaging."""
    c, conv = model.config, model.conv
    ks = [layer.kernel_size[0] for layer in conv.convs]
    blocks = [  # "same" padding, the odd step on the right (as ConvBranch)
        {"conv": f"conv.convs.{n}.", "norm": f"conv.norms.{n}.",
         "pad": [(k - 1) // 2, k - 1 - (k - 1) // 2], "eps": float(norm.eps)}
        for n, (k, norm) in enumerate(zip(ks, conv.norms, strict=True))
    ]  # fmt: skip
    parts = {
        "pool": c.pool, "axis": c.axis, "width": model.width, "pooling": c.pooling,
        "directions": c.rnn.directions, "conv": blocks,
    }  # fmt: skip
    return {"rnn.": layer_spec(model.rnn, "rnn")}, parts, {"classify": {}}


def _minirocket_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """MiniRocket: its plan of ``[dilation, features per kernel]`` and the kernels' shape
    (the weights hold the channel masks, biases, mean, std and head)."""
    length = int(model.kernels.shape[-1])
    twos = int((model.kernels[0, 0] > 0).sum())
    plan = [[int(d), int(c)] for d, c in model.plan]
    return {}, {"plan": plan, "kernel_length": length, "twos": twos}, {"classify": {}}


def _seq2seq_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The translator: both recurrent stacks, the bridge's shape, the attention kind."""
    c, br = model.config, model.bridge
    bridge = {
        "mode": br.mode, "enc_layers": br.enc_layers, "enc_directions": br.enc_directions,
        "enc_hidden": br.enc_hidden, "dec_layers": br.dec_layers, "dec_hidden": br.dec_hidden,
        "dec_lstm": br.dec_lstm, "source": list(br.source),
    }  # fmt: skip
    parts = {
        "attention": c.attention, "feed": model.decoder.feed_size, "bridge": bridge,
        "dec_lstm": c.decoder_rnn.cell_state,
    }  # fmt: skip
    layers = {
        "encoder.rnn.": layer_spec(model.encoder.rnn, "encoder.rnn"),
        "decoder.rnn.": layer_spec(model.decoder.rnn, "decoder.rnn"),
    }
    return layers, parts, {"encoder": {}, "decoder": {}}


def _forecast_parts(model: nn.Module) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A forecaster: its recurrent layer(s) and its head as linear/relu steps."""
    layers = {"encoder.": layer_spec(model.encoder, "encoder")}
    graphs: dict[str, Any] = {"encoder_rnn": {}, "head": {}}
    if getattr(model, "decoder", None) is not None:
        layers["decoder."] = layer_spec(model.decoder, "decoder")
        graphs["decoder_rnn"] = {}
    named = list(model.head.named_children()) or [("", model.head)]
    steps = []
    for child, module in named:
        prefix = f"head.{child}." if child else "head."
        if isinstance(module, nn.Linear):
            steps.append(["linear", prefix])
        elif isinstance(module, nn.ReLU):
            steps.append(["relu"])
        else:
            raise ValueError(f"`{prefix[:-1]}`: {type(module).__name__} has no NumPy runtime")
    return layers, {"head": steps}, graphs


def export_numpy(model: nn.Module, out: str | os.PathLike[str], task: str) -> Path:
    """Write ``model``'s bundle into the directory ``out``; returns ``out``."""
    check_output_layer(model)
    layers, parts, graphs = _parts(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    tmp = out / "weights.npz.tmp"
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(out / "weights.npz")
    manifest: dict[str, Any] = {
        "format": "numpy", "task": task, "network": type(model).__name__, "graphs": graphs,
        "layers": layers, "parts": parts,
    }  # fmt: skip
    if type(model).__name__ in ("LanguageModel", "ForecastNet"):
        manifest["state"] = state_shapes(model)
    write_manifest(out, manifest)
    return out


# network class name -> its manifest parts; the networks the NumPy runtime runs
_NETWORK_PARTS = {
    "LanguageModel": _lm_parts,
    "SequenceClassifier": _classifier_parts,
    "LSTMFCN": _lstm_fcn_parts,
    "MiniRocket": _minirocket_parts,
    "Seq2Seq": _seq2seq_parts,
    "ForecastNet": _forecast_parts,
}
NUMPY_NETWORKS = tuple(_NETWORK_PARTS)
"""Networks the NumPy runtime runs."""
