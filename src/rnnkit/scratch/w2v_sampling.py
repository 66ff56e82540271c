"""word2vec's sampling, in NumPy: vocabulary counts, negatives, sub-sampling, dynamic windows.

Everything random that word2vec does happens here, once, so both engines (the NumPy one in
:mod:`rnnkit.scratch.word2vec` and the torch one in :mod:`rnnkit.embed.engine`) consume the
*identical* batches for a given seed. The rules follow Mikolov et al. (2013), word2vec.c and
gensim:

- **Vocabulary**: words kept when seen ``min_count`` times or more, at most ``max_vocab`` of
  them, sorted by frequency, ties broken by first appearance (:func:`vocab_order`).
- **Negatives** from the unigram distribution raised to 3/4: ``P(w) = c_w^0.75 / sum_v
  c_v^0.75``, whose cumulative sum :func:`unigram_cdf` gives. One sampling method, word2vec.c's
  cumulative table: :func:`unigram_table` lays the inverse CDF out on a grid of ``T`` points,
  ``table[i] = min{w : cdf[w] > i / T}`` (``T`` = 10^7 by default, so every probability is
  kept to within ``1/T``), and a draw is ``table[rng.integers(T)]`` (:func:`draw_negatives`):
  one random integer and one look-up, where a binary search per draw cost 5x the whole
  rest of the batch generation.
- **Sub-sampling** of frequent words: a word of count ``f`` among ``N`` is kept with
  probability ``p_keep = (sqrt(f / (s N)) + 1) * (s N) / f``, capped at 1 (``s`` is
  ``sample``; word2vec.c and gensim's formula, :func:`keep_probabilities`).
- **Dynamic window**: every centre draws ``b`` uniformly in ``[1, window]`` and pairs with
  the ``b`` kept words on each side within its sentence (:func:`window_pairs`).

:func:`iter_batches` cuts an epoch into chunks of whole sentences of at most
``batch_words`` words and gives one :class:`Batch` per chunk. Each chunk draws from its own
generator, ``np.random.default_rng([seed, epoch, chunk])``, in a fixed order: the keep
draws ``random(n)``, the window sizes ``integers(1, window + 1, m)``, then the negatives
``integers(T, size=P * K)``. So a run resumed at chunk ``c`` of epoch ``e`` sees exactly the
batches an uninterrupted run would, with no generator state to save.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = [
    "MAX_SENTENCE",
    "TABLE_SIZE",
    "Batch",
    "chunk_bounds",
    "draw_negatives",
    "iter_batches",
    "keep_probabilities",
    "make_batch",
    "unigram_cdf",
    "unigram_table",
    "vocab_order",
    "window_pairs",
]

MAX_SENTENCE = 10_000  # longer sentences are cut, as gensim's MAX_WORDS_IN_BATCH does


class Batch(NamedTuple):
    """One chunk's training examples (P of them; K negatives each).

    Attributes:
        inputs: skip-gram ``(P,)`` the word whose ``W_in`` row is used (the context word,
            as in word2vec.c); CBOW ``(P, 2W)`` the context words, padded.
        mask: CBOW ``(P, 2W)`` float, 1 where ``inputs`` is a real context; skip-gram None.
        targets: ``(P,)`` the positive output word (the centre word).
        negatives: ``(P, K)`` negative output words.
        words: the corpus words (before sub-sampling) the chunk covers, for the learning
            rate schedule and words/s.
    """

    inputs: np.ndarray
    mask: np.ndarray | None
    targets: np.ndarray
    negatives: np.ndarray
    words: int


def vocab_order(counts: np.ndarray, min_count: int = 5, max_vocab: int | None = None) -> np.ndarray:
    """Ids of the words kept, most frequent first.

    Args:
        counts: ``(n,)`` counts of ids numbered in order of first appearance, so a stable
            sort breaks ties by first appearance.
        min_count: keep words seen at least this often.
        max_vocab: keep at most this many (None: all).

    Returns:
        ``(V,)`` int64: old id of each new id.
    """
    order = np.argsort(-np.asarray(counts, dtype=np.int64), kind="stable")
    order = order[np.asarray(counts)[order] >= min_count]
    return order if max_vocab is None else order[:max_vocab]


def unigram_cdf(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """``cumsum(c ** power)`` normalised to end at 1.

    Args:
        counts: ``(V,)`` word counts.

    Returns:
        ``(V,)`` float64, increasing, last entry 1; ``P(w) = cdf[w] - cdf[w - 1]``.
    """
    weights = np.asarray(counts, dtype=np.float64) ** power
    cum = np.cumsum(weights)
    return cum / cum[-1]


TABLE_SIZE = 10_000_000


def unigram_table(counts: np.ndarray, size: int = TABLE_SIZE, power: float = 0.75) -> np.ndarray:
    """word2vec's negative-sampling table: ``table[i] = min{w : cdf[w] > i / size}``.

    Word ``w`` fills ``ceil(cdf[w] size) - ceil(cdf[w-1] size)`` slots, so a uniform slot is
    word ``w`` with probability ``P(w)`` to within ``1 / size``.

    Args:
        counts: ``(V,)`` word counts.
        size: ``T``, the number of slots.

    Returns:
        ``(T,)`` int32 word ids, non-decreasing.
    """
    ends = np.ceil(unigram_cdf(counts, power) * size).astype(np.int64)  # #{i : i/T < cdf[w]}
    ends[-1] = size
    slots = np.diff(ends, prepend=0)
    return np.repeat(np.arange(len(slots), dtype=np.int32), slots)


def draw_negatives(
    table: np.ndarray, rng: np.random.Generator, shape: tuple[int, ...]
) -> np.ndarray:
    """``shape`` draws ``table[rng.integers(T)]``, as int64 word ids."""
    return table[rng.integers(0, len(table), size=shape)].astype(np.int64)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's sub-sampling: ``min(1, (sqrt(f / (s N)) + 1) * (s N) / f)`` per word.

    Args:
        counts: ``(V,)`` word counts ``f`` (``N`` is their sum).
        sample: the threshold ``s`` (0: keep every word).

    Returns:
        ``(V,)`` float64 in ``(0, 1]``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    return np.minimum(keep, 1.0)


def window_pairs(
    sentence: np.ndarray, reach: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (centre, context) position pairs of the dynamic window.

    Args:
        sentence: ``(m,)`` a sentence number per position; windows stop at a change.
        reach: ``(m,)`` each centre's ``b`` in ``[1, window]``.
        window: the largest reach ``W``.

    Returns:
        ``(centre (m, 2W), valid (m, 2W))``: the context position at each offset
        ``-W..-1, 1..W`` (clipped into range) and whether it is a real context.
    """
    m = len(sentence)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])  # (2W,)
    pos = np.arange(m)[:, None] + offsets[None, :]  # (m, 2W)
    inside = (pos >= 0) & (pos < m)
    pos = np.clip(pos, 0, max(m - 1, 0))
    valid = inside & (sentence[pos] == sentence[:, None])
    valid &= np.abs(offsets)[None, :] <= reach[:, None]
    return pos, valid


def make_batch(
    ids: np.ndarray,
    sentence: np.ndarray,
    rng: np.random.Generator,
    *,
    keep: np.ndarray,
    table: np.ndarray,
    window: int,
    negative: int,
    cbow: bool,
) -> Batch:
    """One chunk -> its :class:`Batch` (draw order: keep, reach, negatives).

    Args:
        ids: ``(n,)`` word ids of the chunk; ``sentence``: ``(n,)`` their sentence numbers.
        keep: ``(V,)`` keep probabilities; ``table``: ``(T,)`` from :func:`unigram_table`.
    """
    kept = rng.random(len(ids)) < keep[ids]
    words, sent = ids[kept].astype(np.int64), sentence[kept]
    reach = rng.integers(1, window + 1, size=len(words))
    pos, valid = window_pairs(sent, reach, window)  # (m, 2W)
    if cbow:
        rows = valid.any(axis=1)
        inputs, mask, targets = words[pos[rows]], valid[rows].astype(np.float64), words[rows]
    else:
        centre, offset = np.nonzero(valid)  # centre-major order
        inputs, mask, targets = words[pos[centre, offset]], None, words[centre]
    negatives = draw_negatives(table, rng, (len(targets), negative))
    return Batch(inputs, mask, targets, negatives, len(ids))


def chunk_bounds(starts: np.ndarray, batch_words: int) -> np.ndarray:
    """Chunk boundaries: whole sentences, at most ``batch_words`` words a chunk (a longer
    sentence is a chunk of its own; sentences are already cut at :data:`MAX_SENTENCE`).

    Args:
        starts: ``(S + 1,)`` sentence start offsets, the last one the corpus length.

    Returns:
        ``(C + 1,)`` word offsets of the chunks.
    """
    bounds = [0]
    for start, end in zip(starts[:-1], starts[1:], strict=True):
        if end - bounds[-1] > batch_words and start > bounds[-1]:
            bounds.append(int(start))
    if bounds[-1] != starts[-1]:
        bounds.append(int(starts[-1]))
    return np.asarray(bounds, dtype=np.int64)


def iter_batches(
    ids: np.ndarray,
    sentence: np.ndarray,
    bounds: np.ndarray,
    *,
    keep: np.ndarray,
    table: np.ndarray,
    window: int,
    negative: int,
    cbow: bool,
    seed: int,
    epoch: int,
    start: int = 0,
) -> Iterator[tuple[int, Batch]]:
    """``(chunk, batch)`` for the chunks of one epoch from chunk ``start`` on.

    Args:
        ids: ``(N,)`` the corpus' word ids; ``sentence``: ``(N,)`` their sentence numbers.
        bounds: ``(C + 1,)`` from :func:`chunk_bounds`.
    """
    for chunk in range(start, len(bounds) - 1):
        lo, hi = bounds[chunk], bounds[chunk + 1]
        rng = np.random.default_rng([seed, epoch, chunk])
        yield (
            chunk,
            make_batch(
                ids[lo:hi],
                sentence[lo:hi],
                rng,
                keep=keep,
                table=table,
                window=window,
                negative=negative,
                cbow=cbow,
            ),
        )
