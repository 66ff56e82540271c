"""Nested tensors: the recurrent state carried across TBPTT windows, and batches.

A *state* is a tensor, or a tuple / NamedTuple / list / dict of states, or None: what a
recurrent layer returns (``LSTMState(h, c)`` with ``h, c: (L*D, B, H)``). The helpers here
walk that structure:

- :func:`detach_state` cuts the graph at a window boundary (truncated BPTT), so no
  gradient flows into the previous window.
- :func:`reset_state` zeroes the rows of streams that restart (batch dimension 1 for
  ``(L*D, B, H)`` states).
- :func:`to_device` moves every tensor of a batch (tuples, lists, dicts, NamedTuples,
  dataclasses) to the training device.
- :func:`flatten_state` / :func:`unflatten_state` turn a state into named tensors plus a
  JSON description, so a checkpoint can hold it in safetensors and rebuild it exactly.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "detach_state",
    "flatten_state",
    "map_tensors",
    "reset_state",
    "to_device",
    "unflatten_state",
]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def map_tensors(x: Any, fn: Callable[[Tensor], Any]) -> Any:
    """Apply ``fn`` to every tensor inside ``x``, keeping the container types."""
    if isinstance(x, Tensor):
        return fn(x)
    if _is_namedtuple(x):
        return type(x)(*(map_tensors(v, fn) for v in x))
    if isinstance(x, (tuple, list)):
        return type(x)(map_tensors(v, fn) for v in x)
    if isinstance(x, dict):
        return type(x)((k, map_tensors(v, fn)) for k, v in x.items())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {
            f.name: map_tensors(getattr(x, f.name), fn) for f in dataclasses.fields(x) if f.init
        }
        return dataclasses.replace(x, **changes)
    return x


def detach_state(state: Any) -> Any:
    """``state`` with every tensor detached from the graph (the TBPTT cut)."""
    return map_tensors(state, lambda t: t.detach())


def reset_state(state: Any, mask: Tensor, dim: int = 1) -> Any:
    """Zero the rows of ``state`` where ``mask`` is true (streams that restart).

    Args:
        state: the carried state, e.g. ``LSTMState(h, c)`` with ``h, c: (L*D, B, H)``.
        mask: ``(B,)`` bool (or 0/1) tensor; true rows start from a zero state.
        dim: the batch dimension of every tensor in ``state`` (1 for torch-style RNN states;
            0 for ``(B, H)`` cell states).

    Out-of-place, so it is safe on tensors autograd saved for the backward pass.
    """
    if state is None:
        return None
    if mask.dim() != 1:
        raise ValueError(f"`mask` must be 1-D (B,), got shape {tuple(mask.shape)}")

    def zero_rows(t: Tensor) -> Tensor:
        if t.shape[dim] != mask.shape[0]:
            raise ValueError(
                f"`mask` has {mask.shape[0]} rows, the state has {t.shape[dim]} along dim {dim} "
                f"(shape {tuple(t.shape)})"
            )
        shape = [1] * t.dim()
        shape[dim] = -1  # broadcast (B,) along the batch dim, e.g. (1, B, 1)
        keep = (~mask.bool()).to(device=t.device, dtype=t.dtype).view(shape)
        return t * keep

    return map_tensors(state, zero_rows)


def to_device(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor moved to ``device`` (containers rebuilt, others kept)."""
    return map_tensors(batch, lambda t: t.to(device, non_blocking=non_blocking))


def flatten_state(state: Any) -> tuple[dict[str, Tensor], Any]:
    """Split ``state`` into ``{name: tensor}`` and a JSON-ready description of its structure."""
    tensors: dict[str, Tensor] = {}

    def walk(x: Any) -> Any:
        if x is None:
            return None
        if isinstance(x, Tensor):
            name = str(len(tensors))
            tensors[name] = x.detach().cpu().contiguous()
            return {"tensor": name}
        if _is_namedtuple(x):
            cls = type(x)
            return {
                "namedtuple": f"{cls.__module__}:{cls.__qualname__}",
                "fields": list(cls._fields),
                "items": [walk(v) for v in x],
            }
        if isinstance(x, (tuple, list)):
            return {type(x).__name__: [walk(v) for v in x]}
        if isinstance(x, dict):
            return {"dict": [[str(k), walk(v)] for k, v in x.items()]}
        if isinstance(x, (bool, int, float, str)):
            return {"value": x}
        raise TypeError(
            f"cannot checkpoint a carried state holding {type(x).__name__}; expected tensors in "
            "tuples, NamedTuples, lists or dicts"
        )

    return tensors, walk(state)


def _namedtuple_class(path: str, fields: list[str]) -> type:
    """The NamedTuple class named ``module:qualname`` if already imported, else a look-alike.

    Nothing is imported: a checkpoint never makes code run.
    """
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if (
        isinstance(obj, type)
        and issubclass(obj, tuple)
        and list(getattr(obj, "_fields", ())) == fields
    ):
        return obj
    return collections.namedtuple(qualname.rsplit(".", 1)[-1], fields)  # type: ignore[misc]


def unflatten_state(
    tensors: dict[str, Tensor], spec: Any, device: torch.device | str = "cpu"
) -> Any:
    """Rebuild a state from :func:`flatten_state`'s output, tensors on ``device``."""
    if spec is None:
        return None
    if "tensor" in spec:
        return tensors[spec["tensor"]].to(device)
    if "namedtuple" in spec:
        cls = _namedtuple_class(spec["namedtuple"], spec["fields"])
        return cls(*(unflatten_state(tensors, s, device) for s in spec["items"]))
    if "tuple" in spec:
        return tuple(unflatten_state(tensors, s, device) for s in spec["tuple"])
    if "list" in spec:
        return [unflatten_state(tensors, s, device) for s in spec["list"]]
    if "dict" in spec:
        return {k: unflatten_state(tensors, s, device) for k, s in spec["dict"]}
    if "value" in spec:
        return spec["value"]
    raise ValueError(f"unknown carried-state description {spec!r}")
