"""The layer plumbing shared by :class:`~rnnkit.nn.SLSTM`, :class:`~rnnkit.nn.MLSTM` and
:class:`~rnnkit.nn.RGLRU`: arguments, per layer·direction parameters, state checks, the
layers x directions composition (:func:`rnnkit.functional.stack_layers`) and ``step``.

A subclass declares its parameters (:meth:`StatefulLayer._param_shapes`), its state (a Tensor
``(L·D, B, H)`` when :attr:`StatefulLayer.state_type` is None, else a NamedTuple whose every
field has ``L·D`` in front and the batch on dim 1) and one layer·direction
(:meth:`StatefulLayer._direction`). The call contract is :class:`rnnkit.nn.GRU`'s:
``forward(input, hx=None, *, lengths=None) -> (output (T, B, D·H), h_n)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.functional import stack_layers
from rnnkit.nn import _checks
from rnnkit.nn._frontend import sequence_forward

__all__ = ["StatefulLayer"]


class StatefulLayer(nn.Module):
    """Base of the xLSTM / RG-LRU layers (see the module doc)."""

    modes: tuple[str, ...] = ("auto",)
    """The values ``mode`` takes (the first is the default)."""
    state_type: Any = None
    """None (state ``h (L·D, B, H)``) or the NamedTuple class of the state."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _checks.check_positive_int("input_size", input_size)
        _checks.check_positive_int("hidden_size", hidden_size)
        _checks.check_positive_int("num_layers", num_layers)
        for name, flag in (("bias", bias), ("batch_first", batch_first)):
            _checks.check_bool(name, flag)
        _checks.check_bool("bidirectional", bidirectional)
        if mode not in self.modes:
            raise ValueError(f"`mode` must be one of {self.modes}, got {mode!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = _checks.check_dropout(dropout)
        self.mode = mode
        self._factory = {"device": device, "dtype": dtype}

    def _build(self) -> None:
        """Register every layer·direction's parameters, then :meth:`reset_parameters`."""
        directions = 2 if self.bidirectional else 1
        self._names: list[dict[str, str]] = []  # per layer·direction: role -> attribute
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                names = {}
                for role, shape in self._param_shapes(width).items():
                    if role.startswith("bias") and not self.bias:
                        continue
                    param = nn.Parameter(torch.empty(shape, **self._factory))
                    self.register_parameter(role + sfx, param)
                    names[role] = role + sfx
                self._names.append(names)
        self.reset_parameters()

    # -- what a subclass supplies -------------------------------------------------------------

    def _param_shapes(self, width: int) -> dict[str, tuple[int, ...]]:
        """Role (``weight_ih``, ``bias_ih``, ...) -> shape, for a layer with ``width`` inputs."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        raise NotImplementedError

    def _state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The trailing shape (after ``L·D, B``) of each state field."""
        return ((self.hidden_size,),)

    def _direction(
        self, k: int, x: Tensor, state: Any, mode: str, *, reverse: bool, lengths: Tensor | None
    ) -> tuple[Tensor, Any]:
        """Layer·direction ``k`` over ``x (T, B, I_l)`` -> ``(out (T, B, H), final state)``;
        ``state`` holds ``(B, ·)`` fields or is None (zeros); zero output at padded steps."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------

    def params(self, k: int) -> dict[str, Tensor | None]:
        """Layer·direction ``k``'s parameters by role (a missing bias is None)."""
        return {role: getattr(self, name) for role, name in self._names[k].items()}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        defaults = {"bias": True, "batch_first": False, "dropout": 0.0}
        defaults.update(bidirectional=False, mode=self.modes[0])
        for name, default in defaults.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Any = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Any]:
        """Run the layer over a whole sequence.

        Args:
            input: ``(T, B, I)`` (``(B, T, I)`` if batch_first), ``(T, I)`` unbatched, or a
                PackedSequence.
            hx: the initial state (see the class doc; ``L·D`` in front, batch on dim 1, no
                batch dim for unbatched input), or None for zeros.
            lengths: ``(B,)`` valid lengths in ``[1, T]``, any order (tensor input only).

        Returns:
            ``(output, h_n)``: ``output (T, B, D·H)`` (same layout/kind as ``input``, zero at
            padded steps) and ``h_n`` like ``hx``, each row's state at its last valid step.
        """
        return sequence_forward(
            input, hx, lengths, batch_first=self.batch_first, check_input=self._check_input,
            check_hx=self._check_hx, run=self._run,
        )  # fmt: skip

    def _run(self, x: Tensor, hx: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        x = x.transpose(0, 1) if self.batch_first else x  # (T, B, I)
        out, h_n = self._layers(x, hx, lengths, self.mode)  # (T, B, D·H)
        return (out.transpose(0, 1) if self.batch_first else out), h_n

    def _layers(self, x: Tensor, hx: Any, lengths: Tensor | None, mode: str) -> tuple[Tensor, Any]:
        """Every layer·direction over ``x (T, B, I)`` -> ``(T, B, D·H)`` and ``h_n``."""

        def run(k: int, x: Tensor, reverse: bool) -> tuple[Tensor, Any]:
            state = None if hx is None else self._select(hx, k)
            return self._direction(k, x, state, mode, reverse=reverse, lengths=lengths)

        def between(x: Tensor, layer: int) -> Tensor:
            return F.dropout(x, self.dropout, training=True)

        out, finals = stack_layers(
            run, x, num_layers=self.num_layers, directions=2 if self.bidirectional else 1,
            between=between if self.training and self.dropout else None,
        )  # fmt: skip
        if self.state_type is None:
            return out, torch.stack(finals)  # (L·D, B, H)
        fields = zip(*finals, strict=True)
        return out, self.state_type(*(torch.stack(f) for f in fields))  # (L·D, B, ·) each

    def _select(self, hx: Any, k: int) -> Any:
        """Layer·direction ``k``'s slice of ``hx``: ``(B, ·)`` fields."""
        if self.state_type is None:
            return hx[k]
        return self.state_type(*(f[k] for f in hx))

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One time step through every layer, O(1) in the sequence length (generation).

        Args:
            x: ``(B, I)`` the input at this step.
            state: the state after the previous step (``L`` in front), or None for zeros.

        Returns:
            ``(y, state')``: ``y (B, H)`` the last layer's output and the new state.
        """
        if self.bidirectional:
            raise ValueError("`step` runs forward in time; a bidirectional layer cannot")
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"`x` must be (B, I), got {getattr(x, 'shape', type(x))}")
        self._check_input(x)
        state = None if state is None else self._check_hx(state, x.size(0), True)
        out, new = self._layers(x.unsqueeze(0), state, None, "recurrent")  # (1, B, H)
        return out[0], new

    def _check_input(self, x: Tensor) -> None:
        _checks.check_features(x, self.input_size)
        _checks.check_dtype("input", x, self.weight_ih_l0.dtype)

    def _check_hx(self, hx: Any, batch: int, batched: bool) -> Any:
        layers = self.num_layers * (2 if self.bidirectional else 1)
        shapes = self._state_shapes()
        if self.state_type is None:
            fields, names = (hx,), ("h_0",)
        else:
            names = self.state_type._fields
            if not isinstance(hx, tuple) or len(hx) != len(names):
                raise TypeError(
                    f"`hx` must be a {self.state_type.__name__}{names} (or a tuple of "
                    f"{len(names)} tensors), got {type(hx).__name__}"
                )
            fields = tuple(hx)
        out = []
        for name, f, trail in zip(names, fields, shapes, strict=True):
            what = f"`hx` ({name})"
            if batched:
                _checks.check_shape(what, f, (layers, batch, *trail), "(L·D, B, ...)")
            else:
                _checks.check_shape(what, f, (layers, *trail), "(L·D, ...) for unbatched input")
                f = f.unsqueeze(1)  # (L·D, 1, ...)
            _checks.check_dtype(what, f, self.weight_ih_l0.dtype)
            out.append(f)
        return out[0] if self.state_type is None else self.state_type(*out)
