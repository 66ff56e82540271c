"""Devices and mixed precision.

``resolve_device("auto")`` picks cuda, then mps, then cpu. :func:`autocast` gives the
autocast context of a precision (bf16 on CPU and GPU; fp16 only on CUDA, with a
``torch.amp.GradScaler`` from :func:`make_scaler`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "autocast",
    "check_device",
    "cpu_bf16_supported",
    "effective_precision",
    "make_scaler",
    "resolve_device",
]

log = logging.getLogger(__name__)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """The ``torch.device`` for ``name`` (auto|cpu|cuda|cuda:N|mps).

    Under DDP on CUDA, ``cuda`` and ``auto`` mean ``cuda:<local_rank>``. A device that is
    not there is a one-line ``ValueError`` naming the flag to change.
    """
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            name = "mps"
        else:
            name = "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"`device` {name} was asked for but torch.cuda.is_available() is False; "
                "use --device cpu or auto"
            )
        if name == "cuda":
            name = f"cuda:{local_rank or 0}"
        index = name.split(":")[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"`device` {name} was asked for but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible; use --device cuda:0 .. or auto"
            )
    elif name == "mps" and not _mps_available():
        raise ValueError(
            "`device` mps was asked for but MPS is not available; use --device cpu or auto"
        )
    elif name not in ("cpu", "mps"):
        raise ValueError(f"`device` must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    return torch.device(name)


def check_device(name: str) -> torch.device:
    """Resolve ``name`` now, before anything is written (torchrun's LOCAL_RANK honoured).

    Tasks call it before creating a run directory, so a missing device leaves nothing
    half-made. Raises the ``ValueError`` of :func:`resolve_device`.
    """
    return resolve_device(name, int(os.environ.get("LOCAL_RANK", "0") or 0))


def check_precision(precision: str, device: torch.device) -> None:
    """Raise when ``precision`` cannot run on ``device``."""
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"`precision` 'fp16' needs a CUDA device (it uses a grad scaler), got "
            f"device {str(device)!r}; use 'bf16' or 'fp32'"
        )
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"`precision` must be fp32, bf16 or fp16, got {precision!r}")


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's bf16 check: AVX-512 BF16 / AMX,
    or AVX-512 core with oneDNN's conversions); else the ``avx512_bf16``/``amx_bf16`` flags
    of /proc/cpuinfo. Without it, bf16 autocast is emulated and slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def effective_precision(precision: str, device: torch.device) -> str:
    """``precision``, or ``"fp32"`` (with a warning) for bf16 on a CPU without bf16 support."""
    if precision == "bf16" and device.type == "cpu" and not cpu_bf16_supported():
        log.warning(
            "`precision` bf16: this CPU (%s) has no native bfloat16 (AVX-512 BF16 / AMX), so "
            "bf16 autocast would be emulated and slower; training in fp32 instead",
            torch.backends.cpu.get_cpu_capability(),
        )
        return "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> Any:
    """The autocast context for ``precision`` on ``device`` (a no-op context for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 on CUDA; None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
