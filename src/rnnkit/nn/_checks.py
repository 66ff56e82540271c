"""Argument and input checks shared by the rnnkit.nn layers and cells.

Every error names the argument and gives expected vs got, and is a ValueError (bad value) or
TypeError (bad type), never a RuntimeError from deep inside torch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "check_bool",
    "check_dropout",
    "check_dtype",
    "check_features",
    "check_lengths",
    "check_positive_int",
    "check_probability",
    "check_shape",
]


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        op = "> 0" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"`{name}` must be {op}, got {value}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__} ({value!r})")
    return value


def check_dropout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`dropout` must be a float in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`dropout` must be in [0, 1] (a probability), got {value}")
    return float(value)


def check_probability(name: str, value: object) -> float:
    """``value`` as a float in ``[0, 1)`` (a drop or zoneout probability) or an error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float in [0, 1), got {type(value).__name__}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1) (a probability), got {value}")
    return float(value)


def check_dtype(what: str, tensor: Tensor, expected: torch.dtype) -> None:
    """``tensor.dtype == expected`` (the weights' dtype) unless autocast is on (as torch.nn)."""
    if tensor.dtype != expected and not torch._C._is_any_autocast_enabled():
        raise ValueError(
            f"{what} has dtype {tensor.dtype}, the model's weights are {expected}; convert "
            f"with `.to({expected})` (or the model with `.to({tensor.dtype})`)"
        )


def check_features(x: Tensor, input_size: int) -> None:
    """The last dim of ``x`` is ``input_size``."""
    if x.size(-1) != input_size:
        raise ValueError(
            f"input has {x.size(-1)} features, the model expects {input_size} (`input_size`)"
        )


def check_shape(what: str, tensor: object, expected: tuple[int, ...], letters: str) -> None:
    """``tensor`` is a Tensor of shape ``expected`` (``letters`` spells it, e.g. "(L·D, B, H)")."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what} must be a Tensor {letters}, got {type(tensor).__name__}")
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{what} has shape {tuple(tensor.shape)}, expected {letters} = {expected}")


def check_lengths(lengths: Tensor | Sequence[int], *, batch: int, steps: int) -> Tensor:
    """Valid lengths ``(B,)`` as an int64 tensor (on the device they came on).

    Each length is in ``[1, steps]`` and there is one per sequence of the batch.
    """
    if not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"`lengths` must hold integers, got dtype {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(f"`lengths` must be 1-D (B,), got shape {tuple(lengths.shape)}")
    if lengths.numel() != batch:
        raise ValueError(
            f"`lengths` has {lengths.numel()} entries, the batch has {batch} sequences"
        )
    lengths = lengths.long()
    low, high = (int(v) for v in torch.stack([lengths.min(), lengths.max()]).tolist())
    if low < 1:
        at = int(torch.argmin(lengths))
        raise ValueError(
            f"`lengths` must be >= 1 (a sequence needs a last step), got {low} at index {at}"
        )
    if high > steps:
        at = int(torch.argmax(lengths))
        raise ValueError(
            f"`lengths` must be <= the sequence length {steps}, got {high} at index {at}"
        )
    return lengths
