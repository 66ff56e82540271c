"""Run any rnnkit recurrent layer inside any model with every step's state and gates exposed.

:func:`probe` hooks every recurrent layer of a model (``rnnkit.nn`` RNN / LSTM / GRU,
MinGRU / MinLSTM, and SLSTM / MLSTM / RGLRU, see :mod:`rnnkit.explain.probe_stateful`).
While it is active, each call of such a layer is recomputed layer by layer and direction by
direction with the explicit scan (:func:`rnnkit.functional.scan`) and the one step function
of its cell kind, and the recomputed output replaces the layer's own. Two things are added
on the way, neither changing a value:

- a zero tensor ``eps (T, B, H_out)`` is added to the state after every step, so the
  gradient of the loss with respect to ``eps[t]`` is the *total* ``dL/dh_t`` (through the
  output at t and through every later step), which ``retain_grad`` on the outputs alone
  would not give (sLSTM, mLSTM: to their memory ``c_t`` / ``C_t``, whose gradient that is;
  their ``h_t`` is a read-out, see :mod:`rnnkit.explain.probe_stateful`);
- the gate activations of every step are recorded (detached), computed from the same
  input projection and state the step sees.

The layers themselves are not changed. Models call their layers in eval mode here (no
dropout between layers, zoneout as its expectation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.explain.gate_math import gate_values
from rnnkit.explain.probe_stateful import CARRIED, STATEFUL, step_plan
from rnnkit.functional import LSTMState, join_states, scan, stack_layers
from rnnkit.functional.cells import (
    GATES,
    gru_cell,
    input_part,
    lstm_cell,
    rnn_relu_cell,
    rnn_tanh_cell,
)
from rnnkit.functional.minrnn import STEPS
from rnnkit.nn.base import RecurrentBase
from rnnkit.nn.minrnn import MinRNNBase
from rnnkit.nn.registry import CELLS

__all__ = ["LayerTrace", "Probe", "cell_kind", "probe", "recurrent_layers"]

_CELLS = {"rnn_tanh": rnn_tanh_cell, "rnn_relu": rnn_relu_cell, "lstm": lstm_cell, "gru": gru_cell}


@dataclass
class LayerTrace:
    """One layer and direction of one call of a recurrent module.

    Attributes:
        module: the module's name in the model (``"rnn"``, ``"encoder"``, ``"layers.1"``).
        layer, direction: which layer (0-based) and direction (0 forward, 1 reverse).
        cell: the cell kind (``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ``"mingru"`` ...).
        eps: ``(T, B, H_out)`` the zero added to every state; ``eps.grad`` is ``dL/dh_t``
            (mLSTM: ``(T, B, NH·d·d)``, added to the memory; ``eps.grad`` is ``dL/dC_t``).
        carried: the state ``eps`` is added to (``"h"``; sLSTM ``"c"``, mLSTM ``"C"``: their
            memories, see :mod:`rnnkit.explain.probe_stateful`); note: why, where not ``h``.
        hidden: ``(T, B, H_out)`` the layer's output (detached, zero at padded steps).
        gates: ``{name: (T, B, H)}`` gate activations (detached).
        valid: ``(T, B)`` bool, the steps within each row's length.
    """

    module: str
    layer: int
    direction: int
    cell: str
    eps: Tensor
    carried: str = "h"
    note: str = ""
    hidden: Tensor | None = None
    gates: dict[str, Tensor] = field(default_factory=dict)
    valid: Tensor | None = None


@dataclass
class Probe:
    """What :func:`probe` collected: every call's traces and outputs, in call order.

    ``calls[i]`` is the list of :class:`LayerTrace` of call ``i`` (index ``layer·D + d``);
    ``outputs[i]`` is that call's output ``(T, B, D·H_out)`` (time-major, padded, with
    ``retain_grad``), ``inputs[i]`` its input ``(T, B, I)`` (padded; ``retain_grad`` when it
    needs a gradient, so ``inputs[i].grad`` gives gradient x input), ``lengths[i]`` its
    lengths or None, ``names[i]`` the module's name.
    """

    calls: list[list[LayerTrace]] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    inputs: list[Tensor] = field(default_factory=list)
    lengths: list[Tensor | None] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    modules: list[nn.Module] = field(default_factory=list)


def recurrent_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every rnnkit recurrent layer in ``model``, in definition order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (RecurrentBase, MinRNNBase, *STATEFUL))
    ]


def cell_kind(module: nn.Module) -> str:
    """The cell kind a recurrent layer runs: its torch mode (``rnn_tanh``, ``lstm``) or
    min kind, else the registered name of its layer class (``slstm``, ``rglru``)."""
    if isinstance(module, MinRNNBase):
        return module.kind
    if isinstance(module, RecurrentBase):
        return str(module.mode).lower()
    if isinstance(module, STATEFUL):
        return next(name for name, kind in CELLS.items() if kind.layer is type(module))
    raise TypeError(f"`module` must be an rnnkit recurrent layer, got {type(module).__name__}")


@contextlib.contextmanager
def probe(model: nn.Module) -> Iterator[Probe]:
    """Hook every recurrent layer of ``model`` for the ``with`` block; yields the records.

    >>> with probe(model) as p:                        # doctest: +SKIP
    ...     loss = model_loss(model)
    ...     loss.backward()
    >>> p.calls[0][0].eps.grad  # (T, B, H): dL/dh_t of the first layer  # doctest: +SKIP
    """
    record = Probe()
    handles = []
    layers = recurrent_layers(model)
    if not layers:
        raise ValueError(
            f"`model` ({type(model).__name__}) has no rnnkit recurrent layer, so no state to "
            "look inside (MiniRocket, the series default, is such a network: train a recurrent "
            "series model with `rnnkit classify train --preset lstm-fcn`)"
        )
    for name, module in layers:
        hook = partial(_hook, name=name, record=record)
        handles.append(module.register_forward_hook(hook, with_kwargs=True))
    try:
        yield record
    finally:
        for h in handles:
            h.remove()


def _hook(
    module: nn.Module, args: tuple, kwargs: dict, output: Any, *, name: str, record: Probe
) -> Any:
    """Replace the layer's output by the probed recomputation of the same call."""
    inp = args[0] if args else kwargs["input"]
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    lengths = kwargs.get("lengths")
    packed = isinstance(inp, PackedSequence)
    batch_first = bool(module.batch_first)
    if packed:
        x, lengths = pad_packed_sequence(inp)  # (T, B, I), rows in the caller's order
    else:
        x = inp if inp.dim() == 3 else inp.unsqueeze(1 if not batch_first else 0)
        x = x.transpose(0, 1) if batch_first else x  # (T, B, I)
        if hx is not None and inp.dim() == 2:
            hx = _each(hx, lambda s: s.unsqueeze(1))
    if lengths is not None:
        lengths = torch.as_tensor(lengths, dtype=torch.long)
    out, h_n, traces = run_probed(module, x, hx, lengths, name=name)
    for t in (out, x):
        if t.requires_grad:
            t.retain_grad()
    record.calls.append(traces)
    record.outputs.append(out)
    record.inputs.append(x)
    record.lengths.append(lengths)
    record.names.append(name)
    record.modules.append(module)
    if packed:
        return pack_padded_sequence(out, lengths.cpu(), enforce_sorted=False), h_n
    y = out.transpose(0, 1) if batch_first else out
    if inp.dim() == 2:
        y = y.squeeze(0 if batch_first else 1)
        h_n = _each(h_n, lambda s: s.squeeze(1))
    return y, h_n


def _each(state: Any, fn: Any) -> Any:
    """``fn`` on a Tensor state or on every field of a tuple / NamedTuple state."""
    if isinstance(state, Tensor):
        return fn(state)
    fields = [fn(s) for s in state]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)


def run_probed(
    module: nn.Module, x: Tensor, hx: Any, lengths: Tensor | None, *, name: str = ""
) -> tuple[Tensor, Any, list[LayerTrace]]:
    """The layer on ``x (T, B, I)`` with ``hx`` like its own forward's (or None), probed.

    Returns ``(output (T, B, D·H_out), h_n, traces)``; ``traces[layer·D + d]``.
    """
    kind = cell_kind(module)
    directions = 2 if module.bidirectional else 1
    traces: list[LayerTrace] = []

    def run(k: int, inp: Tensor, reverse: bool) -> tuple[Tensor, Any]:
        layer, d = divmod(k, directions)
        if isinstance(module, STATEFUL):
            own = None if hx is None else _each(hx, lambda f: f[k])
            if own is not None and module.state_type is not None:
                own = module.state_type(*own)  # a plain tuple of fields is accepted too
            plan = step_plan(module, k, inp, own)
            carried, state, note = plan.carried, plan.state, CARRIED.get(type(module), ("h", ""))
        else:
            state, plan, note = _initial(module, kind, hx, k, inp), None, ("h", "")
            carried = state if isinstance(state, Tensor) else state.h
        eps = carried.unsqueeze(0).expand(inp.size(0), *carried.shape)
        eps = torch.zeros_like(eps).requires_grad_()  # (T, B, ·)
        trace = LayerTrace(name, layer, d, kind, eps, *note)
        traces.append(trace)
        out, final = _direction(module, kind, k, inp, state, trace, reverse, lengths, plan)
        trace.hidden = out.detach()
        return out, final if plan is None else plan.final(final)

    out, finals = stack_layers(run, x, num_layers=module.num_layers, directions=directions)
    if isinstance(finals[0], Tensor | LSTMState):
        return out, join_states(finals, torch.stack), traces
    fields = zip(*finals, strict=True)
    return out, type(finals[0])(*(torch.stack(f) for f in fields)), traces


def _initial(module: nn.Module, kind: str, hx: Any, k: int, x: Tensor) -> Any:
    """Layer·direction ``k``'s initial state from ``hx`` (zeros when None)."""
    batch = x.size(1)
    h_out = getattr(module, "proj_size", 0) or module.hidden_size
    if hx is None:
        h = x.new_zeros(batch, h_out)
        if kind == "lstm":
            return LSTMState(h, x.new_zeros(batch, module.hidden_size))
        return h
    return LSTMState(hx[0][k], hx[1][k]) if kind == "lstm" else hx[k]


def _weights(module: nn.Module, k: int) -> dict[str, Any]:
    """Layer·direction ``k``'s parameters by their base name (``weight_ih``, ``ln_hh_weight``)."""
    directions = 2 if module.bidirectional else 1
    layer, d = divmod(k, directions)
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    names += ("ln_ih_weight", "ln_hh_weight", "ln_c_weight", "ln_c_bias")
    return {n: getattr(module, n + sfx, None) for n in names}


def _direction(
    module: nn.Module,
    kind: str,
    k: int,
    x: Tensor,
    state: Any,
    trace: LayerTrace,
    reverse: bool,
    lengths: Tensor | None,
    plan: Any = None,
) -> tuple[Tensor, Any]:
    """One layer·direction: the cell's step plus ``eps``, gates recorded per step."""
    steps = x.size(0)
    if plan is not None:
        return _planned(plan, x, trace, reverse, lengths)
    w = _weights(module, k)
    if kind in STEPS:  # minGRU / minLSTM: gates from the input alone
        proj = nn.functional.linear(x, w["weight_ih"], w["bias_ih"])  # (T, B, G·H)

        def cell(state: Tensor, k_t: Tensor) -> Tensor:
            return STEPS[kind](k_t, state, None)

        def gates(k_t: Tensor, h: Tensor) -> dict[str, Tensor]:
            return gate_values(kind, k_t)

    else:
        proj = input_part(
            x, w["weight_ih"], w["bias_ih"], ln_ih=w["ln_ih_weight"], groups=GATES[kind]
        )
        cell, gates = _recurrent_cell(module, kind, w)
    index = torch.arange(steps, device=x.device).view(steps, 1, 1).expand(-1, x.size(1), 1)
    recorded: dict[int, dict[str, Tensor]] = {}

    def step(state: Any, x_t: Tensor, eps: Tensor, t: Tensor) -> Any:
        h = state if isinstance(state, Tensor) else state.h
        recorded[int(t[0, 0])] = {n: v.detach() for n, v in gates(x_t, h).items()}
        new = cell(state, x_t)
        return new + eps if isinstance(new, Tensor) else LSTMState(new.h + eps, new.c)

    out, final = scan(
        step, proj, state, reverse=reverse, lengths=lengths, per_step={"eps": trace.eps, "t": index}
    )
    _finish(trace, recorded, x, lengths)
    return out, final


def _planned(
    plan: Any, x: Tensor, trace: LayerTrace, reverse: bool, lengths: Tensor | None
) -> tuple[Tensor, Any]:
    """A stateful layer's layer·direction (see :mod:`rnnkit.explain.probe_stateful`)."""
    steps = x.size(0)
    index = torch.arange(steps, device=x.device).view(steps, 1, 1).expand(-1, x.size(1), 1)
    recorded: dict[int, dict[str, Tensor]] = {}

    def step(state: Any, p_t: Tensor, eps: Tensor, t: Tensor) -> Any:
        new = plan.cell(state, p_t, eps)
        recorded[int(t[0, 0])] = {n: v.detach() for n, v in plan.gates(p_t, state, new).items()}
        return new

    out, final = scan(
        step,
        plan.proj,
        plan.state,
        reverse=reverse,
        lengths=lengths,
        per_step={"eps": trace.eps, "t": index},
    )
    _finish(trace, recorded, x, lengths)
    return out, final


def _finish(
    trace: LayerTrace, recorded: dict[int, dict[str, Tensor]], x: Tensor, lengths: Tensor | None
) -> None:
    """Stack the recorded gates (zeros at steps past every row's end) and set ``valid``."""
    steps = x.size(0)
    names = next(iter(recorded.values())).keys()
    trace.gates = {
        n: torch.stack(
            [
                recorded[t][n] if t in recorded else torch.zeros_like(recorded[min(recorded)][n])
                for t in range(steps)
            ]
        )
        for n in names
    }
    valid = torch.ones(steps, x.size(1), dtype=torch.bool, device=x.device)
    if lengths is not None:
        valid = torch.arange(steps, device=x.device).unsqueeze(1) < lengths.to(x.device)
    trace.valid = valid


def _recurrent_cell(module: nn.Module, kind: str, w: dict[str, Any]) -> tuple[Any, Any]:
    """The step (input already projected) and the gate function of an RNN/LSTM/GRU layer."""
    kwargs: dict[str, Any] = {"w_ih": None, "w_hh": w["weight_hh"], "b_hh": w["bias_hh"]}
    if w["ln_hh_weight"] is not None:
        kwargs["ln_hh"] = w["ln_hh_weight"]
    if getattr(module, "zoneout_h", 0.0):
        kwargs["zoneout_h"] = module.zoneout_h  # eval: the expectation
    if kind == "lstm":
        kwargs["w_hr"] = w["weight_hr"]
        if w["ln_c_weight"] is not None:
            kwargs["ln_c"] = (w["ln_c_weight"], w["ln_c_bias"])
        if getattr(module, "zoneout_c", 0.0):
            kwargs["zoneout_c"] = module.zoneout_c
    cell = partial(_CELLS[kind], **kwargs)

    def gates(gx: Tensor, h: Tensor) -> dict[str, Tensor]:
        return gate_values(
            kind, gx, h, w_hh=w["weight_hh"], b_hh=w["bias_hh"], ln_hh=w["ln_hh_weight"]
        )

    return cell, gates
