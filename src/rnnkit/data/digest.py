"""Checksums of data files, so a run can tell when the file it is evaluated on has changed.

A run stores :func:`file_digest` of each data file it trained on; evaluating later calls
:func:`check_digest`, which logs a warning (never an error: an edited file may be meant)
when the bytes differ. Unlike the registry's memoised ``sha256_file`` this always reads
the file again, because a change is exactly what it must notice.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

__all__ = ["check_digest", "file_digest"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


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
