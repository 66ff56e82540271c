"""Where rnnkit keeps files it makes for itself: ``$RNNKIT_CACHE_DIR``, default ``~/.cache/rnnkit``.

Downloaded datasets (:mod:`rnnkit.data.registry`) and compiled kernels
(:mod:`rnnkit.functional._ckernel`) live under it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_directory"]


def cache_directory() -> Path:
    """``$RNNKIT_CACHE_DIR``, default ``~/.cache/rnnkit`` (not created here)."""
    value = os.environ.get("RNNKIT_CACHE_DIR") or "~/.cache/rnnkit"
    return Path(value).expanduser()
