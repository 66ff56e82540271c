"""The CPU kernels' shared build: a C file in ``rnnkit/csrc`` compiled on first use, via ctypes.

Every kernel (``minrnn.c`` for minGRU/minLSTM, ``word2vec.c``) is built by the same rules:
the system C compiler (``$CC``, else ``cc``/``gcc``, about a second) compiles the file into
``$RNNKIT_CACHE_DIR/kernels/<name>-<hash>.so``, the hash covering the source, the flags and
this CPU (``-march=native``), atomically (parallel test workers may race). The kernels work
on raw pointers, not torch headers, so nothing else is needed. ``-ffast-math`` is a compile
flag only; the link step omits it, so loading a library never switches the process to
flush-to-zero.

If there is no compiler, or ``RNNKIT_CKERNEL=0``, :func:`build_library` returns None (with
one warning when a build failed) and callers use their torch-op path: same results, slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnkit.paths import cache_directory

__all__ = ["COMPILE_FLAGS", "LINK_FLAGS", "SOURCES", "build_library", "enabled", "worker_pool"]

SOURCES = Path(__file__).resolve().parent / "csrc"
COMPILE_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC")
LINK_FLAGS = ("-shared", "-lm")


def enabled() -> bool:
    """False when ``RNNKIT_CKERNEL`` is 0/false/no/off: every kernel then uses torch ops."""
    return os.environ.get("RNNKIT_CKERNEL", "1").lower() not in ("0", "false", "no", "off")


def _cpu_identity() -> str:
    """What ``-march=native`` depends on: the CPU model and flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join([ln for ln in lines if ln.startswith(("model name", "flags"))][:2])
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _build(compiler: str, source: Path, target: Path) -> None:
    """Compile and link ``source`` into ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        obj, lib = Path(tmp) / f"{source.stem}.o", Path(tmp) / target.name
        for cmd in (
            [compiler, *COMPILE_FLAGS, "-c", str(source), "-o", str(obj)],
            [compiler, str(obj), "-o", str(lib), *LINK_FLAGS],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-500:]}")
        os.replace(lib, target)


def build_library(
    name: str, declare: Callable[[ctypes.CDLL], None], what: str
) -> ctypes.CDLL | None:
    """``csrc/<name>.c`` compiled (once per source, flags and CPU) and loaded; None where not
    possible. ``declare`` sets the functions' ctypes signatures; ``what`` names the kernel in
    the warning a failed build gives ("the word2vec CPU kernel")."""
    if not enabled():
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = SOURCES / f"{name}.c"
    key = hashlib.sha256(
        source.read_bytes()
        + repr((compiler, COMPILE_FLAGS, LINK_FLAGS)).encode()
        + _cpu_identity().encode()
    ).hexdigest()[:16]
    target = cache_directory() / "kernels" / f"{name}-{key}.so"
    try:
        if not target.exists():
            _build(compiler, source, target)
        lib = ctypes.CDLL(str(target))
        declare(lib)
    except (OSError, RuntimeError) as err:
        warnings.warn(
            f"rnnkit: could not build {what} ({err}); using torch ops instead (same results, "
            "slower). Set RNNKIT_CKERNEL=0 to silence.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return lib


@functools.cache
def worker_pool(prefix: str, workers: int, pid: int) -> ThreadPoolExecutor:
    """One thread pool per kernel, worker count and process (a forked child must not reuse
    its parent's threads, hence ``pid``)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix)
