"""Trace a network to ONNX with its recurrent layers as explicit graphs.

The surrounding network (embeddings, pooling, attention, bridges, heads) is traced by
torch's TorchScript-based exporter (``dynamo=False``: the default dynamo exporter needs
``onnxscript``). Each recurrent layer, called through :func:`recurrent`, is traced as ONE
placeholder node ``rnnkit::Recurrent`` (never as a PackedSequence, never unrolled), which
:func:`export_graph` then replaces with the layer's ONNX graph from
:mod:`rnnkit.export.onnx_rnn`: lengths and state are inputs, so batch and time stay dynamic.

>>> # inside an export wrapper's forward:
>>> # y, state = recurrent(self.rnn, x, lengths, hx, name="encoder.rnn")
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx
import torch
from onnx import helper
from torch import Tensor, nn

from rnnkit.export.onnx_rnn import LayerInfo, expand_recurrent, layer_info
from rnnkit.functional import LSTMState

__all__ = ["OPSET", "export_graph", "recurrent"]

log = logging.getLogger(__name__)

OPSET = 17
"""ONNX opset of every exported graph (17: ``LayerNormalization``)."""

_DOMAIN = "rnnkit"
_TRACING: dict[str, nn.Module] = {}  # layer name -> layer, only while export_graph traces


def _is_lstm(layer: nn.Module) -> bool:
    return getattr(layer, "_scan_mode", "") == "lstm"


class _Placeholder(torch.autograd.Function):
    """Runs the layer in torch; traces as one ``rnnkit::Recurrent`` node."""

    @staticmethod
    def forward(ctx: Any, name: str, has_lengths: bool, x: Tensor, *rest: Tensor) -> Any:  # noqa: ARG004
        # Zeros of the right shapes: the tracer needs shapes only, and reading the layer's
        # parameters in here would make it record them as constants (a tracer error).
        layer = _TRACING[name]
        T, B = x.shape[:2]
        LD = layer.num_layers * (2 if layer.bidirectional else 1)
        h_out = layer.proj_size or layer.hidden_size
        outs = [x.new_zeros(T, B, LD // layer.num_layers * h_out), x.new_zeros(LD, B, h_out)]
        if _is_lstm(layer):
            outs.append(x.new_zeros(LD, B, layer.hidden_size))
        return tuple(outs)

    @staticmethod
    def symbolic(g: Any, name: str, has_lengths: bool, x: Any, *rest: Any) -> Any:
        layer = _TRACING[name]
        D = 2 if layer.bidirectional else 1
        h_out = layer.proj_size or layer.hidden_size
        widths = [D * h_out, h_out] + ([layer.hidden_size] if _is_lstm(layer) else [])
        outs = g.op(
            f"{_DOMAIN}::Recurrent", x, *rest, name_s=name, has_lengths_i=int(has_lengths),
            outputs=len(widths),
        )  # fmt: skip
        # Output types and ranks (batch and time unknown), so torch's shape inference of
        # the rest of the graph needs no guess (and says nothing about the placeholder).
        LD = layer.num_layers * D
        sizes = [[None, None, widths[0]]] + [[LD, None, w] for w in widths[1:]]
        for out, size in zip(outs, sizes, strict=True):
            out.setType(x.type().with_sizes(size))
        return outs


def recurrent(
    layer: nn.Module,
    x: Tensor,
    lengths: Tensor | None = None,
    hx: Any = None,
    *,
    name: str,
) -> tuple[Tensor, Any]:
    """``layer(x (T, B, I), hx, lengths=lengths)`` -> ``(y (T, B, D·H_out), state)``; while
    :func:`export_graph` traces, a placeholder that becomes the layer's ONNX graph."""
    if not torch.onnx.is_in_onnx_export():
        return layer(x, hx, lengths=lengths)
    _TRACING[name] = layer
    state = () if hx is None else (tuple(hx) if isinstance(hx, tuple) else (hx,))
    rest = ((lengths,) if lengths is not None else ()) + state
    out = _Placeholder.apply(name, lengths is not None, x, *rest)
    return out[0], (LSTMState(*out[1:]) if len(out) == 3 else out[1])


@contextmanager
def _tracing() -> Any:
    _TRACING.clear()
    try:
        yield
    finally:
        _TRACING.clear()


def export_graph(
    module: nn.Module,
    args: tuple[Any, ...],
    path: str | os.PathLike[str],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    *,
    native: bool = True,
) -> onnx.ModelProto:
    """Export ``module(*args)`` to an ONNX file at ``path`` and return the model.

    Args:
        module: an export wrapper whose recurrent layers are called via :func:`recurrent`.
        args: example inputs (their values do not matter; their ranks and dtypes do).
        input_names, output_names, dynamic_axes: as ``torch.onnx.export``.
        native: use ONNX's RNN/LSTM/GRU operators where they are exact (else ``Scan``).
    """
    module.eval()
    buffer = io.BytesIO()
    with _tracing(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings on checks, the legacy exporter
        torch.onnx.export(
            module, args, buffer, input_names=list(input_names), output_names=list(output_names),
            dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False,
            do_constant_folding=True,
        )  # fmt: skip
        infos = {name: layer_info(layer, name) for name, layer in _TRACING.items()}
    model = onnx.load_from_string(buffer.getvalue())
    _expand(model, infos, native)
    onnx.checker.check_model(model)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    return model


def _expand(model: onnx.ModelProto, infos: dict[str, LayerInfo], native: bool) -> None:
    """Replace every placeholder node of ``model`` by its layer's ONNX graph, in place."""
    graph = model.graph
    nodes: list[onnx.NodeProto] = []
    for i, node in enumerate(graph.node):
        if node.domain != _DOMAIN:
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        name = attrs["name"].decode() if isinstance(attrs["name"], bytes) else attrs["name"]
        x, *rest = node.input
        lengths, state = (rest[0], rest[1:]) if attrs["has_lengths"] else ("", rest)
        built = expand_recurrent(
            infos[name], f"rnn{i}", [x, lengths, *state], list(node.output), native=native
        )
        nodes.extend(built.nodes)
        graph.initializer.extend(built.initializers)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # the tracer's shapes of the placeholders' outputs were static
    kept = [op for op in model.opset_import if op.domain != _DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(kept)
