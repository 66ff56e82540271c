"""Word vectors: a vocabulary and its (V, E) matrix, saved and loaded in the files people use.

Formats (all read by :func:`load_vectors`, the first two written by :meth:`WordVectors.save`):

- ``word2vec`` text: a header line ``"V E"``, then one line per word ``word v1 ... vE``;
- ``word2vec-bin``: the same header line, then per word ``word<space>`` followed by E
  little-endian float32 (4E bytes) and ``"\\n"`` (the original C tool's layout; files
  without the newline, as gensim 4 writes them, are read too);
- ``glove`` text: no header, every line ``word v1 ... vE``.

These are exactly the files gensim's ``KeyedVectors.load_word2vec_format`` reads and
``save_word2vec_format`` writes. A bad file gets one clear error naming the file and the
line (for the binary format: the word number and byte offset): a wrong header, a ragged
row, bytes that do not decode (pass ``encoding``), a NaN or inf, an empty file. A word seen
twice is a warning; the first vector is kept (as gensim does).

Only NumPy is needed.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnnkit.data.text import is_number

__all__ = ["FORMATS", "WordVectors", "load_vectors"]

logger = logging.getLogger(__name__)

FORMATS = ("auto", "word2vec", "word2vec-bin", "glove")
_HEADER = re.compile(rb"^\s*[+-]?\d+(\s+[+-]?\d+)*\s*$")  # a first line of integers only
_NUMERIC = re.compile(rb"^[0-9eE.+\-naifNAIF \t\r]*[0-9][0-9eE.+\-naifNAIF \t\r]*$")


class WordVectors:
    """A vocabulary and its vectors, most frequent word first (as word2vec writes them).

    Args:
        words: the V words, distinct, without whitespace.
        vectors: (V, E) float matrix; stored as float32.
        counts: optional corpus counts of the V words (not part of the file formats).

    >>> wv = WordVectors(["a", "b"], np.eye(2))
    >>> wv.index("b"), "c" in wv, wv.dim
    (1, False, 2)
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        counts: Sequence[int] | None = None,
    ) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"`vectors` must be (V, E), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} `words` but `vectors` has {vectors.shape[0]} rows")
        if counts is not None and len(counts) != len(words):
            raise ValueError(f"{len(counts)} `counts` for {len(words)} words")
        self.words = list(words)
        self.vectors = vectors  # (V, E)
        self.counts = None if counts is None else [int(c) for c in counts]
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            seen: set[str] = set()
            dup = next(w for w in self.words if w in seen or seen.add(w))
            raise ValueError(f"`words` must be distinct, {dup!r} appears twice")
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim {self.dim})"

    @property
    def dim(self) -> int:
        """E, the number of values per word."""
        return int(self.vectors.shape[1])

    def index(self, word: str) -> int | None:
        """The row of ``word``, or ``None`` if it is not in the vocabulary."""
        return self._index.get(word)

    def get(self, word: str) -> np.ndarray | None:
        """The (E,) vector of ``word``, or ``None`` if it is not in the vocabulary."""
        i = self._index.get(word)
        return None if i is None else self.vectors[i]

    def __getitem__(self, word: str) -> np.ndarray:
        i = self._index.get(word)
        if i is None:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words)")
        return self.vectors[i]

    def unit_vectors(self) -> np.ndarray:
        """(V, E) float32 rows scaled to length 1 (zero rows stay zero); computed once."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)  # (V, 1)
            self._unit = self.vectors / np.where(norms > 0, norms, 1).astype(np.float32)
        return self._unit

    def most_similar(
        self, positive: Sequence[str], negative: Sequence[str] = (), k: int = 10
    ) -> list[tuple[str, float]]:
        """The ``k`` words nearest by cosine to the mean of the unit vectors of ``positive``
        minus those of ``negative`` (3CosAdd), the query words themselves left out.

        ``most_similar(["king", "woman"], ["man"])`` answers man : king :: woman : ?.
        """
        missing = [w for w in [*positive, *negative] if w not in self]
        if missing:
            raise KeyError(f"not in the vocabulary: {', '.join(map(repr, missing))}")
        unit = self.unit_vectors()
        query = unit[[self._index[w] for w in positive]].sum(0)  # (E,)
        if negative:
            query = query - unit[[self._index[w] for w in negative]].sum(0)
        scores = unit @ query  # (V,)
        scores[[self._index[w] for w in [*positive, *negative]]] = -np.inf
        norm = float(np.linalg.norm(query)) or 1.0
        top = np.argsort(-scores, kind="stable")[: max(0, min(k, len(self) - 1))]
        return [(self.words[i], float(scores[i]) / norm) for i in top if scores[i] > -np.inf]

    def save(self, path: str | os.PathLike[str], binary: bool = False) -> Path:
        """Write the word2vec text (or, with ``binary``, binary) format; returns ``path``.

        The file is written under a temporary name and renamed. Text values keep 9
        significant digits, enough to read back every float32 exactly.
        """
        bad = next((w for w in self.words if not w or re.search(r"\s", w)), None)
        if bad is not None:
            raise ValueError(f"word {bad!r} cannot be saved: empty or holds whitespace")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(f"{len(self)} {self.dim}\n".encode())
            if binary:
                rows = self.vectors.astype("<f4")
                for word, row in zip(self.words, rows, strict=True):
                    f.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                fmt = " ".join(["%.9g"] * self.dim)
                for word, row in zip(self.words, self.vectors.tolist(), strict=True):
                    f.write(f"{word} {fmt % tuple(row)}\n".encode())
        os.replace(tmp, path)
        return path


def load_vectors(
    path: str | os.PathLike[str],
    format: str = "auto",
    encoding: str = "utf-8",
    limit: int | None = None,
) -> WordVectors:
    """Read a word-vectors file.

    Args:
        path: a word2vec text or binary file, or a GloVe text file.
        format: ``"auto"`` (detected: a first line ``"V E"`` is a word2vec header, the rows
            after it are binary or text; no header is GloVe), ``"word2vec"``,
            ``"word2vec-bin"`` or ``"glove"``.
        encoding: the encoding of the words (``"utf-8"``; e.g. ``"latin-1"``).
        limit: read only the first ``limit`` words (the most frequent, in word2vec files).

    Returns:
        :class:`WordVectors` with (V, E) float32 vectors, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad file; the message names the file and line (or byte offset).
    """
    path = Path(path)
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FORMATS)}, got {format!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"`limit` must be >= 1 or None, got {limit}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"`encoding` {encoding!r} is not a known text encoding") from None
    if not path.is_file():
        raise FileNotFoundError(f"vectors file {path} does not exist or is not a file")
    with open(path, "rb") as f:
        first = f.readline()
        if not first:
            raise ValueError(f"vectors file {path} is empty")
        if not first.strip():
            raise ValueError(f"{path}: line 1 is blank, expected a header or a first row")
        fmt = format if format != "auto" else _detect(f, first)
        if fmt == "glove":
            f.seek(0)
            rows = _text_rows(f, path, encoding, start=1, offset=0)
            return _collect(rows, path, None, limit)
        vocab, dim = _header(first, path, fmt)
        if fmt == "word2vec-bin":
            return _read_binary(f, path, vocab, dim, encoding, limit, offset=len(first))
        rows = _text_rows(f, path, encoding, start=2, offset=len(first))
        return _collect(rows, path, (vocab, dim), limit)


def _detect(f: BinaryIO, first: bytes) -> str:
    """``glove`` without an integer header; else ``word2vec-bin`` unless the next line,
    after its word, reads as text numbers."""
    fields = first.split()
    if not _HEADER.match(first) and not (len(fields) == 2 and _is_int(fields[0])):
        return "glove"
    pos = f.tell()
    sample = f.read(4096)
    f.seek(pos)
    line = sample.split(b"\n", 1)[0]
    _, _, values = line.partition(b" ")
    return "word2vec" if not sample or _NUMERIC.match(values) else "word2vec-bin"


def _header(first: bytes, path: Path, fmt: str) -> tuple[int, int]:
    """``(V, E)`` from the header line ``"V E"``: two positive integers."""
    fields = first.split()
    try:
        vocab, dim = (int(x) for x in fields)
        ok = vocab > 0 and dim > 0
    except ValueError:
        ok = False
    if not ok:
        shown = first[:60].decode("utf-8", errors="replace").strip()
        raise ValueError(
            f"{path}: line 1: a word2vec header must be two positive integers 'V E' "
            f"(words, dimension), got {shown!r}; a file without a header (GloVe) needs "
            "format='glove'"
        )
    return vocab, dim


def _text_rows(
    f: BinaryIO, path: Path, encoding: str, start: int, offset: int
) -> Iterator[tuple[int, str, list[str]]]:
    """``(line number, word, value strings)`` for each line; blank lines only at the end."""
    blank = None
    for line_no, raw in enumerate(f, start):
        try:
            line = raw.decode(encoding).rstrip()
        except UnicodeDecodeError as err:
            bad = raw[err.start : err.end]
            raise ValueError(
                f"{path}: line {line_no} (byte offset {offset + err.start}): bytes {bad!r} "
                f"are not valid {encoding} ({err.reason}); pass the file's encoding with "
                "`encoding` (`--encoding` on the command line), e.g. latin-1"
            ) from None
        offset += len(raw)
        if not line:
            blank = blank or line_no
            continue
        if blank is not None:
            raise ValueError(f"{path}: line {blank} is blank (a vectors file has no blank rows)")
        word, *values = line.split(" ")
        yield line_no, word, values


def _collect(
    rows: Iterable[tuple[int, str, list[str]]],
    path: Path,
    header: tuple[int, int] | None,
    limit: int | None,
) -> WordVectors:
    """Check and stack text rows: E from the header, or from the first row (GloVe)."""
    dim = header[1] if header else None
    words: list[str] = []
    vectors: list[np.ndarray] = []
    index: dict[str, int] = {}
    n_rows = 0
    for line_no, word, values in rows:
        if header and n_rows == header[0]:
            raise ValueError(
                f"{path}: line {line_no}: the header (line 1) says {header[0]} words, "
                "but the file has more rows"
            )
        if dim is None:
            dim = len(values)
            if dim == 0:
                raise ValueError(f"{path}: line {line_no}: {word!r} has no values")
        if len(values) != dim:
            source = "the header (line 1)" if header else "the first row"
            raise ValueError(
                f"{path}: line {line_no}: {word!r} has {len(values)} values, expected {dim} "
                f"as {source} says (ragged rows; a word with spaces in it?)"
            )
        vec = _parse(values, path, line_no, word)
        n_rows += 1
        if word in index:
            logger.warning("%s: line %d: %r appears again; the first is kept", path, line_no, word)
        else:
            index[word] = len(words)
            words.append(word)
            vectors.append(vec)
        if n_rows == limit:
            break
    if not n_rows:
        raise ValueError(f"vectors file {path} has no rows after its header")
    if header and n_rows < min(header[0], limit or header[0]):
        raise ValueError(
            f"{path}: the header (line 1) says {header[0]} words, but the file has only "
            f"{n_rows} rows (ends at line {n_rows + 1}); truncated file or wrong header?"
        )
    return WordVectors(words, np.stack(vectors))


def _parse(values: list[str], path: Path, line_no: int, word: str) -> np.ndarray:
    try:
        vec = np.array(values, dtype=np.float32)
    except ValueError:
        bad = next(v for v in values if not is_number(v))
        raise ValueError(
            f"{path}: line {line_no}: {word!r} has a value {bad!r}, not a number"
        ) from None
    if not np.isfinite(vec).all():
        bad = values[int(np.flatnonzero(~np.isfinite(vec))[0])]
        raise ValueError(f"{path}: line {line_no}: the vector of {word!r} holds {bad} (NaN/inf)")
    return vec


def _is_int(text: bytes) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _read_binary(
    f: BinaryIO, path: Path, vocab: int, dim: int, encoding: str, limit: int | None, offset: int
) -> WordVectors:
    """Words of ``word<space><4E bytes>[\\n]`` after the header, read in 1 MiB chunks."""
    want = vocab if limit is None else min(vocab, limit)
    nbytes = 4 * dim
    words: list[str] = []
    vectors = np.empty((want, dim), dtype=np.float32)  # (V, E)
    index: dict[str, int] = {}
    buf, pos, base = b"", 0, offset  # base: file offset of buf[0]
    for number in range(1, want + 1):
        while (space := buf.find(b" ", pos)) < 0 or len(buf) < space + 1 + nbytes:
            more = f.read(1 << 20)
            if not more:
                raise ValueError(
                    f"{path}: the header (line 1) says {vocab} words of {dim} float32, but the "
                    f"file ends inside word {number} (byte offset {base + pos}); truncated file "
                    "or wrong header?"
                )
            buf, base, pos = buf[pos:] + more, base + pos, 0
        raw = buf[pos:space].lstrip(b"\n")
        where = f"{path}: word {number} (byte offset {base + pos})"
        try:
            word = raw.decode(encoding)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{where}: bytes {raw[err.start : err.end]!r} are not valid {encoding} "
                f"({err.reason}); pass the file's encoding with `encoding` (`--encoding` on "
                "the command line), e.g. latin-1"
            ) from None
        vec = np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1)
        if not np.isfinite(vec).all():
            raise ValueError(f"{where}: the vector of {word!r} holds NaN or inf")
        pos = space + 1 + nbytes
        if buf.startswith(b"\n", pos):  # the C tool's newline after each vector
            pos += 1
        if word in index:
            logger.warning("%s: %r appears again; the first is kept", where, word)
            continue
        index[word] = len(words)
        vectors[len(words)] = vec
        words.append(word)
    if want == vocab and (buf[pos:] + f.read(64)).strip():
        raise ValueError(
            f"{path}: the header (line 1) says {vocab} words, but more data follows word "
            f"{vocab} (byte offset {base + pos}); wrong header?"
        )
    return WordVectors(words, vectors[: len(words)])
