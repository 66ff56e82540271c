"""``RecurrentSpec``: a recurrent layer's cell, sizes, layers, directions, dropout and
regularisers, declared and validated once and embedded by every model config.

>>> spec = RecurrentSpec(cell="gru", hidden_size=8, num_layers=2, bidirectional=True)
>>> spec.output_size  # D * H
16
>>> layer = spec.build(5)  # rnnkit.nn.GRU(5, 8, 2, bidirectional=True)
>>> RecurrentSpec.from_dict(spec.to_dict()) == spec
True

A model config embeds it as a field (``rnn: RecurrentSpec = RecurrentSpec(...)``, the model's
default) and is decorated with :func:`accepts_flat_keys`, so the older flat form, with the
spec's keys beside the model's own (``LMConfig(cell="gru", hidden_size=8)``,
``{"cell": "gru", "hidden_size": 8, "embedding_dim": 16}``), still builds the same config.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from rnnkit.config import check_keys, check_types, config_from_dict
from rnnkit.functional.slstm import FORGET_GATES
from rnnkit.nn.factory import make_rnn
from rnnkit.nn.registry import check_cell_options, get_cell
from rnnkit.nn.regularization import DROPOUT_KINDS

__all__ = ["SPEC_KEYS", "RecurrentSpec", "accepts_flat_keys"]

C = TypeVar("C")

_PROBABILITIES = ("dropout", "recurrent_dropout", "zoneout_h", "zoneout_c", "weight_drop")


@dataclass(frozen=True)
class RecurrentSpec:
    """One stack of recurrent layers: what ``rnnkit.nn.make_rnn`` builds."""

    cell: str = "lstm"
    """Cell kind, a name registered in ``rnnkit.nn.registry`` (``rnnkit.nn.cell_names()``)."""
    hidden_size: int = 128
    """Size H of the recurrent state of each layer and direction."""
    num_layers: int = 1
    """Number L of stacked layers."""
    bidirectional: bool = False
    """Run a second, reversed direction (D = 2); outputs are D*H wide."""
    dropout: float = 0.0
    """Dropout between stacked layers (train mode only); models may also use it elsewhere."""
    proj_size: int = 0
    """Project each layer's output to P < H features (0: none); cells that support it (LSTM)."""
    dropout_kind: str = "standard"
    """Between-layer dropout: ``standard`` (a fresh mask per step) or ``locked`` (one mask
    per sequence, Gal & Ghahramani 2016)."""
    recurrent_dropout: float = 0.0
    """Dropout on the candidate g / n inside each step (Semeniuta et al. 2016); LSTM, GRU."""
    zoneout_h: float = 0.0
    """Zoneout on h: each unit keeps its previous value with this probability (Krueger
    et al. 2017)."""
    zoneout_c: float = 0.0
    """Zoneout on the LSTM cell state c."""
    weight_drop: float = 0.0
    """DropConnect on the hidden-to-hidden weights ``W_hh`` (Merity et al. 2018, ``wdrop``)."""
    num_heads: int = 0
    """Heads NH of the xLSTM cells (slstm, mlstm), dividing H (0: the cell's default, 4 where
    it divides H, else 2, else 1)."""
    chunk_size: int = 0
    """Steps per chunk of the mLSTM's chunkwise form (0: the cell's default, 64)."""
    forget_gate: str = "sigmoid"
    """The sLSTM's forget gate: ``sigmoid`` or ``exp`` (Beck et al. 2024, eq. 8)."""

    def __post_init__(self) -> None:
        check_types(self)
        get_cell(self.cell)  # an unknown cell names the registered ones
        object.__setattr__(self, "cell", self.cell.lower())  # frozen: set once, here
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}")
        if self.dropout_kind not in DROPOUT_KINDS:
            raise ValueError(
                f"`dropout_kind` must be one of {DROPOUT_KINDS}, got {self.dropout_kind!r}"
            )
        if not 0 <= self.proj_size < self.hidden_size:
            raise ValueError(
                f"`proj_size` must be in [0, hidden_size={self.hidden_size}), got {self.proj_size}"
            )
        self._check_xlstm_fields()
        check_cell_options(self.cell, self.layer_options())

    def _check_xlstm_fields(self) -> None:
        """``num_heads``, ``chunk_size`` >= 0 (0: unset), heads dividing H, a known gate."""
        for name in ("num_heads", "chunk_size"):
            if getattr(self, name) < 0:
                value = getattr(self, name)
                raise ValueError(f"`{name}` must be >= 0 (0: the cell's default), got {value}")
        if self.num_heads and self.hidden_size % self.num_heads:
            raise ValueError(
                f"`num_heads` must divide `hidden_size`={self.hidden_size}, got {self.num_heads}"
            )
        if self.forget_gate not in FORGET_GATES:
            raise ValueError(
                f"`forget_gate` must be one of {FORGET_GATES}, got {self.forget_gate!r}"
            )

    @property
    def directions(self) -> int:
        """D: 2 if bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of each output step: D * (P or H)."""
        return self.directions * (self.proj_size or self.hidden_size)

    @property
    def cell_state(self) -> bool:
        """Whether the layer's state is ``LSTMState(h, c)`` (from the registry)."""
        return get_cell(self.cell).cell_state

    @property
    def plain_state(self) -> bool:
        """Whether the state is ``h`` or ``LSTMState(h, c)`` (what a seq2seq bridge maps),
        not a cell's own NamedTuple (``SLSTMState``, ``MLSTMState``)."""
        kind = get_cell(self.cell)
        return kind.cell_state or getattr(kind.layer, "state_type", None) is None

    def layer_options(self) -> dict[str, Any]:
        """The options beyond sizes and dropout that are set, as ``make_rnn`` takes them.

        ``dropout_kind`` acts between layers, so it is passed only with ``num_layers > 1``;
        the xLSTM fields only when set (not 0, not the default ``sigmoid`` forget gate).
        """
        options = {
            "proj_size": self.proj_size,
            "recurrent_dropout": self.recurrent_dropout,
            "zoneout_h": self.zoneout_h,
            "zoneout_c": self.zoneout_c,
            "weight_drop": self.weight_drop,
            "num_heads": self.num_heads,
            "chunk_size": self.chunk_size,
            "forget_gate": self.forget_gate,
        }
        if self.num_layers > 1:
            options["dropout_kind"] = self.dropout_kind
        return {k: v for k, v in options.items() if v not in (0, 0.0, "standard", "sigmoid")}

    def build(
        self, input_size: int, *, batch_first: bool = False, **engine_kwargs: Any
    ) -> nn.Module:
        """The layer: ``layer(x (T, B, I), state) -> (output (T, B, D*H_out), state)``.

        Args:
            input_size: I.
            batch_first: take and give ``(B, T, ·)``.
            **engine_kwargs: passed to the layer (``impl``, ``bias``, ``device``, ``dtype``).
        """
        return make_rnn(
            self.cell,
            input_size,
            self.hidden_size,
            self.num_layers,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
            batch_first=batch_first,
            **self.layer_options(),
            **engine_kwargs,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecurrentSpec:
        """Build from a dict; an unknown key or a wrong type is an error that names it."""
        return config_from_dict(cls, d, what="rnn")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def split_flat(
        cls, d: Mapping[str, Any], *, default: RecurrentSpec, field: str = "rnn"
    ) -> dict[str, Any]:
        """``d`` with its flat spec keys moved into ``d[field]``, a :class:`RecurrentSpec`.

        ``d[field]`` may be a spec, a (partial) dict of its fields, or absent; missing fields
        come from ``default``, and flat keys override nested ones (they come from later
        overrides such as ``{**saved, "hidden_size": 8}``).
        """
        out = dict(d)
        flat = {k: out.pop(k) for k in SPEC_KEYS if k in out}
        nested = out.get(field, default)
        if isinstance(nested, RecurrentSpec):
            out[field] = dataclasses.replace(nested, **flat) if flat else nested
            return out
        if not isinstance(nested, Mapping):
            raise TypeError(
                f"`{field}` must be a RecurrentSpec or a mapping of its fields, "
                f"got {type(nested).__name__}"
            )
        check_keys(nested, SPEC_KEYS, what=field)
        out[field] = cls.from_dict({**default.to_dict(), **nested, **flat})
        return out


SPEC_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RecurrentSpec))
"""The field names of :class:`RecurrentSpec`: the flat keys a model config also takes."""


def accepts_flat_keys(field: str = "rnn") -> Callable[[type[C]], type[C]]:
    """Class decorator: the dataclass's ``field`` is a :class:`RecurrentSpec` and its
    constructor also takes the spec's keys flat, beside its own (the older form).

    ``Config(cell="gru", rnn={"hidden_size": 8})`` and ``Config(cell="gru", hidden_size=8)``
    build the same config; the class gets ``FLAT_KEYS`` (:data:`SPEC_KEYS`), which
    :func:`rnnkit.config.config_from_dict` accepts too (configs saved before the spec).
    The fields are read in one place only: ``config.rnn.hidden_size``.
    """

    def decorate(cls: type[C]) -> type[C]:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        if field not in fields or not isinstance(fields[field].default, RecurrentSpec):
            raise TypeError(f"{cls.__name__}.{field} must have a RecurrentSpec default")
        clash = sorted(set(fields) & set(SPEC_KEYS))
        if clash:
            raise TypeError(f"{cls.__name__} fields {clash} clash with RecurrentSpec keys")
        default = fields[field].default
        init = cls.__init__

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **RecurrentSpec.split_flat(kwargs, default=default, field=field))

        cls.__init__ = __init__  # type: ignore[misc]
        cls.FLAT_KEYS = SPEC_KEYS  # type: ignore[attr-defined]
        return cls

    return decorate
