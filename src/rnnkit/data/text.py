"""Reading text files and turning text into token ids, with clear errors for bad files.

:func:`read_text` reads a whole file as text (UTF-8 by default). Bad files get one clear
error naming the file, never a traceback from deep inside a codec:

- a missing file or a directory -> ``FileNotFoundError``;
- an empty file, a binary file (NUL bytes), or bytes that do not decode -> ``ValueError``
  naming the file, the line and the column (1-based) of the first bad byte.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.data.vocab import Vocab

__all__ = ["encode_text", "is_number", "read_text"]

logger = logging.getLogger(__name__)


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column in characters) of byte ``offset`` in ``data``."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def read_text(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> str:
    """The text of ``path``, with newlines normalised to ``"\\n"`` (as ``open()`` does).

    A leading UTF-8 byte-order mark is dropped.

    Args:
        path: a text file.
        encoding: its encoding (``"utf-8"``; e.g. ``"latin-1"`` for TREC).

    Raises:
        FileNotFoundError: the file does not exist or is a directory.
        ValueError: the file is empty, binary (has NUL bytes) or does not decode; the
            message names the file and the line and column of the problem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"text file {path} does not exist")
    if path.is_dir():
        raise FileNotFoundError(f"text file {path} is a directory, expected a file")
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"`encoding` {encoding!r} is not a known text encoding") from None
    data = path.read_bytes()
    if not data:
        raise ValueError(f"text file {path} is empty")
    nul = data.find(b"\x00")
    if nul >= 0 and not codec.startswith(("utf-16", "utf-32")):
        line, col = _position(data, nul)
        raise ValueError(
            f"{path} looks like a binary file, not text: NUL byte at line {line}, column {col}"
        )
    if data.startswith(codecs.BOM_UTF8) and codec == "utf-8":
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line, col = _position(data, err.start)
        bad = data[err.start : err.end]
        raise ValueError(
            f"{path}: line {line}, column {col}: bytes {bad!r} are not valid {encoding} "
            f"({err.reason}); pass the right `encoding` or fix the file"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def encode_text(
    text: str | Iterable[str],
    tokenizer: Tokenizer,
    vocab: Vocab,
    *,
    on_unknown: Literal["unk", "error"] = "unk",
) -> torch.Tensor:
    """Token ids of ``text`` as a 1-D ``int64`` tensor ``(N,)``.

    Args:
        text: the text (or an iterable of chunks, tokenized one by one and concatenated).
        tokenizer: e.g. ``CharTokenizer()`` or ``WordTokenizer()``.
        vocab: the vocabulary.
        on_unknown: ``"unk"`` maps unknown tokens to ``<unk>``; ``"error"`` raises a
            ``KeyError`` naming the first unknown token.
    """
    chunks = [text] if isinstance(text, str) else text
    ids: list[int] = []
    for chunk in chunks:
        ids.extend(vocab.encode(tokenizer.tokenize(chunk), on_unknown=on_unknown))
    if not ids:
        raise ValueError("`text` has no tokens; expected a non-empty corpus")
    return torch.tensor(ids, dtype=torch.long)


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (as ``float`` reads it: ``"1e-3"``, ``" 2 "``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
