"""``rnnkit embed neighbors|analogy|eval|plot``: queries on a word-vectors file (plain functions).

Their signatures and docstrings are the ``--help``. ``--vectors`` takes a vectors file
(word2vec text or binary, GloVe) or the run directory of ``rnnkit embed train``. A word
is looked up as written, else case-insensitively (the most frequent variant); words not
found are one clear error naming them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from rnnkit.data.registry import resolve_text_source
from rnnkit.data.word_vectors import WordVectors, load_vectors
from rnnkit.embed.evaluate import (
    RESTRICT_VOCAB,
    AnalogyResult,
    SimilarityResult,
    analogy_accuracy,
    similarity_correlation,
)

__all__ = [
    "ANALOGIES",
    "RUN_FILES",
    "SIMILARITY",
    "analogy",
    "evaluate",
    "find_words",
    "format_evaluation",
    "neighbors",
    "open_vectors",
    "plot",
    "vectors_file",
]

log = logging.getLogger(__name__)

RUN_FILES = ("vectors.bin", "vectors.txt")  # looked for, in order, in a run directory
ANALOGIES = "word-similarity/questions-words.txt"  # registry name/file
SIMILARITY = ("word-similarity/wordsim353.tsv", "word-similarity/simlex999.txt")


def vectors_file(vectors: str | Path) -> Path:
    """The vectors file ``vectors`` names: itself, or a run directory's ``vectors.bin`` /
    ``vectors.txt``."""
    path = Path(vectors).expanduser()
    if path.is_dir():
        for name in RUN_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(
            f"`vectors`: directory {path} holds none of {', '.join(RUN_FILES)}; pass a vectors "
            "file or the run directory of `rnnkit embed train`"
        )
    if not path.is_file():
        raise FileNotFoundError(f"`vectors`: {path} is neither a vectors file nor a run directory")
    return path


def open_vectors(vectors: str | Path, encoding: str = "utf-8") -> WordVectors:
    """:func:`~rnnkit.data.word_vectors.load_vectors` of :func:`vectors_file` ``(vectors)``."""
    return load_vectors(vectors_file(vectors), encoding=encoding)


def find_words(wv: WordVectors, words: list[str]) -> list[str]:
    """``words`` as spelled in the vocabulary (exact, else the first case-insensitive match).

    Raises:
        KeyError: one message naming every word not found.
    """
    lowered: dict[str, str] = {}
    for word in wv.words:
        lowered.setdefault(word.lower(), word)
    found = [w if w in wv else lowered.get(w.lower()) for w in words]
    missing = [w for w, f in zip(words, found, strict=True) if f is None]
    if missing:
        raise KeyError(f"not in the vocabulary ({len(wv)} words): {', '.join(map(repr, missing))}")
    return [f for f in found if f is not None]


def neighbors(vectors: str, words: list[str] | str, k: int = 10, encoding: str = "utf-8") -> str:
    """The nearest words by cosine similarity to each word.

    Args:
        vectors: a vectors file (word2vec text/binary, GloVe) or an `rnnkit embed train` run.
        words: a word, or a list of words: king, or '[king, paris]'.
        k: how many neighbours per word.
        encoding: the vectors file's encoding.
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    wv = open_vectors(vectors, encoding)
    lines = []
    for word in find_words(wv, [words] if isinstance(words, str) else words):
        lines.append(f"{word}:")
        lines += [f"  {w:<20} {cos:.4f}" for w, cos in wv.most_similar([word], k=k)]
    return "\n".join(lines)


def analogy(vectors: str, question: str, k: int = 5, encoding: str = "utf-8") -> str:
    """Answer a : b :: c : ? (man : king :: woman : ?) by 3CosAdd.

    The answers are the words nearest by cosine to b - a + c (unit vectors), the three
    question words left out.

    Args:
        vectors: a vectors file (word2vec text/binary, GloVe) or an `rnnkit embed train` run.
        question: the three words a, b, c: "man : king :: woman" or "man king woman".
        k: how many answers to list.
        encoding: the vectors file's encoding.
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1, got {k}")
    words = question.replace(":", " ").split()
    if len(words) != 3:
        raise ValueError(
            f"`question` must name three words, a : b :: c (e.g. 'man : king :: woman'), "
            f"got {len(words)} in {question!r}"
        )
    wv = open_vectors(vectors, encoding)
    a, b, c = find_words(wv, words)
    answers = wv.most_similar([b, c], [a], k=k)
    lines = [f"{a} : {b} :: {c} : ?"]
    lines += [f"  {w:<20} {cos:.4f}" for w, cos in answers]
    return "\n".join(lines)


def evaluate(
    vectors: str,
    analogies: str | None = ANALOGIES,
    similarity: list[str] | None = None,
    restrict_vocab: int = RESTRICT_VOCAB,
    encoding: str = "utf-8",
) -> str:
    """Analogy accuracy per section and Spearman's rho per word-similarity set.

    Questions and pairs with a word outside the vocabulary are counted (column oov).

    Args:
        vectors: a vectors file (word2vec text/binary, GloVe) or an `rnnkit embed train` run.
        analogies: analogy questions (a file, or a registry 'name/file'); null to skip.
        similarity: word-pair files (or registry 'name/file's); default WordSim-353 and
            SimLex-999 from the registry's word-similarity set; '[]' to skip.
        restrict_vocab: look words up among (and answer from) this many most frequent words.
        encoding: the vectors file's encoding.
    """
    wv = open_vectors(vectors, encoding)
    pairs = list(SIMILARITY) if similarity is None else similarity
    result = None
    if analogies:
        result = analogy_accuracy(wv, resolve_text_source(analogies), restrict_vocab)
    sims = [similarity_correlation(wv, resolve_text_source(p), restrict_vocab) for p in pairs]
    header = f"{vectors_file(vectors)}: {len(wv)} words, dim {wv.dim}"
    return header + "\n" + format_evaluation(result, sims)


def _pct(x: float) -> str:
    return "   n/a" if math.isnan(x) else f"{100 * x:5.1f}%"


def format_evaluation(analogies: AnalogyResult | None, similarity: list[SimilarityResult]) -> str:
    """The table ``rnnkit embed eval`` prints."""
    lines = []
    if analogies is not None:
        lines.append(f"analogies ({Path(analogies.path).name}, 3CosAdd):")
        lines.append(f"  {'section':<28} {'accuracy':>8} {'correct':>8} {'asked':>6} {'oov':>6}")
        for s in [*analogies.sections, analogies.total]:
            lines.append(
                f"  {s.name:<28} {_pct(s.accuracy):>8} {s.correct:>8} {s.total:>6} {s.oov:>6}"
            )
    if similarity:
        lines.append("word similarity (cosine vs human scores):")
        lines.append(f"  {'set':<28} {'spearman':>8} {'pearson':>8} {'pairs':>6} {'oov':>6}")
        for r in similarity:
            rho = "n/a" if math.isnan(r.spearman) else f"{r.spearman:.4f}"
            pr = "n/a" if math.isnan(r.pearson) else f"{r.pearson:.4f}"
            lines.append(f"  {r.name:<28} {rho:>8} {pr:>8} {r.pairs:>6} {r.oov:>6}")
    return "\n".join(lines)


def plot(
    vectors: str,
    words: list[str] | str | None = None,
    out: str = "projection.png",
    method: str = "pca",
    top: int = 50,
    seed: int = 0,
    encoding: str = "utf-8",
) -> str:
    """Draw chosen words in two dimensions (PCA; t-SNE where scikit-learn is installed).

    Args:
        vectors: a vectors file (word2vec text/binary, GloVe) or an `rnnkit embed train` run.
        words: the words to draw, e.g. '[king, queen, man, woman]'; default the `top` most
            frequent.
        out: the PNG to write.
        method: pca or tsne.
        top: how many words to draw when `words` is not given.
        seed: t-SNE's random state.
        encoding: the vectors file's encoding.
    """
    from rnnkit.viz.projection import METHODS, plot_projection

    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    wv = open_vectors(vectors, encoding)
    if isinstance(words, str):
        words = [words]
    chosen = find_words(wv, words) if words else wv.words[:top]
    if len(chosen) < 2:
        raise ValueError(f"`words`: need at least 2 words to project, got {len(chosen)}")
    rows = wv.vectors[[wv.index(w) for w in chosen]]  # (N, E)
    path = plot_projection(rows, chosen, out, method=method, seed=seed)
    return f"wrote {path} ({len(chosen)} words, {method})"
