"""Move weights between scratch models and torch.nn / rnnkit.nn state dicts, without torch.

Scratch parameters already carry torch's names (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``embedding.weight``), so a state dict maps one to one. Values may be NumPy arrays or
anything ``np.asarray`` accepts (a detached CPU tensor works, and needs no torch import
here). Checkpoints are read with ``safetensors.numpy``, which does not import torch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rnnkit.scratch.modules import Module

__all__ = [
    "export_state_dict",
    "load_safetensors",
    "load_state_dict",
    "read_safetensors",
    "save_safetensors",
]

logger = logging.getLogger(__name__)


def _with_prefix(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith(".") else prefix + "."


def load_state_dict(
    model: Module, state: Mapping[str, object], prefix: str = "", strict: bool = True
) -> list[str]:
    """Copy ``state[prefix + name]`` into every parameter ``name`` of ``model`` in place
    (keeping the arrays, so optimizers holding them stay valid), cast to the model's dtype.

    Keys outside ``prefix`` are ignored. With ``strict``, a parameter missing from ``state``
    or a key under ``prefix`` the model lacks is an error. Returns the missing names.
    """
    prefix = _with_prefix(prefix)
    params = model.parameters()
    ours = {k[len(prefix) :]: k for k in state if k.startswith(prefix)}
    missing = sorted(set(params) - set(ours))
    unexpected = sorted(set(ours) - set(params))
    if strict and (missing or unexpected):
        raise KeyError(
            f"state dict does not fit the model (prefix {prefix!r}): missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, p in params.items():
        if name not in ours:
            continue
        value = np.asarray(state[ours[name]])
        if value.shape != p.shape:
            raise ValueError(f"`{ours[name]}` has shape {value.shape}, the model expects {p.shape}")
        p[...] = value  # in place, cast to p.dtype
    if missing:
        logger.info("load_state_dict: %d parameters not in the state: %s", len(missing), missing)
    return missing


def export_state_dict(model: Module, prefix: str = "") -> dict[str, np.ndarray]:
    """A copy of every parameter under ``prefix + name``: loadable by ``torch.nn`` modules
    (``{k: torch.from_numpy(v)}``) and by :func:`load_state_dict`."""
    prefix = _with_prefix(prefix)
    return {prefix + k: v.copy() for k, v in model.parameters().items()}


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of a safetensors file as NumPy, without torch. Tied weights that an rnnkit
    checkpoint stored once (metadata ``rnnkit.aliases``: name -> stored name) come back
    under both names."""
    from safetensors import safe_open  # framework="np": no torch import

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no safetensors file at {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file (truncated?): {e}") from e
    for name, stored in json.loads(meta.get("rnnkit.aliases", "{}")).items():
        state[name] = state[stored]
    return state


def load_safetensors(
    model: Module, path: str | Path, prefix: str = "", strict: bool = True
) -> list[str]:
    """Load weights from a safetensors file (e.g. an rnnkit ``model.safetensors``), taking
    the keys under ``prefix`` (``"rnn."`` loads a bare layer out of a whole task model)."""
    return load_state_dict(model, read_safetensors(path), prefix, strict)


def save_safetensors(model: Module, path: str | Path, prefix: str = "") -> None:
    """Write the parameters to a safetensors file (temporary name, then rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: np.ascontiguousarray(v) for k, v in export_state_dict(model, prefix).items()}
    save_file(state, str(tmp))
    tmp.replace(path)
