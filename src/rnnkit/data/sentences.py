"""Splitting text into sentences, so a paragraph can go through a sentence-level model.

A translator trained on sentence pairs (Tatoeba's are a few words long) tends to stop after
the first sentence of a longer input; :func:`split_sentences` cuts the input at sentence
ends so each sentence is translated on its own::

    >>> split_sentences("I am cold. Are you? Yes! « Oui ! » dit-il.")
    ['I am cold.', 'Are you?', 'Yes!', '« Oui ! » dit-il.']

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (repeated, and followed by closing quotes or
brackets) before white space and a letter, a digit or an opening quote; lowercase text is
split too (``i am cold. he is tall.``). A French ``!`` or ``?`` set off by a space
(``Oui !``) ends a sentence the same way. A period after a single letter or a common
abbreviation (``Mr.``, ``etc.``, ``p. ex.``) does not end one; the rule is simple on purpose.
"""

from __future__ import annotations

import re

__all__ = ["ABBREVIATIONS", "split_sentences"]

ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc cf eg ie mme mlle mm m ex env av apr no".split()
)
"""Words whose trailing period does not end a sentence (compared lowercased, dots removed)."""

# end punctuation (with closing quotes/brackets) + spaces + the next sentence's first char
_BOUNDARY = re.compile(
    r"(?<=[.!?\u2026])([\"'\u00bb\u201d\u2019)\]]*)\s+(?=(?:[\"'\u00ab\u201c(\[\u00bf\u00a1]\s?)*\w)"
)


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences, each stripped; blank text gives ``[]``.

    Args:
        text: one or more sentences (newlines count as spaces).

    Returns:
        The sentences in order; joined with single spaces they give ``text`` with its runs
        of white space made single.
    """
    text = " ".join(text.split())
    if not text:
        return []
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if _abbreviation(text[start : m.start()]):
            continue
        out.append(text[start : m.start() + len(m.group(1))].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _abbreviation(before: str) -> bool:
    """Whether the text ``before`` a boundary ends with an abbreviation's period."""
    if not before.endswith("."):
        return False
    word = before[:-1].rsplit(maxsplit=1)[-1] if before[:-1].strip() else ""
    word = word.lstrip("\"'\u00ab\u201c([").replace(".", "").lower()
    return len(word) == 1 and word.isalpha() or word in ABBREVIATIONS
