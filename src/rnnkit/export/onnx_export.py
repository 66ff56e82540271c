"""``export_onnx``: a loaded run's network as ONNX graphs plus a ``manifest.json``.

The export directory holds one ``<graph>.onnx`` per graph of :mod:`rnnkit.export.graphs`
and ``manifest.json``: ``{"format": "onnx", "task", "graphs": {name: {"file", "inputs",
"outputs"}}, "state": [[layers, width], ...]}``. The run directory keeps the artifacts
(vocabulary, labels); a runtime reads both.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.data.class_encoding import SUBWORD_SLOTS
from rnnkit.export.graphs import (
    ClassifierGraph,
    DecoderGraph,
    EncoderGraph,
    GraphSpec,
    HeadGraph,
    LMGraph,
    LSTMFCNGraph,
    MiniRocketGraph,
    RecurrentGraph,
    lm_state_shapes,
)
from rnnkit.export.onnx_rnn import layer_info
from rnnkit.export.trace import export_graph

__all__ = ["EXPORTABLE", "export_onnx", "graph_specs", "state_shapes", "write_manifest"]

log = logging.getLogger(__name__)

EXPORTABLE = {
    "LanguageModel": "lm",
    "SequenceClassifier": "classify",
    "LSTMFCN": "lstm_fcn",
    "MiniRocket": "minirocket",
    "Seq2Seq": "translate",
    "ForecastNet": "forecast",
}
"""Network class -> the graphs it exports as (the other networks name themselves in the error)."""


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _lm_specs(model: nn.Module) -> list[GraphSpec]:
    shapes = lm_state_shapes(model)
    states, outs = _names("state_in", len(shapes)), _names("state_out", len(shapes))
    args = (torch.zeros(2, 2, dtype=torch.long), *[torch.zeros(n, 2, w) for n, w in shapes])
    dynamic = {"tokens": {0: "T", 1: "B"}, "logits": {0: "T", 1: "B"}}
    dynamic |= {n: {1: "B"} for n in states + outs}
    return [GraphSpec("lm", LMGraph(model), args, ["tokens", *states], ["logits", *outs], dynamic)]


def _classifier_specs(model: nn.Module) -> list[GraphSpec]:
    c = model.config
    x = torch.ones(3, 2, dtype=torch.long) if c.vocab_size else torch.zeros(3, 2, c.input_size)
    if c.vocab_size and c.subword_buckets:  # each token's id, then its n-gram ids
        x = torch.ones(3, 2, 1 + SUBWORD_SLOTS, dtype=torch.long)
    dynamic = {"x": {0: "T", 1: "B"}, "lengths": {0: "B"}, "logits": {0: "B"}}
    args = (x, torch.tensor([3, 2]))
    graph = ClassifierGraph(model)
    return [GraphSpec("classify", graph, args, ["x", "lengths"], ["logits"], dynamic)]


def _lstm_fcn_specs(model: nn.Module) -> list[GraphSpec]:
    dynamic = {"x": {0: "T", 1: "B"}, "lengths": {0: "B"}, "logits": {0: "B"}}
    args = (torch.zeros(9, 2, model.config.input_size), torch.tensor([9, 5]))
    graph = LSTMFCNGraph(model)
    return [GraphSpec("classify", graph, args, ["x", "lengths"], ["logits"], dynamic)]


def _minirocket_specs(model: nn.Module) -> list[GraphSpec]:
    dynamic = {"x": {0: "T", 1: "B"}, "lengths": {0: "B"}, "logits": {0: "B"}}
    args = (torch.zeros(9, 2, model.config.input_size), torch.tensor([9, 5]))
    graph = MiniRocketGraph(model)
    return [GraphSpec("classify", graph, args, ["x", "lengths"], ["logits"], dynamic)]


def _seq2seq_specs(model: nn.Module) -> list[GraphSpec]:
    with torch.no_grad():
        state, memory = model.encode(torch.ones(3, 2, dtype=torch.long), torch.tensor([3, 2]))
    lstm = model.config.decoder_rnn.cell_state
    st = ["h", "c"] if lstm else ["h"]
    feed = ["feed"] if model.decoder.feed_size else []
    keys = ["keys"] if memory.keys is not None else []
    weights = ["weights"] if model.decoder.attention is not None else []
    enc_out = ["values", "mask", *keys, *st, *feed]
    dyn_enc = {"src": {0: "S", 1: "B"}, "lengths": {0: "B"}, "values": {0: "S", 1: "B"}}
    dyn_enc |= {"mask": {0: "S", 1: "B"}, "keys": {0: "B", 1: "S"}, "h": {1: "B"}, "c": {1: "B"}}
    dyn_enc |= {"feed": {0: "B"}}
    dyn_enc = {k: v for k, v in dyn_enc.items() if k in ["src", "lengths", *enc_out]}
    encoder = GraphSpec(
        "encoder", EncoderGraph(model), (torch.ones(3, 2, dtype=torch.long), torch.tensor([3, 2])),
        ["src", "lengths"], enc_out, dyn_enc,
    )  # fmt: skip
    rnn = list(state.rnn) if lstm else [state.rnn]
    memory_in = ["values", "mask", *keys] if weights else []  # unused without attention
    dec_in = ["tokens", *st, *feed, *memory_in]
    dec_out = ["log_probs", *[f"{n}_out" for n in st], *[f"{n}_out" for n in feed], *weights]
    args = (torch.ones(2, dtype=torch.long), *rnn, *([state.feed] if feed else []),
            *([memory.values, memory.mask] if weights else []),
            *([memory.keys] if keys else []))  # fmt: skip
    dyn = {n: dyn_enc[n] for n in dec_in if n in dyn_enc}
    dyn |= {"tokens": {0: "B"}, "log_probs": {0: "B"}, "weights": {0: "B", 1: "S"}}
    dyn |= {"h_out": {1: "B"}, "c_out": {1: "B"}, "feed_out": {0: "B"}}
    dyn = {k: v for k, v in dyn.items() if k in dec_in + dec_out}
    decoder = GraphSpec("decoder", DecoderGraph(model), args, dec_in, dec_out, dyn)
    return [encoder, decoder]


def state_shapes(model: nn.Module) -> list[list[int]]:
    """``[layers, width]`` of each flat state tensor (batch in between) of a language
    model's ``lm`` graph or a forecaster's ``encoder_rnn``/``decoder_rnn`` graphs."""
    if type(model).__name__ == "ForecastNet":
        layer = model.encoder
        shapes = [[layer.num_layers, layer.proj_size or layer.hidden_size]]
        return shapes + ([[layer.num_layers, layer.hidden_size]] if len(_state(layer)) > 1 else [])
    return [list(s) for s in lm_state_shapes(model)]


def _state(layer: nn.Module) -> list[str]:
    return ["h", "c"] if getattr(layer, "_scan_mode", "") == "lstm" else ["h"]


def _forecast_specs(model: nn.Module) -> list[GraphSpec]:
    """``encoder_rnn`` [, ``decoder_rnn``] and ``head`` (see :mod:`rnnkit.export.graphs`)."""
    specs = []
    rnns = [("encoder_rnn", model.encoder)]
    if getattr(model, "decoder", None) is not None:
        rnns.append(("decoder_rnn", model.decoder))
    for name, layer in rnns:
        st = _state(layer)
        shapes = state_shapes(model)
        args = (torch.zeros(3, 2, layer.input_size), *[torch.zeros(n, 2, w) for n, w in shapes])
        ins, outs = ["x", *[f"{s}0" for s in st]], ["y", *[f"{s}_n" for s in st]]
        dynamic = {"x": {0: "T", 1: "B"}, "y": {0: "T", 1: "B"}}
        dynamic |= {n: {1: "B"} for n in ins[1:] + outs[1:]}
        specs.append(GraphSpec(name, RecurrentGraph(layer, name), args, ins, outs, dynamic))
    first = model.head[0] if isinstance(model.head, nn.Sequential) else model.head
    args = (torch.zeros(2, first.in_features),)
    dynamic = {"features": {0: "N"}, "raw": {0: "N"}}
    specs.append(GraphSpec("head", HeadGraph(model.head), args, ["features"], ["raw"], dynamic))
    return specs


def graph_specs(model: nn.Module) -> list[GraphSpec]:
    """The graphs of a task network; ``ValueError`` naming a network that does not export."""
    kind = EXPORTABLE.get(type(model).__name__)
    for name, module in model.named_modules():
        if type(module).__name__ in ("MinGRU", "MinLSTM"):
            layer_info(module, name)  # the one-line error naming the cell
    if kind is None:
        raise ValueError(
            f"network {type(model).__name__} does not export to ONNX yet; exportable: "
            f"{', '.join(EXPORTABLE)}"
        )
    specs = {"lm": _lm_specs, "classify": _classifier_specs, "translate": _seq2seq_specs,
             "forecast": _forecast_specs, "lstm_fcn": _lstm_fcn_specs,
             "minirocket": _minirocket_specs}  # fmt: skip
    return specs[kind](model)


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """``out/manifest.json``, written to a temporary name and renamed."""
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    tmp.replace(out / "manifest.json")


@contextmanager
def _cpu_float32_eval(model: nn.Module) -> Iterator[None]:
    """``model`` on the CPU in float32 and eval mode inside, as it was again after (its
    device, floating dtype and train flag; the same Parameter objects throughout, so an
    optimizer holding them is unaffected). A deep copy is not an option: modules may keep
    non-leaf tensors (attention pooling's last weights), which ``copy.deepcopy`` refuses."""
    first, training = next(iter(model.parameters()), None), model.training
    where = None if first is None else {"device": first.device, "dtype": first.dtype}
    model.cpu().float().eval()
    try:
        yield
    finally:
        if where is not None:
            model.to(**where)
        model.train(training)


def check_output_layer(model: nn.Module) -> None:
    """Refuse a language model or translator whose output layer is not one projection to
    the vocabulary (the adaptive softmax): the exported graphs and the NumPy runtime give
    logits ``(T, B, V)`` from a single matrix, and would silently compute something else."""
    kind = getattr(getattr(model, "config", None), "output_layer", "softmax")
    what = {"LanguageModel": "language model", "Seq2Seq": "translator"}.get(type(model).__name__)
    if what is not None and kind not in ("softmax", "chunked"):
        raise ValueError(
            f"this {what}'s output layer is {kind!r}; export runs the full softmax "
            "only (output_layer 'softmax' or 'chunked', which have the same weights); "
            "serve it with --backend torch"
        )


def export_onnx(
    model: nn.Module, out: str | os.PathLike[str], task: str, *, native: bool = True
) -> Path:
    """Export ``model`` (a task network, eval mode) into the directory ``out``.

    Args:
        model: ``LanguageModel``, ``SequenceClassifier``, ``LSTMFCN``, ``MiniRocket``,
            ``Seq2Seq`` or ``ForecastNet``; left on its device, in its dtype and train mode.
        out: the export directory (created).
        task: the run's task name, recorded in the manifest.
        native: ONNX's RNN/LSTM/GRU operators where exact; False: ``Scan`` everywhere.

    Returns:
        ``out`` as a Path.
    """
    check_output_layer(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graphs = {}
    with _cpu_float32_eval(model):
        for spec in graph_specs(model):
            export_graph(
                spec.module, spec.args, out / f"{spec.name}.onnx", spec.inputs, spec.outputs,
                spec.dynamic, native=native,
            )  # fmt: skip
            graphs[spec.name] = {"file": f"{spec.name}.onnx", "inputs": spec.inputs,
                                 "outputs": spec.outputs}  # fmt: skip
    manifest: dict[str, Any] = {"format": "onnx", "task": task, "graphs": graphs}
    if type(model).__name__ in ("LanguageModel", "ForecastNet"):
        manifest["state"] = state_shapes(model)
    write_manifest(out, manifest)
    log.debug("exported %s to %s (%s)", task, out, ", ".join(graphs))  # the verb says it
    return out
