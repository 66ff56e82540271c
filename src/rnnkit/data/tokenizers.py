"""Tokenizers: text -> list of token strings, and back.

- :class:`CharTokenizer`: one token per character; ``detokenize(tokenize(t)) == t`` exactly.
- :class:`WordTokenizer`: whitespace words with an end-of-line token per line, as PTB is
  prepared (Mikolov; PyTorch's word_language_model: ``line.split() + ["<eos>"]`` for every
  line). Optionally splits punctuation off words (for translation), lowercases and applies
  Unicode normalisation. Reversible up to whitespace: ``detokenize`` joins words with one
  space and turns each ``<eos>`` back into a newline.

Both have ``tokenize(text) -> list[str]`` and ``detokenize(tokens) -> str``; make them by
name with :func:`get_tokenizer` (``"char"``, ``"word"``, ``"word-punct"``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

__all__ = [
    "UNTOKENISED_SHARE",
    "CharTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "get_tokenizer",
    "punctuation_attached",
    "untokenised_note",
]

# A word (letters/digits, keeping inner apostrophes and hyphens: "don't", "aujourd'hui",
# "well-known") or a single punctuation/symbol character.
_WORD_OR_PUNCT = re.compile(r"\w+(?:['\u2019\-]\w+)*|[^\w\s]")
# Punctuation that attaches to the previous word when detokenizing ("cold ." -> "cold.").
_NO_SPACE_BEFORE = set(".,!?;:%)]}\u00bb\u2026")
_NO_SPACE_AFTER = set("([{\u00ab$")

Normalization = Literal["NFC", "NFKC", "NFD", "NFKD"]


class Tokenizer(Protocol):
    """What the data pipeline needs from a tokenizer."""

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: Iterable[str]) -> str: ...


class CharTokenizer:
    """One token per character (newlines included): an exact round trip."""

    def tokenize(self, text: str) -> list[str]:
        """``"ab\\n"`` -> ``["a", "b", "\\n"]``."""
        return list(text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        """Concatenate the tokens."""
        return "".join(tokens)

    def __repr__(self) -> str:
        return "CharTokenizer()"


class WordTokenizer:
    """Whitespace words, each line followed by an end-of-line token.

    Args:
        eos_token: appended after every line (``None``: no line ends, lines simply join).
            A text ending in a newline has no extra empty line at the end, as when
            iterating over a file.
        split_punctuation: split punctuation off words (``"I'm cold."`` ->
            ``["I'm", "cold", "."]``); apostrophes and hyphens inside a word stay.
        lowercase: lowercase the text first.
        normalize: Unicode normalisation form applied first (``"NFC"``, ``"NFKC"``, ...),
            or ``None``.
    """

    def __init__(
        self,
        eos_token: str | None = "<eos>",
        *,
        split_punctuation: bool = False,
        lowercase: bool = False,
        normalize: Normalization | None = None,
    ) -> None:
        if normalize not in (None, "NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"`normalize` must be None, NFC, NFKC, NFD or NFKD, got {normalize!r}")
        self.eos_token = eos_token
        self.split_punctuation = split_punctuation
        self.lowercase = lowercase
        self.normalize = normalize

    def _clean(self, text: str) -> str:
        if self.normalize is not None:
            text = unicodedata.normalize(self.normalize, text)
        return text.lower() if self.lowercase else text

    def words(self, line: str) -> list[str]:
        """The tokens of one line, without the end-of-line token."""
        line = self._clean(line)
        return _WORD_OR_PUNCT.findall(line) if self.split_punctuation else line.split()

    def tokenize(self, text: str) -> list[str]:
        """Tokens of ``text``, each line's words followed by ``eos_token``."""
        if self.eos_token is None:
            return self.words(text)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # "a\nb\n" has two lines, as a file does
        out: list[str] = []
        for line in lines:
            out.extend(self.words(line))
            out.append(self.eos_token)
        return out

    def detokenize(self, tokens: Iterable[str]) -> str:
        """Join words with single spaces; ``eos_token`` becomes a newline. With
        ``split_punctuation``, closing punctuation attaches to the previous word."""
        lines: list[str] = []
        current: list[str] = []
        for tok in tokens:
            if self.eos_token is not None and tok == self.eos_token:
                lines.append(self._join(current) + "\n")
                current = []
            else:
                current.append(tok)
        if current:
            lines.append(self._join(current))
        return "".join(lines)

    def _join(self, words: list[str]) -> str:
        if not self.split_punctuation:
            return " ".join(words)
        out = ""
        for i, w in enumerate(words):
            space = i > 0 and w not in _NO_SPACE_BEFORE and words[i - 1] not in _NO_SPACE_AFTER
            out += (" " if space else "") + w
        return out

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(eos_token={self.eos_token!r}, split_punctuation="
            f"{self.split_punctuation}, lowercase={self.lowercase}, normalize={self.normalize!r})"
        )


def get_tokenizer(name: str, **kwargs: object) -> CharTokenizer | WordTokenizer:
    """A tokenizer by name: ``"char"``, ``"word"`` (PTB style) or ``"word-punct"`` (words
    with punctuation split off, no end-of-line token); ``kwargs`` go to the word tokenizer."""
    if name == "char":
        if kwargs:
            raise ValueError(f"the char tokenizer takes no options, got {sorted(kwargs)}")
        return CharTokenizer()
    if name == "word":
        return WordTokenizer(**kwargs)  # type: ignore[arg-type]
    if name == "word-punct":
        kwargs = {"eos_token": None, "split_punctuation": True, **kwargs}
        return WordTokenizer(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"`tokenizer` must be 'char', 'word' or 'word-punct', got {name!r}")


UNTOKENISED_SHARE = 0.05
"""Above this share of words with punctuation attached (``time.``), a text read as
whitespace words is said to look untokenised (tokenised text such as PTB has none)."""

_SPECIAL = re.compile(r"^<\w+>$")  # <unk>, <eos>: a prepared corpus' specials
_ATTACHED = re.compile(r"^\w.*[^\w\s]$|^[^\w\s]+\w")


def punctuation_attached(counts: Mapping[str, int]) -> tuple[float, list[str]]:
    """The share of the words counted in ``counts`` (``{word: count}``) that carry
    punctuation (``time.``, ``'I``; specials such as ``<unk>`` aside), and the three most
    frequent of them: a high share means raw, untokenised text read as whitespace words."""
    attached = {w: n for w, n in counts.items() if _ATTACHED.match(w) and not _SPECIAL.match(w)}
    share = sum(attached.values()) / max(1, sum(counts.values()))
    return share, sorted(attached, key=lambda w: -attached[w])[:3]


def untokenised_note(counts: Mapping[str, int], remedy: str) -> str | None:
    """A sentence saying that text read as whitespace words looks untokenised (more than
    :data:`UNTOKENISED_SHARE` of the words in ``counts`` carry punctuation), ending with
    ``remedy`` (the option that splits it off); None when it does not."""
    share, examples = punctuation_attached(counts)
    if share <= UNTOKENISED_SHARE:
        return None
    return (
        f"{100 * share:.0f}% of its words carry punctuation ({', '.join(map(repr, examples))}), "
        f"so each is a word of its own: the text looks untokenised; {remedy}"
    )
