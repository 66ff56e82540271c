"""Dataset registry: find a dataset's files locally, or download them once, checksummed.

Where files are looked for, in order:

1. the **data directory**, a local mirror laid out as ``<dataset>/<file>`` (like
   ``../shared/data``): the ``data_dir`` argument, else the ``RNNKIT_DATA_DIR`` environment
   variable. Files are read in place.
2. the **cache directory**: ``RNNKIT_CACHE_DIR``, default ``~/.cache/rnnkit``, same layout.
3. a **download** from the file's public address into the cache (temporary file, sha256
   checked while streaming, then renamed; a mismatch keeps nothing). Set
   ``RNNKIT_OFFLINE=1`` (or ``download=False``) to forbid downloads.

Every file found is checked against its sha256 (hashed once per process, memoised by path,
size and modification time). Offline without a file, the error names the file, its checksum
and where to put it. ``python-docs`` is built in: the Python reference topics shipped with
every CPython (``pydoc_data.topics``), written to the cache on first use.

The CLI maps ``rnnkit data list|path|fetch`` to :func:`list_datasets`, :func:`dataset_path`
and :func:`fetch`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from rnnkit.data.catalog import DATASETS, DatasetSpec, FileSpec
from rnnkit.data.digest import file_digest
from rnnkit.paths import cache_directory  # where downloads go

__all__ = [
    "cache_directory",
    "data_directory",
    "dataset_path",
    "fetch",
    "get_dataset",
    "list_datasets",
    "resolve_text_source",
    "sha256_file",
    "verify_file",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
# The opener used for downloads; tests replace it (they never touch the network).
_urlopen = urllib.request.urlopen


# ---------------------------------------------------------------------- settings
def data_directory(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local mirror: ``data_dir`` if given, else ``$RNNKIT_DATA_DIR``, else ``None``."""
    value = data_dir if data_dir is not None else os.environ.get("RNNKIT_DATA_DIR") or None
    return None if value is None else Path(value).expanduser()


def _offline() -> bool:
    return os.environ.get("RNNKIT_OFFLINE", "").lower() in ("1", "true", "yes")


def get_dataset(name: str) -> DatasetSpec:
    """The registry entry of ``name`` (a ``KeyError`` listing the known names otherwise)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        ) from None


# ---------------------------------------------------------------------- checksums
@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(path)  # size and mtime key the cache: a changed file is read again


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, computed once per process for a given (path, size, mtime)."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def verify_file(path: Path, spec: FileSpec) -> None:
    """Check ``path`` against ``spec.sha256``: a mismatch is a ``ValueError`` naming the file
    (only a warning for ``strict=False`` files)."""
    if spec.sha256 is None:
        return
    got = sha256_file(path)
    if got == spec.sha256:
        return
    message = (
        f"checksum mismatch for {path}: expected sha256 {spec.sha256}, got {got} "
        "(a corrupt or different file)"
    )
    if not spec.strict:
        logger.warning(
            "%s; using it anyway, as this dataset accepts user-supplied versions", message
        )
        return
    raise ValueError(message + "; delete or replace it")


# ---------------------------------------------------------------------- locating files
def _builtin_path(spec: DatasetSpec) -> Path:
    """Write (once) and return a built-in dataset's file; only ``python-docs`` exists."""
    if spec.name != "python-docs":  # pragma: no cover - the catalog has one built-in
        raise KeyError(f"no builder for built-in dataset {spec.name!r}")
    version = f"py{sys.version_info.major}.{sys.version_info.minor}"
    path = cache_directory() / spec.name / version / spec.files[0].name
    if path.is_file() and path.stat().st_size > 0:
        return path
    from pydoc_data import topics

    text = "\n".join(topics.topics[key] for key in sorted(topics.topics))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.part-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    logger.info("wrote the built-in corpus %s (%d characters) to %s", spec.name, len(text), path)
    return path


def _download(url: str, dest: Path, spec: FileSpec) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    digest = hashlib.sha256()
    logger.info("downloading %s -> %s", url, dest)
    try:
        with _urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if spec.sha256 is not None and got != spec.sha256:
            if spec.strict:
                raise ValueError(
                    f"checksum mismatch downloading {url}: expected sha256 {spec.sha256}, got "
                    f"{got}; the file was not kept"
                )
            logger.warning("%s: sha256 %s differs from the pinned %s", url, got, spec.sha256)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _missing(spec: DatasetSpec, file: FileSpec, mirror: Path | None, why: str) -> FileNotFoundError:
    where = [str(cache_directory() / spec.name / file.name)]
    if mirror is not None:
        where.insert(0, str(mirror / spec.name / file.name))
    source = f"download it from {file.url}" if file.url else "it has no download address"
    hint = f"; {spec.hint}" if spec.hint else ""
    return FileNotFoundError(
        f"dataset {spec.name!r}: file {file.name} (sha256 {file.sha256}) is not available "
        f"({why}). {source.capitalize()}{hint}, and put it at {' or '.join(where)} "
        "(or set RNNKIT_DATA_DIR to a folder laid out as <dataset>/<file>)"
    )


def _file_path(spec: DatasetSpec, file: FileSpec, mirror: Path | None, download: bool) -> Path:
    if spec.builtin:
        return _builtin_path(spec)
    for root in (mirror, cache_directory()):
        if root is not None and (root / spec.name / file.name).is_file():
            path = root / spec.name / file.name
            verify_file(path, file)
            return path
    if file.url is None:
        raise _missing(spec, file, mirror, "not found locally")
    if not download or _offline():
        raise _missing(spec, file, mirror, "not found locally and downloads are off")
    dest = cache_directory() / spec.name / file.name
    try:
        _download(file.url, dest, file)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise _missing(spec, file, mirror, f"download failed: {err}") from None
    return dest


def _select(spec: DatasetSpec, file: str | None) -> list[FileSpec]:
    if file is None:
        return list(spec.files)
    for f in spec.files:
        if f.name == file:
            return [f]
    names = ", ".join(f.name for f in spec.files)
    raise ValueError(f"dataset {spec.name!r} has no file {file!r}; expected one of: {names}")


# ---------------------------------------------------------------------- public verbs
def list_datasets(data_dir: str | None = None) -> list[str]:
    """List the registered datasets, one line each: name, kind, status, description.

    Status is ``local`` (all files in the data directory), ``cached`` (all in the data or
    cache directory), ``built in``, ``partial`` or ``missing``. Nothing is hashed or fetched.

    Args:
        data_dir: local mirror laid out as <dataset>/<file> (default: $RNNKIT_DATA_DIR).
    """
    mirror = data_directory(data_dir)
    lines = []
    for spec in DATASETS.values():
        if spec.builtin:
            status = "built in"
        else:
            local = [
                mirror is not None and (mirror / spec.name / f.name).is_file() for f in spec.files
            ]
            cached = [(cache_directory() / spec.name / f.name).is_file() for f in spec.files]
            either = [a or b for a, b in zip(local, cached, strict=True)]
            if all(local):
                status = "local"
            elif all(either):
                status = "cached"
            elif any(either):
                status = "partial"
            else:
                status = "missing"
        lines.append(f"{spec.name:<17} {spec.kind:<15} {status:<9} {spec.description}")
    return lines


def dataset_path(
    name: str, file: str | None = None, data_dir: str | None = None, download: bool = True
) -> str:
    """Local path of a dataset's file, downloading it into the cache if needed.

    Args:
        name: dataset name (see ``rnnkit data list``).
        file: one of its files; default: the only file, or the dataset's folder when it has
            several (all of them then made available).
        data_dir: local mirror laid out as <dataset>/<file> (default: $RNNKIT_DATA_DIR).
        download: allow downloading missing files (also off with RNNKIT_OFFLINE=1).
    """
    spec = get_dataset(name)
    mirror = data_directory(data_dir)
    paths = [_file_path(spec, f, mirror, download) for f in _select(spec, file)]
    if file is not None or len(paths) == 1:
        return str(paths[0])
    folders = {p.parent for p in paths}
    if len(folders) > 1:
        raise ValueError(
            f"dataset {name!r} has files in several folders ({', '.join(map(str, folders))}); "
            "pass `file` to choose one"
        )
    return str(folders.pop())


def fetch(name: str, data_dir: str | None = None) -> list[str]:
    """Make every file of a dataset available locally (verified); return their paths.

    Args:
        name: dataset name (see ``rnnkit data list``).
        data_dir: local mirror laid out as <dataset>/<file> (default: $RNNKIT_DATA_DIR).
    """
    spec = get_dataset(name)
    mirror = data_directory(data_dir)
    return [str(_file_path(spec, f, mirror, download=True)) for f in spec.files]


def resolve_text_source(name_or_path: str | os.PathLike[str], data_dir: str | None = None) -> Path:
    """A ``--data`` value as a path: an existing file, a dataset name (its file, or its
    folder when it has several), or ``name/file`` (``ptb/ptb.train.txt``).

    Raises:
        FileNotFoundError: neither an existing path nor a known dataset.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    text = str(name_or_path)
    if text in DATASETS:
        return Path(dataset_path(text, data_dir=data_dir))
    head, _, tail = text.partition("/")
    if head in DATASETS and tail:
        return Path(dataset_path(head, tail, data_dir=data_dir))
    raise FileNotFoundError(
        f"`data` {text!r} is neither an existing file nor a dataset name; "
        f"known datasets: {', '.join(sorted(DATASETS))}"
    )
