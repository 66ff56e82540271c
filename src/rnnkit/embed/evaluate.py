"""Evaluating word vectors: analogy accuracy and correlation with human similarity judgements.

- :func:`analogy_accuracy`: the Google analogy questions (Mikolov et al. 2013), a : b :: c : d
  answered by 3CosAdd over unit vectors, the three question words excluded from the answers;
  accuracy per section and in total, with the questions skipped because a word is out of
  the vocabulary counted per section.
- :func:`similarity_correlation`: Spearman's rho (and Pearson's r) between the cosine of
  each word pair and the human score (WordSim-353, SimLex-999), with the pairs used and
  the out-of-vocabulary pairs counted.

Both follow gensim's ``evaluate_word_analogies`` / ``evaluate_word_pairs``: words are
looked up case-insensitively (the first, most frequent, case variant in the file wins),
among the ``restrict_vocab`` first words only. One deliberate difference: a malformed line
is an error naming the file and line here, where gensim skips it with a log message.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.text import is_number
from rnnkit.data.word_vectors import WordVectors

__all__ = [
    "AnalogyResult",
    "AnalogySection",
    "SimilarityResult",
    "analogy_accuracy",
    "read_analogies",
    "read_word_pairs",
    "similarity_correlation",
    "spearman",
]

RESTRICT_VOCAB = 300_000  # gensim's default
_MAX_SCORES = 1 << 24  # at most (questions x words) scores at once: 64 MiB of float32


@dataclass(frozen=True)
class AnalogySection:
    """One section of an analogy test: ``correct`` of ``total`` questions answered
    (``oov`` more were skipped because a word is out of the vocabulary)."""

    name: str
    correct: int
    total: int
    oov: int

    @property
    def accuracy(self) -> float:
        """``correct / total``; NaN when every question was skipped."""
        return self.correct / self.total if self.total else math.nan


@dataclass(frozen=True)
class AnalogyResult:
    """Analogy accuracy per section; ``total`` sums them."""

    path: str
    sections: list[AnalogySection]
    restrict_vocab: int

    @property
    def total(self) -> AnalogySection:
        """All sections together."""
        return AnalogySection(
            "total",
            sum(s.correct for s in self.sections),
            sum(s.total for s in self.sections),
            sum(s.oov for s in self.sections),
        )

    @property
    def accuracy(self) -> float:
        """Total accuracy over the questions answered."""
        return self.total.accuracy

    def rows(self) -> list[dict[str, Any]]:
        """One dict per section, then the total: section, correct, total, oov, accuracy."""
        return [
            {"section": s.name, "correct": s.correct, "total": s.total, "oov": s.oov}
            | {"accuracy": s.accuracy}
            for s in [*self.sections, self.total]
        ]

    def to_frame(self) -> Any:
        """:meth:`rows` as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows())


@dataclass(frozen=True)
class SimilarityResult:
    """Correlation of the cosines with the human scores of one word-pair set."""

    path: str
    spearman: float
    pearson: float
    pairs: int
    oov: int
    oov_words: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The file's name without its suffix (``wordsim353``)."""
        return Path(self.path).stem


def read_analogies(path: str | os.PathLike[str]) -> list[tuple[str, list[tuple[str, ...]]]]:
    """``[(section, [(a, b, c, d), ...]), ...]`` from ``: section`` headers and 4-word lines.

    Raises:
        ValueError: a question before any section, or a line that is not 4 words (file:line).
    """
    sections: list[tuple[str, list[tuple[str, ...]]]] = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
                continue
            words = tuple(line.split())
            if not words:
                continue
            if not sections:
                raise ValueError(f"{path}: line {line_no}: a question before any ': section' line")
            if len(words) != 4:
                raise ValueError(
                    f"{path}: line {line_no}: expected 4 words 'a b c d', got {len(words)}"
                )
            sections[-1][1].append(words)
    if not sections:
        raise ValueError(f"{path}: no ': section' line; not an analogy file?")
    return sections


def _lookup(wv: WordVectors, restrict_vocab: int) -> dict[str, int]:
    """Lower-cased word -> row among the first ``restrict_vocab`` rows; the first wins."""
    out: dict[str, int] = {}
    for i, word in enumerate(wv.words[:restrict_vocab]):
        out.setdefault(word.lower(), i)
    return out


def analogy_accuracy(
    wv: WordVectors,
    path: str | os.PathLike[str],
    restrict_vocab: int = RESTRICT_VOCAB,
    batch_size: int = 512,
) -> AnalogyResult:
    """Accuracy on analogy questions ``a b c d`` (a : b :: c : d), per section.

    The answer is the word whose unit vector is nearest by cosine to the normalised mean of
    ``unit(b) + unit(c) - unit(a)`` (3CosAdd), among the first ``restrict_vocab`` words,
    every case variant of a, b and c excluded. A question with a word outside those words
    is skipped and counted in its section's ``oov``.

    Args:
        wv: the vectors, most frequent word first.
        path: a file in the format of ``questions-words.txt``.
        restrict_vocab: look words up and answer among this many first words.
        batch_size: questions scored at once (a (batch, V) score matrix), fewer where V
            is large so that matrix stays under 64 MiB.
    """
    lookup = _lookup(wv, restrict_vocab)
    unit = wv.unit_vectors()[:restrict_vocab]  # (V', E)
    variants: dict[int, list[int]] = {}  # first row of a lower-cased word -> all its rows
    for i, word in enumerate(wv.words[:restrict_vocab]):
        variants.setdefault(lookup[word.lower()], []).append(i)
    step = max(1, min(batch_size, _MAX_SCORES // max(1, len(unit))))
    sections = []
    for name, questions in read_analogies(path):
        ids = [[lookup.get(w.lower(), -1) for w in q] for q in questions]
        known = np.array([i for i in ids if min(i) >= 0], dtype=np.int64).reshape(-1, 4)
        correct = 0
        for start in range(0, len(known), step):
            batch = known[start : start + step]  # (b, 4): a, b, c, d
            query = (unit[batch[:, 1]] + unit[batch[:, 2]] - unit[batch[:, 0]]) / 3  # (b, E)
            query /= np.linalg.norm(query, axis=1, keepdims=True).clip(1e-12)
            scores = query @ unit.T  # (b, V')
            for row, (a, b, c, d) in zip(scores, batch, strict=True):
                row[variants[a] + variants[b] + variants[c]] = -np.inf
                correct += int(int(np.argmax(row)) in variants[d])
        sections.append(AnalogySection(name, correct, len(known), len(questions) - len(known)))
    return AnalogyResult(str(path), sections, restrict_vocab)


def read_word_pairs(path: str | os.PathLike[str]) -> list[tuple[str, str, float, int]]:
    """``[(word1, word2, score, line number), ...]`` from a word-pair file.

    Lines starting with ``#`` are comments. Fields are tab-separated (whitespace where a
    line has no tab). The score is the third field, or, where the first line is a header
    (SimLex-999's ``word1 word2 POS SimLex999 ...``), the column named ``SimLex999``,
    ``similarity``, ``score`` or ``Human (mean)``.
    """
    names = {"simlex999", "similarity", "score", "human (mean)", "sim"}
    column, pairs = 2, []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = [x.strip() for x in line.split("\t")] if "\t" in line else line.split()
            if not pairs and column == 2 and len(fields) > 2 and not is_number(fields[2]):
                hits = [i for i, x in enumerate(fields) if x.lower() in names]
                if not hits:
                    raise ValueError(
                        f"{path}: line {line_no}: a header without a score column "
                        f"({', '.join(sorted(names))}): {line.strip()!r}"
                    )
                column = hits[0]
                continue
            if len(fields) <= column or not is_number(fields[column]):
                raise ValueError(
                    f"{path}: line {line_no}: expected 'word1<TAB>word2<TAB>score', got "
                    f"{line.strip()!r}"
                )
            pairs.append((fields[0], fields[1], float(fields[column]), line_no))
    if not pairs:
        raise ValueError(f"{path}: no word pairs")
    return pairs


def similarity_correlation(
    wv: WordVectors, path: str | os.PathLike[str], restrict_vocab: int = RESTRICT_VOCAB
) -> SimilarityResult:
    """Spearman's rho and Pearson's r between cosine similarity and the human scores.

    A pair with a word outside the first ``restrict_vocab`` words (looked up lower-cased)
    is left out and counted in ``oov`` (its words listed in ``oov_words``). With fewer than
    two pairs left, both correlations are NaN.
    """
    lookup = _lookup(wv, restrict_vocab)
    unit = wv.unit_vectors()
    gold, model, oov_words, oov = [], [], [], 0
    for a, b, score, _ in read_word_pairs(path):
        i, j = lookup.get(a.lower()), lookup.get(b.lower())
        if i is None or j is None:
            oov += 1
            oov_words += [w for w, k in ((a, i), (b, j)) if k is None and w not in oov_words]
            continue
        gold.append(score)
        model.append(float(np.dot(unit[i], unit[j])))
    rho = spearman(gold, model)
    r = _pearson(np.asarray(gold, dtype=np.float64), np.asarray(model, dtype=np.float64))
    return SimilarityResult(str(path), rho, r, len(gold), oov, oov_words)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their mean rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the last rank of each distinct value
    return (ends - (counts - 1) / 2.0)[inverse]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denom if denom > 0 else math.nan


def spearman(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> float:
    """Spearman's rank correlation of two equal-length sequences (ties: mean ranks)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"`x` and `y` must be 1-D of one length, got {x.shape} and {y.shape}")
    return _pearson(_ranks(x), _ranks(y)) if len(x) >= 2 else math.nan
