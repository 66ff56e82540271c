"""The one table of cell kinds: name -> layer class, fixed arguments, options it supports.

Every place that needs the cell names (``make_rnn``, :class:`~rnnkit.nn.spec.RecurrentSpec`,
the task models, ``--help`` texts, docs lists) reads :data:`CELLS` or :func:`cell_names`, so a
new cell is one :func:`register_cell` call::

    >>> from rnnkit.nn import GRU
    >>> _ = register_cell("my_gru", GRU, description="GRU under another name")
    >>> "my_gru" in cell_names()
    True
    >>> unregister_cell("my_gru")

A layer class takes ``(input_size, hidden_size, num_layers, *, dropout, bidirectional,
batch_first, **options)`` and is called as ``layer(x (T, B, I), state) -> (output (T, B,
D·H_out), state)`` (``x`` may be a ``PackedSequence``), like :class:`rnnkit.nn.LSTM`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from rnnkit.nn.minrnn import MinGRU, MinLSTM
from rnnkit.nn.mlstm import MLSTM
from rnnkit.nn.rglru import RGLRU
from rnnkit.nn.rnn import GRU, LSTM, RNN
from rnnkit.nn.slstm import SLSTM

__all__ = [
    "CELLS",
    "LAYERS",
    "OPTIONS",
    "CellKind",
    "cell_names",
    "check_cell_options",
    "get_cell",
    "register_cell",
    "unregister_cell",
]

OPTIONS = (
    "proj_size",
    "dropout_kind",
    "recurrent_dropout",
    "zoneout_h",
    "zoneout_c",
    "weight_drop",
    "num_heads",
    "chunk_size",
    "forget_gate",
)
"""Layer options beyond (sizes, layers, directions, dropout) that a cell kind may support."""

_RECURRENT_BASE = frozenset({"dropout_kind", "zoneout_h", "weight_drop"})  # RNN, LSTM, GRU


@dataclass(frozen=True)
class CellKind:
    """One row of the registry."""

    layer: type[nn.Module]
    """The layer class (see the module doc for what it takes)."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments the name fixes (``rnn_relu``: ``nonlinearity="relu"``)."""
    description: str = ""
    """One line for ``--help`` texts and docs lists."""
    supports: frozenset[str] = frozenset()
    """Which of :data:`OPTIONS` the layer takes (``proj_size`` only for LSTM)."""
    cell_state: bool = False
    """Whether the state is ``LSTMState(h, c)`` rather than ``h (L·D, B, H)``."""


_LSTM_OPTIONS = _RECURRENT_BASE | {"proj_size", "recurrent_dropout", "zoneout_c"}
_GRU_OPTIONS = _RECURRENT_BASE | {"recurrent_dropout"}
_TANH, _RELU = (
    MappingProxyType({"nonlinearity": "tanh"}),
    MappingProxyType({"nonlinearity": "relu"}),
)
_LN = MappingProxyType({"layer_norm": True})  # Ba et al. 2016, see rnnkit.functional.cells

_CELLS: dict[str, CellKind] = {
    "rnn": CellKind(RNN, _TANH, "Elman RNN, tanh", _RECURRENT_BASE),
    "rnn_tanh": CellKind(RNN, _TANH, "Elman RNN, tanh (same as rnn)", _RECURRENT_BASE),
    "rnn_relu": CellKind(RNN, _RELU, "Elman RNN, ReLU", _RECURRENT_BASE),
    "lstm": CellKind(LSTM, MappingProxyType({}), "LSTM", _LSTM_OPTIONS, cell_state=True),
    "gru": CellKind(GRU, MappingProxyType({}), "GRU", _GRU_OPTIONS),
    "lstm_ln": CellKind(LSTM, _LN, "layer-normalised LSTM", _LSTM_OPTIONS, cell_state=True),
    "gru_ln": CellKind(GRU, _LN, "layer-normalised GRU", _GRU_OPTIONS),
    "mingru": CellKind(MinGRU, MappingProxyType({}), "minGRU (Feng et al. 2024), parallel scan"),
    "minlstm": CellKind(MinLSTM, MappingProxyType({}), "minLSTM (Feng et al. 2024), parallel scan"),
    "slstm": CellKind(
        SLSTM,
        MappingProxyType({}),
        "sLSTM (xLSTM, Beck et al. 2024), recurrent",
        frozenset({"num_heads", "forget_gate"}),
    ),  # fmt: skip
    "mlstm": CellKind(
        MLSTM,
        MappingProxyType({}),
        "mLSTM (xLSTM, Beck et al. 2024), parallel",
        frozenset({"num_heads", "chunk_size"}),
    ),  # fmt: skip
    "rglru": CellKind(RGLRU, MappingProxyType({}), "RG-LRU (Hawk, De et al. 2024), linear scan"),
}
CELLS: Mapping[str, CellKind] = MappingProxyType(_CELLS)
"""Read-only view of the registry: name -> :class:`CellKind` (change it with
:func:`register_cell` / :func:`unregister_cell`)."""


def register_cell(
    name: str,
    layer: type[nn.Module],
    *,
    fixed: Mapping[str, Any] | None = None,
    description: str,
    supports: frozenset[str] | set[str] | tuple[str, ...] = (),
    cell_state: bool = False,
    replace: bool = False,
) -> CellKind:
    """Add the cell kind ``name`` (lower case) and return its row.

    Raises ``ValueError`` for a name already registered (unless ``replace=True``), a name
    that is not a lower-case identifier, or an option not in :data:`OPTIONS`.
    """
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"cell `name` must be a lower-case identifier, got {name!r}")
    if name in _CELLS and not replace:
        raise ValueError(f"cell {name!r} is already registered; pass replace=True to replace it")
    if not (isinstance(layer, type) and issubclass(layer, nn.Module)):
        raise TypeError(f"`layer` must be an nn.Module class, got {layer!r}")
    unknown = sorted(set(supports) - set(OPTIONS))
    if unknown:
        raise ValueError(f"`supports` must be some of {list(OPTIONS)}, got {unknown}")
    kind = CellKind(
        layer, MappingProxyType(dict(fixed or {})), description, frozenset(supports), cell_state
    )
    _CELLS[name] = kind
    return kind


def unregister_cell(name: str) -> None:
    """Remove the cell kind ``name`` (``KeyError`` naming the known ones if absent)."""
    if name not in _CELLS:
        raise KeyError(f"cell {name!r} is not registered; registered: {cell_names()}")
    del _CELLS[name]


def cell_names() -> list[str]:
    """The registered cell names, sorted."""
    return sorted(_CELLS)


def get_cell(name: str) -> CellKind:
    """The row of ``name`` (case-insensitive); ``ValueError`` listing the names if unknown."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _CELLS:
        raise ValueError(f"`cell` must be one of {cell_names()}, got {name!r}")
    return _CELLS[key]


def check_cell_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for an option set (truthy) that cell ``name`` does not support.

    ``options`` maps names of :data:`OPTIONS` to values; 0, 0.0, None and ``"standard"``
    count as unset. The message names the option and the cells that support it.
    """
    kind = get_cell(name)
    for option, value in options.items():
        if option not in OPTIONS:
            raise ValueError(f"unknown layer option {option!r}; expected one of {list(OPTIONS)}")
        if value in (None, 0, 0.0, "standard") or option in kind.supports:
            continue
        able = [n for n in cell_names() if option in _CELLS[n].supports]
        raise ValueError(
            f"`{option}` is only for cells {', '.join(able) or '(none)'}, "
            f"got {option}={value!r} with cell={name!r}"
        )


class _LayersView(Mapping[str, tuple[type[nn.Module], Mapping[str, Any]]]):
    """``LAYERS``: the registry as the older ``name -> (layer class, fixed kwargs)`` map."""

    def __getitem__(self, name: str) -> tuple[type[nn.Module], Mapping[str, Any]]:
        kind = _CELLS[name]
        return kind.layer, kind.fixed

    def __iter__(self) -> Iterator[str]:
        return iter(list(_CELLS))

    def __len__(self) -> int:
        return len(_CELLS)

    def __repr__(self) -> str:
        return f"LAYERS({cell_names()})"


LAYERS: Mapping[str, tuple[type[nn.Module], Mapping[str, Any]]] = _LayersView()
"""Compatibility view of :data:`CELLS`: name -> (layer class, fixed keyword arguments)."""
