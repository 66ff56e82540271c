"""Checksums of data files, so a run can tell when the file it is evaluated on has changed.

A run stores :func:`file_digest` of each data file it trained on; evaluating later calls
:func:`check_digest`, which logs a warning (never an error: an edited file may be meant)
when the bytes differ. Unlike the registry's memoised ``sha256_file`` this always reads
the file again, because a change is exactly what it must notice.

Every task keeps them the same way, in its config.json ``data`` section under
:data:`DIGESTS`, by *role*: the split a file holds (``"train"``, ``"val"``, ``"test"``) or,
for a source of several files, ``"train:<file name>"``::

    "data": {..., "digests": {"train": "9f86d0...", "test": "60303a..."}}

:func:`file_digests` makes that mapping at training time (data with no file, such as a
generated series, has no entry), :func:`check_digests` warns for each file that changed
when a run reads its data again, and :func:`changed_digests` names the roles whose file
changed between two sections (a resume). A run written before checksums has none: nothing
is compared, nothing is said.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DIGESTS",
    "changed_digests",
    "check_digest",
    "check_digests",
    "file_digest",
    "file_digests",
    "stored_digests",
    "without_digests",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20

DIGESTS = "digests"
"""The key of a run's ``data`` section that holds ``{role: sha256}``."""

_LEGACY = "digest"  # classify runs of the previous layout: the training file's sha256 alone

PathLike = str | os.PathLike[str]


def file_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of the file's bytes, as 64 lower-case hex digits.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot checksum {path}: not an existing file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(path: str | os.PathLike[str], expected: str | None, *, what: str = "") -> bool:
    """Whether ``path`` still has the digest ``expected``; logs a warning if it does not.

    Args:
        path: the data file.
        expected: the digest stored at training time (None: nothing stored, returns True).
        what: how the message names the file's role, e.g. ``"training data"``.
    """
    if expected is None:
        return True
    got = file_digest(path)
    if got == expected:
        return True
    role = f"{what} " if what else ""
    logger.warning(
        "%sfile %s has changed since the run stored it (sha256 %s..., now %s...); "
        "results may not be comparable",
        role,
        path,
        expected[:12],
        got[:12],
    )
    return False


def file_digests(files: Mapping[str, PathLike | None]) -> dict[str, str]:
    """``{role: sha256}`` of each role's file; a role without an existing file (None, a
    built-in or generated data set, a folder) is left out.

    Args:
        files: ``{role: path}``, e.g. ``{"train": "train.tsv", "test": "test.tsv"}``.
    """
    out = {}
    for role, path in files.items():
        if path is not None and Path(path).is_file():
            out[role] = file_digest(path)
    return out


def stored_digests(section: Mapping[str, Any] | None) -> dict[str, str]:
    """The ``{role: sha256}`` a run's ``data`` section stores (``{}`` for a run from before
    checksums; the previous classify layout's single ``digest`` is the ``"train"`` one)."""
    section = section or {}
    stored = section.get(DIGESTS)
    if isinstance(stored, Mapping):
        return {str(k): str(v) for k, v in stored.items() if isinstance(v, str)}
    legacy = section.get(_LEGACY)
    return {"train": legacy} if isinstance(legacy, str) else {}


def without_digests(section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` without its checksums (to compare or rebuild the settings alone)."""
    return {k: v for k, v in section.items() if k not in (DIGESTS, _LEGACY)}


def _same_file(a: PathLike, b: PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def check_digests(
    files: Mapping[str, PathLike | None],
    stored: Mapping[str, str] | None,
    *,
    reading: Iterable[PathLike] | None = None,
) -> list[str]:
    """Warn for each role whose file's bytes differ from the checksum ``stored`` for it.

    Args:
        files: ``{role: path}`` of the run's data files, as at training time.
        stored: ``{role: sha256}`` from the run (None or ``{}``: a run from before
            checksums; nothing is compared).
        reading: only the roles whose file is one of these paths (the files an
            evaluation is about to read); None: every role.

    Returns:
        The roles whose file changed (each one logged as a warning naming the file).
    """
    wanted = None if reading is None else list(reading)
    changed = []
    for role, path in files.items():
        expected = (stored or {}).get(role)
        if expected is None or path is None or not Path(path).is_file():
            continue
        if wanted is not None and not any(_same_file(path, w) for w in wanted):
            continue
        if not check_digest(path, expected, what=f"{role} data"):
            changed.append(role)
    return changed


def changed_digests(saved: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The roles stored in both whose checksums differ, sorted."""
    return sorted(role for role in set(saved) & set(new) if saved[role] != new[role])
