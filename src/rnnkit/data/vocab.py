"""A token vocabulary: tokens <-> integer ids, with special tokens and JSON save/load.

Ids are assigned in a fixed, documented order so the same corpus always gives the same
vocabulary (and the same embedding rows):

1. the special tokens, in the order given (default ``<pad>=0, <unk>=1, <bos>=2, <eos>=3``);
2. the other tokens by descending frequency, ties broken by first appearance in the corpus
   (``order="frequency"``, the default, as d2l and PyTorch's word_language_model do), or
   simply in lexicographic order (``order="lexicographic"``, as char-rnn sorts characters).

A token that is also a special (PTB's own ``<unk>``, a line's ``<eos>``) keeps the special's id.

>>> vocab = Vocab.build("hello world".split() * 2 + ["hi"], min_freq=2)
>>> vocab.encode(["hello", "hi"])
[4, 1]
>>> vocab.decode([4, 5])
['hello', 'world']
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_SPECIALS", "FORMAT", "FORMAT_VERSION", "Vocab"]

logger = logging.getLogger(__name__)

DEFAULT_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
FORMAT = "rnnkit.vocab"
FORMAT_VERSION = 1


class Vocab:
    """A fixed mapping between tokens and ids ``0 .. V-1``.

    Args:
        tokens: every token in id order, specials first (``tokens[i]`` has id ``i``).
            Usually made with :meth:`build` rather than by hand.
        specials: the special tokens; each must appear in ``tokens``. The names ``pad``,
            ``unk``, ``bos``, ``eos`` are found by their default spellings or by the
            ``*_token`` arguments.
        unk_token: the token unknown tokens map to, or ``None`` for a closed vocabulary
            (then an unknown token is an error).
        pad_token, bos_token, eos_token: the spellings of those specials (``None``: absent).

    Attributes:
        pad_id, unk_id, bos_id, eos_id: ids of the specials, or ``None`` where absent.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        specials: Sequence[str] = DEFAULT_SPECIALS,
        unk_token: str | None = "<unk>",
        pad_token: str | None = "<pad>",
        bos_token: str | None = "<bos>",
        eos_token: str | None = "<eos>",
    ) -> None:
        self._itos: list[str] = list(tokens)
        self._stoi: dict[str, int] = {}
        for i, tok in enumerate(self._itos):
            if not isinstance(tok, str):
                raise TypeError(f"`tokens` must be strings, got {type(tok).__name__} at id {i}")
            if tok in self._stoi:
                raise ValueError(
                    f"`tokens` must be unique, got {tok!r} at ids {self._stoi[tok]} and {i}"
                )
            self._stoi[tok] = i
        missing = [s for s in specials if s not in self._stoi]
        if missing:
            raise ValueError(f"`specials` {missing} are not in `tokens`")
        self.specials: tuple[str, ...] = tuple(specials)
        names = {"unk_token": unk_token, "pad_token": pad_token}
        names.update(bos_token=bos_token, eos_token=eos_token)
        for arg, tok in names.items():
            if tok is not None and tok not in self.specials:
                # A named special that is absent simply means "this vocab has none".
                names[arg] = None
        self.unk_token: str | None = names["unk_token"]
        self.pad_token: str | None = names["pad_token"]
        self.bos_token: str | None = names["bos_token"]
        self.eos_token: str | None = names["eos_token"]

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        tokens: Iterable[str] | Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = DEFAULT_SPECIALS,
        unk_token: str | None = "<unk>",
        order: Literal["frequency", "lexicographic"] = "frequency",
    ) -> Vocab:
        """Count ``tokens`` and keep those seen at least ``min_freq`` times.

        Args:
            tokens: a flat iterable of tokens, or an iterable of token lists (sentences).
            min_freq: keep tokens seen at least this often (specials are always kept).
            max_size: at most this many ids in all, specials included (``None``: no limit);
                the least frequent tokens are dropped first.
            specials: special tokens, given the lowest ids in this order.
            unk_token: the special unknown tokens map to (``None``: closed vocabulary).
            order: ``"frequency"`` (descending count, ties by first appearance) or
                ``"lexicographic"`` (sorted by the token string; frequency only filters).
        """
        if min_freq < 1:
            raise ValueError(f"`min_freq` must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(specials):
            raise ValueError(f"`max_size` must be >= the {len(specials)} specials, got {max_size}")
        if order not in ("frequency", "lexicographic"):
            raise ValueError(f"`order` must be 'frequency' or 'lexicographic', got {order!r}")
        counts: Counter[str] = Counter()
        first: dict[str, int] = {}
        for item in tokens:
            group = [item] if isinstance(item, str) else item
            for tok in group:
                counts[tok] += 1
                first.setdefault(tok, len(first))
        special_set = set(specials)
        kept = [t for t, c in counts.items() if c >= min_freq and t not in special_set]
        kept.sort(key=lambda t: (-counts[t], first[t]))  # most frequent first
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        if order == "lexicographic":
            kept.sort()
        if not kept:
            logger.warning("vocabulary has no tokens besides the specials (min_freq=%d)", min_freq)
        return cls([*specials, *kept], specials=specials, unk_token=unk_token)

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``; unknown tokens give ``unk_id`` (or a ``KeyError`` without one)."""
        return self._lookup(token, "unk")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={list(self.specials)})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    def _id(self, token: str | None) -> int | None:
        return None if token is None else self._stoi[token]

    @property
    def pad_id(self) -> int | None:
        return self._id(self.pad_token)

    @property
    def unk_id(self) -> int | None:
        return self._id(self.unk_token)

    @property
    def bos_id(self) -> int | None:
        return self._id(self.bos_token)

    @property
    def eos_id(self) -> int | None:
        return self._id(self.eos_token)

    def _lookup(self, token: str, on_unknown: str) -> int:
        idx = self._stoi.get(token)
        if idx is not None:
            return idx
        if on_unknown == "unk" and self.unk_token is not None:
            return self._stoi[self.unk_token]
        why = "" if on_unknown == "error" else " and it has no `unk_token`"
        raise KeyError(f"token {token!r} is not in the vocabulary ({len(self)} tokens){why}")

    def encode(
        self, tokens: Iterable[str], *, on_unknown: Literal["unk", "error"] = "unk"
    ) -> list[int]:
        """Token ids for ``tokens``.

        Args:
            tokens: the tokens, e.g. ``tokenizer.tokenize(text)``.
            on_unknown: ``"unk"`` maps unknown tokens to ``unk_id`` (an error if the vocab
                has no ``<unk>``); ``"error"`` raises a ``KeyError`` naming the token.
        """
        if on_unknown not in ("unk", "error"):
            raise ValueError(f"`on_unknown` must be 'unk' or 'error', got {on_unknown!r}")
        return [self._lookup(t, on_unknown) for t in tokens]

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens of ``tokens`` not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in tokens if t not in self._stoi))

    def decode(self, ids: Iterable[int], *, skip_specials: bool = False) -> list[str]:
        """Tokens for ``ids`` (ints or a 1-D tensor); ``skip_specials`` drops specials."""
        out = []
        special_set = set(self.specials)
        for raw in ids:
            i = int(raw)
            if not 0 <= i < len(self._itos):
                raise IndexError(f"id {i} is out of range for a vocabulary of {len(self)} tokens")
            tok = self._itos[i]
            if skip_specials and tok in special_set:
                continue
            out.append(tok)
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (format, version, tokens, specials)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "tokens": list(self._itos),
            "specials": list(self.specials),
            "unk_token": self.unk_token,
            "pad_token": self.pad_token,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "vocabulary data") -> Vocab:
        """Inverse of :meth:`to_dict`; ``source`` names the origin in error messages."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{source} is not an rnnkit vocabulary (expected format {FORMAT!r})")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{source} has vocabulary format version {data.get('version')!r}; "
                f"this rnnkit reads version {FORMAT_VERSION}"
            )
        try:
            return cls(
                data["tokens"],
                specials=data["specials"],
                unk_token=data.get("unk_token"),
                pad_token=data.get("pad_token"),
                bos_token=data.get("bos_token"),
                eos_token=data.get("eos_token"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{source} is a corrupt rnnkit vocabulary: {err}") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the vocabulary as JSON (temporary file, then rename); returns the path."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by :meth:`save`; a foreign or corrupt file is a
        ``ValueError`` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"vocabulary file {path} is not valid JSON: {err}") from None
        return cls.from_dict(data, source=f"vocabulary file {path}")
