"""The word2vec CPU kernel (``rnnkit/csrc/word2vec.c``): built on first use, called via ctypes.

Why a C file: a word2vec step is ~P (K + 2) tiny 100-float rows gathered, multiplied and
scattered back. As torch ops every one of the six steps (two gathers, two batched products,
two scatter-adds) makes a pass over ``(P, 1+K, E)`` buffers far larger than the cache; the C
loop touches each row once per pass, in cache. That is the difference between about a fifth
of gensim's speed and more than half of it (docs/embeddings.md).

The build follows :mod:`rnnkit.functional._ckernel`'s rules: the system compiler (``$CC``,
else ``cc``/``gcc``) compiles the file once into
``$RNNKIT_CACHE_DIR/kernels/word2vec-<hash>.so`` (the hash covers the source, the flags and
this CPU), atomically; no compiler, a failed build (one warning) or ``RNNKIT_CKERNEL=0`` make
:func:`load` return None and :class:`rnnkit.embed.engine.TorchEngine` uses torch ops: same
update, slower.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnkit.paths import cache_directory

__all__ = ["load", "pool"]

SOURCE = Path(__file__).resolve().parent.parent / "csrc" / "word2vec.c"
COMPILE_FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC")
LINK_FLAGS = ("-shared", "-lm")


def _enabled() -> bool:
    return os.environ.get("RNNKIT_CKERNEL", "1").lower() not in ("0", "false", "no", "off")


def _cpu_identity() -> str:
    """What ``-march=native`` depends on: the CPU model and flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join([ln for ln in lines if ln.startswith(("model name", "flags"))][:2])
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _build(compiler: str, target: Path) -> None:
    """Compile and link SOURCE into ``target`` atomically (parallel processes may race)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        obj, lib = Path(tmp) / "word2vec.o", Path(tmp) / target.name
        for cmd in (
            [compiler, *COMPILE_FLAGS, "-c", str(SOURCE), "-o", str(obj)],
            [compiler, str(obj), "-o", str(lib), *LINK_FLAGS],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-500:]}")
        os.replace(lib, target)


def _declare(lib: ctypes.CDLL) -> None:
    p, n, f = ctypes.c_void_p, ctypes.c_long, ctypes.c_float
    # (w_in, w_out, dim, inputs, mask, ctx, rows, k1, h, g, dh, p0, p1) -> loss
    lib.w2v_grad_f32.argtypes = [p, p, n, p, p, n, p, n, p, p, p, n, n]
    lib.w2v_grad_f32.restype = ctypes.c_double
    # (w_in, w_out, dim, inputs, mask, ctx, rows, k1, h, g, dh, n, alpha, part, parts)
    lib.w2v_apply_f32.argtypes = [p, p, n, p, p, n, p, n, p, p, p, n, f, n, n]
    lib.w2v_apply_f32.restype = None


@functools.cache
def load() -> ctypes.CDLL | None:
    """The compiled kernel library, building it if needed; None where that is not possible."""
    if not _enabled():
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    key = hashlib.sha256(
        SOURCE.read_bytes()
        + repr((compiler, COMPILE_FLAGS, LINK_FLAGS)).encode()
        + _cpu_identity().encode()
    ).hexdigest()[:16]
    target = cache_directory() / "kernels" / f"word2vec-{key}.so"
    try:
        if not target.exists():
            _build(compiler, target)
        lib = ctypes.CDLL(str(target))
        _declare(lib)
    except (OSError, RuntimeError) as err:
        warnings.warn(
            f"rnnkit: could not build the word2vec CPU kernel ({err}); using torch ops "
            "instead (same results, slower). Set RNNKIT_CKERNEL=0 to silence.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return lib


@functools.cache
def pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """One pool per worker count and process (a forked child must not reuse its parent's)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rnnkit-w2v")
