"""Hashed character n-grams of words (fastText's subwords, Bojanowski et al. 2017).

A word ``w`` is framed as ``<w>`` and cut into its character n-grams, ``n_min`` to
``n_max`` long (shortest first); each n-gram is hashed (32-bit FNV-1a of its UTF-8 bytes)
into one of ``buckets - 1`` ids, ``1 .. buckets - 1`` (0 is padding). A word keeps at most
``slots`` n-grams, so a token becomes a fixed-width row of ids, zero-padded. Words never
seen in training still get their n-grams, which is the point: their vector is no longer
only the shared ``<unk>`` one.

>>> char_ngrams("cat")
['<ca', 'cat', 'at>', '<cat', 'cat>', '<cat>']
>>> SubwordHasher(buckets=100, slots=8).ids("cat")
[84, 60, 40, 21, 52, 63, 0, 0]
"""

from __future__ import annotations

__all__ = ["SubwordHasher", "char_ngrams", "fnv1a"]

_FNV_OFFSET, _FNV_PRIME = 2166136261, 16777619


def fnv1a(text: str) -> int:
    """32-bit FNV-1a hash of ``text``'s UTF-8 bytes (the hash fastText uses)."""
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, n_min: int = 3, n_max: int = 5) -> list[str]:
    """The n-grams of ``<word>``, ``n_min`` to ``n_max`` characters, shortest first."""
    framed = f"<{word}>"
    return [framed[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(framed) - n + 1)]


class SubwordHasher:
    """Token -> ``slots`` n-gram bucket ids (zero-padded), cached per token.

    Args:
        buckets: hash buckets, including the padding id 0 (>= 2).
        n_min, n_max: n-gram lengths.
        slots: n-grams kept per token (the shortest first).
    """

    def __init__(self, buckets: int, n_min: int = 3, n_max: int = 5, slots: int = 24) -> None:
        if buckets < 2:
            raise ValueError(f"`buckets` must be >= 2 (0 is padding), got {buckets}")
        if not 1 <= n_min <= n_max:
            raise ValueError(
                f"n-gram lengths must satisfy 1 <= n_min <= n_max, got {n_min}, {n_max}"
            )
        if slots < 1:
            raise ValueError(f"`slots` must be >= 1, got {slots}")
        self.buckets, self.n_min, self.n_max, self.slots = buckets, n_min, n_max, slots
        self._cache: dict[str, list[int]] = {}

    def ids(self, token: str) -> list[int]:
        """``slots`` ids of ``token``'s n-grams (1 .. buckets - 1), then zeros."""
        out = self._cache.get(token)
        if out is None:
            grams = char_ngrams(token, self.n_min, self.n_max)[: self.slots]
            out = [fnv1a(g) % (self.buckets - 1) + 1 for g in grams]
            out += [0] * (self.slots - len(out))
            self._cache[token] = out
        return out
