"""The run directory: its config.json, its one-writer lock, and the rules for reusing it.

- :func:`write_run_config` / :func:`read_run_config`: ``config.json`` is
  ``{"format": 2, "task": "<name>", "<section>": {...}, ..., "train": {...}}``. Older runs
  (format 1, no ``"format"`` key) are read through a migration: translate stored its task
  options under ``"task"``; they come back under ``"translate"`` with ``"task": "translate"``.
- :class:`RunLock`: ``run_dir/run.lock`` (created with ``O_CREAT | O_EXCL``) names the one
  process writing into the run. A second writer gets :class:`RunLockedError`; a lock left by
  a dead process on this host (SIGKILL, power loss) is stale and taken over.
- :func:`check_fresh`: the one place that refuses to start a new run over an old one.
- :func:`clean_orphans`: removes temporary files and folders left by killed writers.
- :func:`config_diff`: the dotted names of fields two configs disagree on (resume checks).
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, atomic_write_json, read_json

__all__ = [
    "LOCK_FILE",
    "RUN_FORMAT",
    "RunLock",
    "RunLockedError",
    "check_fresh",
    "clean_orphans",
    "config_diff",
    "read_run_config",
    "update_run_config",
    "write_run_config",
]

log = logging.getLogger(__name__)

RUN_FORMAT = 2
LOCK_FILE = "run.lock"
CHECKPOINTS = ("last", "last.old", "best")
# the temporary names of checkpoint.atomic_write and checkpoint.write_checkpoint_dir
_ORPHAN = re.compile(r"^\..+\.tmp-[0-9a-f]{8}$")


# ---------------------------------------------------------------- config.json


def write_run_config(
    run_dir: str | os.PathLike[str], task: str, sections: Mapping[str, Any]
) -> Path:
    """Atomically write ``run_dir/config.json`` as ``{"format": 2, "task": task, **sections}``.

    Args:
        run_dir: the run directory (created when missing).
        task: the task's registered name (``"lm"``, ``"forecast"`` ...).
        sections: the config sections (``"model"``, ``"data"``, ``"train"`` ...), JSON-ready.
    """
    if not isinstance(task, str) or not task:
        raise ValueError(f"`task` must be a non-empty task name, got {task!r}")
    clash = sorted({"format", "task"} & set(sections))
    if clash:
        raise ValueError(f"`sections` must not hold the reserved keys {clash}; got {clash}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(
        run_dir / "config.json", {"format": RUN_FORMAT, "task": task, **sections}
    )


def update_run_config(run_dir: str | os.PathLike[str], sections: Mapping[str, Any]) -> Path:
    """Merge ``sections`` into ``run_dir/config.json``, keeping the sections already there.

    Written as format 2 when the result names its task (``"task": "lm"``); otherwise (an
    untagged config, or format 1 translate's options under ``"task"``) as it is.
    """
    path = Path(run_dir) / "config.json"
    merged = {**(read_json(path) if path.is_file() else {}), **sections}
    task = merged.get("task")
    if isinstance(task, str):
        rest = {k: v for k, v in merged.items() if k not in ("format", "task")}
        return write_run_config(run_dir, task, rest)
    return atomic_write_json(path, merged)


def read_run_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The config a run was started with (``run_dir/config.json``), in the current layout.

    Returns ``{"format": N, "task": "<name>", ...sections}`` (``format`` is the version the
    file was written in). Format 1 files are migrated on the fly: translate's options, which
    it kept under ``"task"``, come back under ``"translate"``. A missing or unreadable file,
    or one from a newer rnnkit, raises :class:`CheckpointError` naming the file.
    """
    path = Path(run_dir) / "config.json"
    raw = read_json(path)
    fmt = raw.get("format", 1)
    if fmt == RUN_FORMAT:
        return raw
    if fmt != 1:
        raise CheckpointError(
            f"{path}: unknown run format {fmt!r}; this rnnkit reads formats 1 to {RUN_FORMAT} "
            "(was the run written by a newer rnnkit?)"
        )
    rest = {k: v for k, v in raw.items() if k not in ("format", "task")}
    task = raw.get("task")
    if isinstance(task, Mapping):  # format 1 translate: the options under "task"
        return {"format": 1, "task": "translate", **rest, "translate": dict(task)}
    if task is None and isinstance(raw.get("task_name"), str):
        task = raw["task_name"]
    return {"format": 1, **({"task": task} if task is not None else {}), **rest}


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_diff(
    saved: Mapping[str, Any], new: Mapping[str, Any], ignore: Iterable[str] = ("train",)
) -> list[str]:
    """Dotted names of the fields where ``saved`` and ``new`` differ, sorted.

    Nested dicts are compared field by field (``["data.path", "model.hidden_size"]``); a
    field present on one side only counts as different. Top-level sections named in
    ``ignore`` and the ``"format"`` key (a file-layout version, not a setting) are skipped.
    """
    skip = {"format", *ignore}
    out: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                if not prefix and key in skip:
                    continue
                name = f"{prefix}{key}"
                if key not in a or key not in b:
                    out.append(name)
                else:
                    walk(a[key], b[key], name + ".")
        elif _plain(a) != _plain(b):
            out.append(prefix.rstrip("."))

    walk(saved, new, "")
    return sorted(out)


# ---------------------------------------------------------------- reuse and clean-up


def check_fresh(run_dir: str | os.PathLike[str]) -> None:
    """Refuse to start a new run in ``run_dir`` when it already holds one (checkpoints)."""
    run_dir = Path(run_dir)
    for name in CHECKPOINTS:
        if (run_dir / name).exists():
            raise FileExistsError(
                f"{run_dir} already holds a run ({name}/); pass `--resume true` to continue "
                "it, or choose another `--run-dir`"
            )


def clean_orphans(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders (``.last.tmp-1a2b3c4d``) of killed writers.

    Call it while holding the run's lock (a live writer's temporaries look the same).
    Returns the paths removed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    removed = []
    for path in sorted(run_dir.iterdir()):
        if not _ORPHAN.match(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        log.info("removed %s, left behind by an interrupted checkpoint write", path)
        removed.append(path)
    return removed


# ---------------------------------------------------------------- the writer lock


class RunLockedError(FileExistsError):
    """Another live process holds the run directory's lock."""


_held: dict[str, int] = {}  # lock path -> how many times this process acquired it
_held_guard = threading.Lock()
_atexit_registered = False


def _release_all_at_exit() -> None:
    for path in list(_held):
        _remove_if_mine(Path(path))
    _held.clear()


def _remove_if_mine(path: Path) -> None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:  # pragma: no cover - e.g. pid out of range
        return False
    return True


class RunLock:
    """One writer per run directory: ``run_dir/run.lock`` holds ``{pid, host, started, argv}``.

    Re-entrant within a process (a task locks the run before writing its artifacts, then
    ``Trainer.fit`` locks it again): acquisitions are counted and the file is removed when
    the count returns to zero, or at normal interpreter exit. Use as a context manager.

    Raises:
        RunLockedError: from :meth:`acquire` when a live process holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._key = os.path.realpath(self.path)
        self._mine = 0

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._mine > 0

    def acquire(self) -> None:
        """Take the lock (creating ``run_dir``); see the class docstring."""
        global _atexit_registered
        with _held_guard:
            if _held.get(self._key, 0) > 0:
                _held[self._key] += 1
                self._mine += 1
                return
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._create()
            _held[self._key] = 1
            self._mine += 1
            if not _atexit_registered:
                atexit.register(_release_all_at_exit)
                _atexit_registered = True

    def release(self) -> None:
        """Give back one acquisition; the file goes when this process holds it no more."""
        with _held_guard:
            if self._mine == 0:
                return
            self._mine -= 1
            count = _held.get(self._key, 0) - 1
            if count > 0:
                _held[self._key] = count
                return
            _held.pop(self._key, None)
            _remove_if_mine(self.path)

    def _create(self) -> None:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "argv": list(sys.argv),
        }
        data = (json.dumps(holder, indent=1) + "\n").encode()
        for _ in range(5):  # a stale lock is removed, then the create is tried again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_or_raise()
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return
        raise RunLockedError(f"{self.run_dir}: could not take {self.path} (it keeps reappearing)")

    def _read_holder(self) -> tuple[dict[str, Any] | None, str]:
        """The lock's JSON (None when unreadable after a short wait) and its raw text."""
        text = ""
        for _ in range(10):  # the holder may be between creating and writing the file
            try:
                text = self.path.read_text(encoding="utf-8")
                holder = json.loads(text)
                if isinstance(holder, dict):
                    return holder, text
            except FileNotFoundError:
                return {}, ""
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return None, text

    def _take_over_or_raise(self) -> None:
        holder, text = self._read_holder()
        if holder == {}:  # gone meanwhile: try again
            return
        here = socket.gethostname()
        if holder is not None:
            pid, host = holder.get("pid"), holder.get("host")
            same_host = host == here
            if not (same_host and isinstance(pid, int) and not _alive(pid)):
                started = str(holder.get("started", "?")).replace("T", " ")
                raise RunLockedError(
                    f"{self.run_dir} is in use by process {pid} on host {host} since "
                    f"{started} ({LOCK_FILE}); wait for it or choose another --run-dir"
                )
            why = f"process {pid} on this host is gone"
        else:
            why = "the file is unreadable"
        try:
            if self.path.read_text(encoding="utf-8") != text:  # someone else took it over
                return
        except FileNotFoundError:
            return
        log.warning("%s: taking over a stale lock (%s)", self.path, why)
        self.path.unlink(missing_ok=True)
