"""Recurrent layers as ONNX nodes, built with ``onnx.helper`` from the layer's weights.

A traced export (:mod:`rnnkit.export.trace`) leaves one placeholder node
``rnnkit::Recurrent`` per recurrent layer; :func:`expand` replaces it with plain ONNX:

- **native** (cells ``rnn``/``rnn_relu``/``lstm``/``gru`` with no option beyond torch.nn):
  one ONNX ``RNN`` / ``LSTM`` / ``GRU`` node per layer, both directions in it, lengths as
  ``sequence_lens``. Gate orders are converted: torch LSTM i,f,g,o -> ONNX i,o,f,c; torch GRU
  r,z,n -> ONNX z,r,h with ``linear_before_reset=1`` (torch's ``b_hn`` inside the reset
  product).
- **scan** (layer norm, LSTM projections, zoneout in eval, or ``native=False``): the input
  part for all steps in one MatMul, then an ONNX ``Scan`` whose body is the cell's hidden
  part, written out as in :mod:`rnnkit.functional.cells`. A reverse direction reverses each
  row within its length (``ReverseSequence``) before and after the scan, so padding is
  never read; a padded step keeps the state and outputs zeros, as torch's packed sequences.

Inputs of the placeholder: ``x (T, B, I)``, then ``lengths (B,)`` int64 and the state
``h0 (L·D, B, H_out)`` (``c0 (L·D, B, H)`` for an LSTM) when present. Outputs: ``y (T, B,
D·H_out)``, ``h_n`` (and ``c_n``), each row's state at its last valid step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from rnnkit.nn.base import RecurrentBase
from rnnkit.nn.registry import cell_names, get_cell

__all__ = ["GraphBuilder", "LayerInfo", "expand_recurrent", "layer_info"]

LN_EPS = 1e-5  # F.layer_norm's default, as rnnkit.functional.cells uses it
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
_ONNX_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}  # torch blocks in ONNX's gate order


@dataclass
class LayerInfo:
    """What the ONNX graph needs of one rnnkit recurrent layer (its weights as NumPy)."""

    mode: str
    num_layers: int
    directions: int
    hidden_size: int
    proj_size: int
    layer_norm: bool
    zoneout_h: float
    zoneout_c: float
    weights: dict[str, np.ndarray] = field(repr=False)

    @property
    def lstm(self) -> bool:
        return self.mode == "lstm"

    @property
    def h_out(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def native(self) -> bool:
        """Whether ONNX's own RNN/LSTM/GRU operator computes this layer exactly."""
        return not (self.layer_norm or self.proj_size or self.zoneout_h or self.zoneout_c)


def exportable_cells() -> list[str]:
    """The registered cells whose layers export: the RNN/LSTM/GRU family (``RecurrentBase``),
    read from the registry so a new cell is listed, or not, by what it is."""
    return [n for n in cell_names() if issubclass(get_cell(n).layer, RecurrentBase)]


def layer_info(layer: nn.Module, name: str = "rnn") -> LayerInfo:
    """The :class:`LayerInfo` of an rnnkit ``RNN``/``LSTM``/``GRU`` in eval mode.

    Raises ``ValueError`` naming the layer's class for a cell that does not export
    (minGRU, minLSTM: their parallel scan has no ONNX form here).
    """
    mode = getattr(layer, "_scan_mode", None)
    if mode not in _GATES:
        raise ValueError(
            f"`{name}`: cell {type(layer).__name__} does not export to ONNX; cells that do: "
            f"{', '.join(exportable_cells())} (with projections, stacked, bidirectional)"
        )
    weights = {k: v.detach().cpu().float().numpy() for k, v in layer.named_parameters()}
    return LayerInfo(
        mode=mode, num_layers=layer.num_layers, directions=2 if layer.bidirectional else 1,
        hidden_size=layer.hidden_size, proj_size=layer.proj_size,
        layer_norm=bool(getattr(layer, "layer_norm", False)),
        zoneout_h=float(getattr(layer, "zoneout_h", 0.0)),
        zoneout_c=float(getattr(layer, "zoneout_c", 0.0)), weights=weights,
    )  # fmt: skip


class GraphBuilder:
    """Collects nodes and initializers under unique names: ``b.op("MatMul", a, w) -> name``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._ids = itertools.count()

    def name(self, hint: str) -> str:
        return f"{self.prefix}/{hint}_{next(self._ids)}"

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        """Add a node; returns its output name (a list of names when ``outputs > 1``)."""
        names = [self.name(op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def const(self, value: Any, hint: str = "c", dtype: Any = np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name


def _suffix(layer: int, d: int) -> str:
    return f"_l{layer}" + ("_reverse" if d else "")


def _layer_norm(b: GraphBuilder, a: str, groups: int, size: int, gain: str, shift: str) -> str:
    """``LN_G(a) ⊙ gain + shift``: each of the G blocks of ``a (..., G·H)`` normalised."""
    blocks = b.op("Reshape", a, b.const([-1, groups, size], "shape", np.int64))
    ones, zeros = b.const(np.ones(size)), b.const(np.zeros(size))
    normed = b.op("LayerNormalization", blocks, ones, zeros, axis=-1, epsilon=LN_EPS)
    shape = b.op("Shape", a)
    flat = b.op("Reshape", normed, shape)  # (..., G·H)
    return b.op("Add", b.op("Mul", flat, gain), shift)


def _cell_body(info: LayerInfo, w: dict[str, str], b: GraphBuilder) -> onnx.GraphProto:
    """The Scan body: ``(h, [c], gx_t, m_t) -> (h', [c'], y_t)`` for one layer direction."""
    H, P, G, mode = info.hidden_size, info.h_out, _GATES[info.mode], info.mode
    f32 = TensorProto.FLOAT
    names = ["h", "c"] if info.lstm else ["h"]
    ins = [
        helper.make_tensor_value_info(b.name(n), f32, ["B", P if n == "h" else H]) for n in names
    ]
    gx_in = helper.make_tensor_value_info(b.name("gx_t"), f32, ["B", G * H])
    m_in = helper.make_tensor_value_info(b.name("m_t"), f32, ["B", 1])
    h, gx, m = ins[0].name, gx_in.name, m_in.name
    outer = len(b.nodes)  # the body's nodes are taken out of b below
    gh = b.op("MatMul", h, w["w_hh_t"])  # (B, G·H)
    if info.layer_norm:
        gh = _layer_norm(b, gh, G, H, w["ln_hh"], w["b_hh"])
    elif mode == "gru":
        gh = b.op("Add", gh, w["b_hh"])
    if mode == "gru":
        xr, xz, xn = b.op("Split", gx, b.const([H] * 3, "split", np.int64), axis=1, outputs=3)
        hr, hz, hn = b.op("Split", gh, b.const([H] * 3, "split", np.int64), axis=1, outputs=3)
        r = b.op("Sigmoid", b.op("Add", xr, hr))
        z = b.op("Sigmoid", b.op("Add", xz, hz))
        n = b.op("Tanh", b.op("Add", xn, b.op("Mul", r, hn)))
        new = [b.op("Add", n, b.op("Mul", z, b.op("Sub", h, n)))]  # lerp(n, h, z)
    elif mode == "lstm":
        gates = b.op("Add", gx, gh)  # (B, 4H)
        i, f, g, o = b.op("Split", gates, b.const([H] * 4, "split", np.int64), axis=1, outputs=4)
        c = ins[1].name
        c_new = b.op(
            "Add",
            b.op("Mul", b.op("Sigmoid", f), c),
            b.op("Mul", b.op("Sigmoid", i), b.op("Tanh", g)),
        )
        c_out = _layer_norm(b, c_new, 1, H, w["ln_c_w"], w["ln_c_b"]) if info.layer_norm else c_new
        h_new = b.op("Mul", b.op("Sigmoid", o), b.op("Tanh", c_out))
        if info.proj_size:
            h_new = b.op("MatMul", h_new, w["w_hr_t"])  # (B, P)
        new = [h_new, c_new]
    else:
        act = "Tanh" if mode == "rnn_tanh" else "Relu"
        new = [b.op(act, b.op("Add", gx, gh))]
    for k, p in enumerate((info.zoneout_h, info.zoneout_c)[: len(new)]):
        if p:  # eval zoneout: the expectation lerp(new, prev, p)
            prev = ins[k].name
            new[k] = b.op("Add", new[k], b.op("Mul", b.const(p), b.op("Sub", prev, new[k])))
    keep = b.op("Sub", b.const(1.0), m)
    outs = [
        b.op("Add", b.op("Mul", m, v), b.op("Mul", keep, s.name))
        for v, s in zip(new, ins, strict=True)
    ]
    y = b.op("Mul", m, new[0])
    body_nodes = b.nodes[outer:]
    del b.nodes[outer:]
    out_infos = [helper.make_tensor_value_info(n, f32, None) for n in [*outs, y]]
    return helper.make_graph(body_nodes, b.name("cell"), [*ins, gx_in, m_in], out_infos)


def _direction_scan(
    info: LayerInfo, b: GraphBuilder, x: str, lengths: str, mask: str, state: list[str], k: int
) -> tuple[str, list[str]]:
    """One layer, one direction (``k = layer·D + d``) as a Scan: ``y (T, B, H_out)``, state."""
    layer, d = divmod(k, info.directions)
    sfx, wt = _suffix(layer, d), info.weights
    H, G = info.hidden_size, _GATES[info.mode]
    b_ih, b_hh = wt.get("bias_ih" + sfx), wt.get("bias_hh" + sfx)
    zero = np.zeros(G * H, np.float32)
    b_ih = zero if b_ih is None else b_ih
    b_hh = zero if b_hh is None else b_hh
    w = {"w_hh_t": b.const(wt["weight_hh" + sfx].T, "w_hh_t")}
    gx = b.op("MatMul", x, b.const(wt["weight_ih" + sfx].T, "w_ih_t"))  # (T, B, G·H)
    if info.layer_norm:
        gx = _layer_norm(b, gx, G, H, b.const(wt["ln_ih_weight" + sfx]), b.const(b_ih))
        w["ln_hh"], w["b_hh"] = b.const(wt["ln_hh_weight" + sfx]), b.const(b_hh)
        if info.lstm:
            w["ln_c_w"] = b.const(wt["ln_c_weight" + sfx])
            w["ln_c_b"] = b.const(wt["ln_c_bias" + sfx])
    elif info.mode == "gru":  # b_hn sits inside the reset product: b_hh stays in the body
        gx = b.op("Add", gx, b.const(b_ih))
        w["b_hh"] = b.const(b_hh)
    else:
        gx = b.op("Add", gx, b.const(b_ih + b_hh))
    if info.proj_size:
        w["w_hr_t"] = b.const(wt["weight_hr" + sfx].T, "w_hr_t")
    if d:  # reverse each row within its length
        gx = b.op("ReverseSequence", gx, lengths, batch_axis=1, time_axis=0)
    body = _cell_body(info, w, b)
    n = len(state)
    outs = b.op("Scan", *state, gx, mask, body=body, num_scan_inputs=2, outputs=n + 1)
    y = outs[-1]
    if d:
        y = b.op("ReverseSequence", y, lengths, batch_axis=1, time_axis=0)
    return y, outs[:n]


def _layer_native(
    info: LayerInfo, b: GraphBuilder, x: str, lengths32: str, mask: str, state: list[str], l: int
) -> tuple[str, list[str]]:
    """Layer ``l`` (both directions) as one ONNX RNN/LSTM/GRU node."""
    H, D, wt = info.hidden_size, info.directions, info.weights
    order = _ONNX_ORDER.get(info.mode, [0])
    G = len(order)

    def reorder(a: np.ndarray) -> np.ndarray:  # (G·H, ...) torch order -> ONNX order
        return np.concatenate([a[j * H : (j + 1) * H] for j in order])

    sfxs = [_suffix(l, d) for d in range(D)]
    W = np.stack([reorder(wt["weight_ih" + s]) for s in sfxs])  # (D, G·H, I)
    R = np.stack([reorder(wt["weight_hh" + s]) for s in sfxs])  # (D, G·H, H)
    zero = np.zeros(G * H, np.float32)
    biases = [[wt.get(f"bias_{k}" + s, zero) for k in ("ih", "hh")] for s in sfxs]
    Bias = np.stack([np.concatenate([reorder(i), reorder(h)]) for i, h in biases])  # (D, 2·G·H)
    attrs: dict[str, Any] = {
        "hidden_size": H, "direction": "bidirectional" if D == 2 else "forward",
    }  # fmt: skip
    op_type = {"lstm": "LSTM", "gru": "GRU"}.get(info.mode, "RNN")
    if info.mode == "gru":
        attrs["linear_before_reset"] = 1
    if op_type == "RNN":
        attrs["activations"] = ["Tanh" if info.mode == "rnn_tanh" else "Relu"] * D
    starts, ends = b.const([l * D], "s", np.int64), b.const([(l + 1) * D], "e", np.int64)
    init = [b.op("Slice", s, starts, ends) for s in state]  # (D, B, ·)
    ins = [x, b.const(W, "W"), b.const(R, "R"), b.const(Bias, "B"), lengths32, *init]
    outs = b.op(op_type, *ins, outputs=3 if info.lstm else 2, **attrs)
    y = b.op("Transpose", outs[0], perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
    y = b.op("Reshape", y, b.const([0, 0, -1], "shape", np.int64))  # (T, B, D·H)
    y = b.op("Mul", y, mask)  # zero past each row's length, whatever the runtime leaves
    return y, list(outs[1:])


def expand_recurrent(
    info: LayerInfo, prefix: str, inputs: list[str], outputs: list[str], *, native: bool = True
) -> GraphBuilder:
    """The nodes computing one placeholder: ``inputs`` = x, lengths, h0[, c0] (names;
    lengths/state may be ``""``), ``outputs`` = y, h_n[, c_n]."""
    b = GraphBuilder(prefix)
    x, lengths, *state = inputs
    shape = b.op("Shape", x)
    T = b.op("Slice", shape, b.const([0], "s", np.int64), b.const([1], "e", np.int64))
    B = b.op("Slice", shape, b.const([1], "s", np.int64), b.const([2], "e", np.int64))
    if not lengths:  # every row is T long
        lengths = b.op("Expand", b.op("Squeeze", T), B)
    steps = b.op("Range", b.const(0, "z", np.int64), b.op("Squeeze", T), b.const(1, "o", np.int64))
    valid = b.op("Less", b.op("Unsqueeze", steps, b.const([1], "ax", np.int64)), lengths)
    mask = b.op(
        "Unsqueeze", b.op("Cast", valid, to=TensorProto.FLOAT), b.const([2], "ax", np.int64)
    )
    LD = info.num_layers * info.directions
    sizes = [info.h_out, info.hidden_size] if info.lstm else [info.h_out]
    state = [s for s in state if s]
    if not state:  # zeros (L·D, B, ·)
        state = [
            b.op("ConstantOfShape", b.op("Concat", b.const([LD], "n", np.int64), B,
                                         b.const([n], "n", np.int64), axis=0))
            for n in sizes
        ]  # fmt: skip
    use_native = native and info.native
    lengths32 = b.op("Cast", lengths, to=TensorProto.INT32) if use_native else ""
    finals: list[list[str]] = [[] for _ in sizes]
    for l in range(info.num_layers):
        if use_native:
            x, fin = _layer_native(info, b, x, lengths32, mask, state, l)
            for k, f in enumerate(fin):
                finals[k].append(f)
            continue
        ys = []
        for d in range(info.directions):
            k = l * info.directions + d
            init = [b.op("Gather", s, b.const(k, "k", np.int64), axis=0) for s in state]
            y, fin = _direction_scan(info, b, x, lengths, mask, init, k)
            ys.append(y)
            for j, f in enumerate(fin):
                finals[j].append(b.op("Unsqueeze", f, b.const([0], "ax", np.int64)))
        x = ys[0] if len(ys) == 1 else b.op("Concat", *ys, axis=2)  # (T, B, D·H_out)
    b.nodes.append(helper.make_node("Identity", [x], [outputs[0]]))
    for parts, out in zip(finals, outputs[1:], strict=True):
        node = helper.make_node("Concat", parts, [out], axis=0) if len(parts) > 1 else None
        b.nodes.append(node or helper.make_node("Identity", parts, [out]))
    return b
