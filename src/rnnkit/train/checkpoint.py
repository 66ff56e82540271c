"""Run directories and checkpoints, written atomically and read without running code.

Layout of a run directory::

    run_dir/
      config.json          {"format": 2, "task": ..., sections, "train": TrainConfig}
                           (see :mod:`rnnkit.train.rundir`)
      run.lock             pid, host, start time of the one process writing (while it runs)
      metrics.csv          one row per log / evaluation (appended)
      loss.png             train and validation loss at the end of a run
      last/                the newest checkpoint (what ``resume`` continues from)
        model.safetensors  state_dict of the unwrapped model (tied weights stored once)
        optimizer.pt       optimizer (and grad scaler) state; read with weights_only=True
        state.safetensors  carried TBPTT state and torch RNG states, per rank
        trainer.json       step, epoch, batch position, best metric, schedule, python and
                           numpy RNG states (written last)
      best/                model.safetensors + trainer.json of the best evaluation

Atomicity: every file goes to a temporary name in its directory, is fsync'ed and then
``os.replace``'d. A checkpoint directory is written whole under ``.<name>.tmp-*`` and then
switched in with two renames: ``last -> last.old``, ``.last.tmp-* -> last``, after which
``last.old`` is removed. A crash before the first rename leaves ``last`` untouched; a crash
between the two leaves ``last.old``, which :func:`resolve_checkpoint` falls back to. So at
every instant a complete checkpoint exists.

Safety: weights are safetensors; JSON is data; ``optimizer.pt`` is read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
Truncated or foreign files raise :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import Tensor

__all__ = [
    "FORMAT",
    "CheckpointError",
    "CheckpointWriteError",
    "atomic_write",
    "atomic_write_json",
    "get_rng_state",
    "load_checkpoint",
    "load_tensors",
    "read_json",
    "resolve_checkpoint",
    "save_tensors",
    "set_rng_state",
    "write_checkpoint_dir",
]

FORMAT = "rnnkit.train.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint or run-directory file is missing, truncated or not ours."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (full disk, permissions); the previous one is kept.

    ``errno`` and ``strerror`` are the underlying error's; the message is one line::

        could not write the checkpoint runs/x/last: [Errno 28] No space left on device; the
        previous checkpoint in runs/x/last is intact
    """

    def __init__(self, path: Path, cause: OSError, had_previous: bool = True) -> None:
        kept = (
            f"the previous checkpoint in {path} is intact"
            if had_previous
            else "there was no earlier checkpoint to keep"
        )
        self.message = f"could not write the checkpoint {path}: {cause}; {kept}"
        super().__init__(self.message)
        self.errno, self.strerror, self.path = cause.errno, cause.strerror, path

    def __str__(self) -> str:  # OSError would print "[Errno N] strerror" alone
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self)._rebuild, (self.message, self.errno, self.strerror, self.path)

    @classmethod
    def _rebuild(cls, message: str, errno: int | None, strerror: str | None, path: Path) -> Any:
        err = cls.__new__(cls)
        OSError.__init__(err, message)
        err.message, err.errno, err.strerror, err.path = message, errno, strerror, path
        return err


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (the one place bytes reach the disk)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary name beside ``path``, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """:func:`atomic_write` of ``obj`` as indented JSON."""
    return atomic_write(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON object; a missing, truncated or non-object file raises CheckpointError."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON (truncated or foreign file): {e}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


# ---------------------------------------------------------------- tensors (safetensors)


def _tensor_bytes(tensors: Mapping[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes for ``tensors``; tensors sharing memory are stored once.

    safetensors refuses shared storage (tied embeddings/decoders). An exact alias of an earlier
    tensor is recorded in the metadata under ``rnnkit.aliases`` and rebuilt on load; any other
    overlap (a view of a slice) is cloned.
    """
    out: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    storages: set[int] = set()
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"cannot save {name!r}: expected a Tensor, got {type(t).__name__}")
        t = t.detach().cpu()
        key = (
            t.untyped_storage().data_ptr(),
            t.storage_offset(),
            tuple(t.shape),
            tuple(t.stride()),
            t.dtype,
        )
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and (ptr in storages or not t.is_contiguous()):
            t = t.clone(memory_format=torch.contiguous_format)
        if t.numel():
            storages.add(ptr)
            seen[key] = name
        out[name] = t.contiguous()
    meta = dict(metadata or {})
    meta["format"] = "pt"
    if aliases:
        meta["rnnkit.aliases"] = json.dumps(aliases)
    return safetensors.torch.save(out, metadata=meta)


def save_tensors(
    path: str | os.PathLike[str],
    tensors: Mapping[str, Tensor],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Atomically write ``tensors`` as safetensors (shared memory handled)."""
    return atomic_write(path, _tensor_bytes(tensors, metadata))


def load_tensors(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file -> (tensors, metadata); aliases rebuilt as shared tensors."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    try:
        tensors = safetensors.torch.load(data)
        # header: 8-byte little-endian length, then JSON with "__metadata__"
        n = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    except Exception as e:  # safetensors raises its own SafetensorError and others
        raise CheckpointError(
            f"{path}: not a readable safetensors file (truncated or foreign?): {e}"
        ) from None
    for name, target in json.loads(metadata.get("rnnkit.aliases", "{}")).items():
        tensors[name] = tensors[target]
    return tensors, metadata


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _load_torch(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except Exception as e:
        raise CheckpointError(
            f"{path}: cannot be read as plain tensors (truncated, foreign, or it holds code, "
            f"which is never executed): {e}"
        ) from None


# ---------------------------------------------------------------- RNG states


def get_rng_state() -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The python, numpy and torch RNG states -> (JSON part, tensor part)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - the global one
    js = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    tens = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tens["cuda"] = torch.cuda.get_rng_state()
    return js, tens


def set_rng_state(js: Mapping[str, Any], tens: Mapping[str, Tensor]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = js["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = js["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(tens["torch"])
    if "cuda" in tens and torch.cuda.is_available():
        torch.cuda.set_rng_state(tens["cuda"])


# ---------------------------------------------------------------- checkpoint directories


def write_checkpoint_dir(
    final: str | os.PathLike[str], files: Mapping[str, Callable[[], bytes] | bytes]
) -> Path:
    """Write ``files`` (name -> bytes or a function giving them) as directory ``final``.

    The directory is built under a temporary name and switched in by renames (see the module
    docstring); files are written in the given order, so put ``trainer.json`` last. An
    ``OSError`` on the way (a full disk) raises :class:`CheckpointWriteError`, with the
    previous ``final`` left as it was.
    """
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = final.with_name(final.name + ".old")
    had_previous = (final / "trainer.json").is_file() or (old / "trainer.json").is_file()
    try:
        tmp.mkdir(parents=True)
        for name, data in files.items():
            _write_file(tmp / name, data() if callable(data) else data)
        _fsync_dir(tmp)
        if final.exists():
            if old.exists():  # a complete `final` exists, so a stale .old is garbage
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, CheckpointWriteError):
            raise
        raise CheckpointWriteError(final, e, had_previous) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return final


def resolve_checkpoint(run_dir: str | os.PathLike[str], which: str = "last") -> Path:
    """The directory of checkpoint ``which`` (best falls back to last, a crash to ``.old``)."""
    if which not in ("best", "last"):
        raise ValueError(f"`which` must be 'best' or 'last', got {which!r}")
    run_dir = Path(run_dir)
    order = [which, which + ".old"] + (["last", "last.old"] if which == "best" else [])
    for name in order:
        if (run_dir / name / "trainer.json").is_file():
            return run_dir / name
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found")
    raise CheckpointError(
        f"{run_dir}: no {which!r} checkpoint (expected {run_dir / which}/trainer.json)"
    )


def _read_meta(ckpt: Path) -> dict[str, Any]:
    meta = read_json(ckpt / "trainer.json")
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{ckpt / 'trainer.json'}: not an rnnkit checkpoint (format "
            f"{meta.get('format')!r}, expected {FORMAT!r})"
        )
    return meta


def load_checkpoint(
    run_dir: str | os.PathLike[str], which: str = "best"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Weights and metadata of a run's ``best`` or ``last`` checkpoint.

    Returns ``(state_dict, meta)``: the unwrapped model's state dict (CPU tensors; load it
    with ``model.load_state_dict``) and the checkpoint's ``trainer.json`` without the RNG
    states (``step``, ``epoch``, ``metrics``, ``best`` ...) plus ``path``. ``best`` falls
    back to ``last`` when the run had no validation data.
    """
    ckpt = resolve_checkpoint(run_dir, which)
    meta = _read_meta(ckpt)
    state_dict, _ = load_tensors(ckpt / "model.safetensors")
    meta = {k: v for k, v in meta.items() if k not in ("rng", "state_spec")}
    meta["path"] = str(ckpt)
    return state_dict, meta


def load_full_checkpoint(ckpt: Path) -> dict[str, Any]:
    """Everything a resume needs from a ``last`` checkpoint directory."""
    meta = _read_meta(ckpt)
    model, _ = load_tensors(ckpt / "model.safetensors")
    extra, _ = load_tensors(ckpt / "state.safetensors")
    optim = _load_torch(ckpt / "optimizer.pt")
    if not isinstance(optim, dict) or "optimizer" not in optim:
        raise CheckpointError(f"{ckpt / 'optimizer.pt'}: expected a dict with 'optimizer'")
    return {"meta": meta, "model": model, "extra": extra, "optim": optim}


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` bytes of plain tensors/containers (read back with weights_only=True)."""
    return _torch_bytes(obj)


def tensor_bytes(tensors: Mapping[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes (see :func:`save_tensors`)."""
    return _tensor_bytes(tensors, metadata)
