"""Text -> word ids for word2vec: whitespace tokens, one sentence a line, a frequency vocabulary.

Tokens are whitespace-separated words as given (word2vec.c's and gensim's ``LineSentence``
reading), unless ``tokenizer="word-punct"`` splits punctuation off words and ``lowercase``
folds case (:class:`rnnkit.data.tokenizers.WordTokenizer`). Raw prose read as given keeps
``time.`` and ``perhaps,`` as words of their own: when a corpus looks like that, the
reader says so and names the option.

``--corpus`` is a text file or a registry name (``ptb``, ``ptb/ptb.valid.txt``; a dataset of
several files gives its ``*train*`` file). Words seen fewer than ``min_count`` times are
dropped from the sentences before training, as word2vec.c and gensim drop them (windows
reach across them); sentences longer than :data:`~rnnkit.scratch.w2v_sampling.MAX_SENTENCE`
words are cut.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.registry import resolve_text_source
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import WordTokenizer, untokenised_note
from rnnkit.scratch.w2v_sampling import MAX_SENTENCE, vocab_order

__all__ = ["TOKENIZERS", "W2VCorpus", "corpus_file", "load_corpus"]

logger = logging.getLogger(__name__)

TOKENIZERS = ("word", "word-punct")
"""``word``: whitespace-separated words as given; ``word-punct``: punctuation split off."""


@dataclass
class W2VCorpus:
    """A corpus as word ids.

    Attributes:
        path: the file read.
        words: ``(V,)`` the vocabulary, most frequent first.
        counts: ``(V,)`` int64 their counts.
        ids: ``(N,)`` int32 the corpus' in-vocabulary words, in order.
        sentence: ``(N,)`` int32 the sentence number of each.
        starts: ``(S + 1,)`` int64 sentence offsets into ``ids`` (last: ``N``).
        raw_words: tokens in the file, out-of-vocabulary ones included.
    """

    path: Path
    words: list[str]
    counts: np.ndarray
    ids: np.ndarray
    sentence: np.ndarray
    starts: np.ndarray
    raw_words: int


def corpus_file(corpus: str | os.PathLike[str]) -> Path:
    """``--corpus`` as a file: an existing file, a dataset name or ``name/file``; a folder
    (a dataset of several files) gives its one ``*train*`` file."""
    path = resolve_text_source(corpus)
    if path.is_dir():
        hits = sorted(path.glob("*train*"))
        if len(hits) != 1:
            raise ValueError(
                f"`corpus` {corpus!r} is the folder {path}; expected one *train* file in it, "
                f"found {len(hits)}; name a file, e.g. {corpus}/<file>"
            )
        path = hits[0]
    return path


def _tokenize(text: str, words: WordTokenizer) -> tuple[np.ndarray, list[int], dict[str, int]]:
    """Provisional ids (order of first appearance), sentence lengths, the id of each word."""
    index: dict[str, int] = {}
    ids: list[int] = []
    lengths: list[int] = []
    for line in text.split("\n"):
        tokens = words.words(line)
        for lo in range(0, len(tokens), MAX_SENTENCE):
            part = tokens[lo : lo + MAX_SENTENCE]
            ids.extend(index.setdefault(t, len(index)) for t in part)
            lengths.append(len(part))
    return np.asarray(ids, dtype=np.int64), lengths, index


def _note_untokenised(path: Path, index: dict[str, int], counts: np.ndarray) -> None:
    """Warn when many corpus words carry punctuation (``time.``): raw, untokenised text."""
    remedy = "--tokenizer word-punct splits punctuation off (and --lowercase true folds case)"
    if note := untokenised_note({w: int(counts[i]) for w, i in index.items()}, remedy):
        logger.warning("corpus %s: %s", path, note)


def load_corpus(
    corpus: str | os.PathLike[str],
    *,
    min_count: int = 5,
    max_vocab: int | None = None,
    encoding: str = "utf-8",
    tokenizer: str = "word",
    lowercase: bool = False,
) -> W2VCorpus:
    """Read and number a corpus (see the module docstring).

    Raises:
        ValueError: an empty corpus, a single distinct word, no word seen ``min_count``
            times, or bytes that do not decode (the message names the file and line).
    """
    if min_count < 1:
        raise ValueError(f"`min_count` must be >= 1, got {min_count}")
    if max_vocab is not None and max_vocab < 2:
        raise ValueError(f"`max_vocab` must be >= 2 (or None), got {max_vocab}")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"`tokenizer` must be one of {TOKENIZERS}, got {tokenizer!r}")
    path = corpus_file(corpus)
    words = WordTokenizer(None, split_punctuation=tokenizer == "word-punct", lowercase=lowercase)
    raw, lengths, index = _tokenize(read_text(path, encoding=encoding), words)
    if len(raw) == 0:
        raise ValueError(f"corpus {path} has no words; expected whitespace-separated text")
    if len(index) < 2:
        raise ValueError(
            f"corpus {path} has one distinct word ({next(iter(index))!r}); word2vec needs "
            "at least 2"
        )
    counts = np.bincount(raw, minlength=len(index))
    if tokenizer == "word":
        _note_untokenised(path, index, counts)
    order = vocab_order(counts, min_count, max_vocab)  # provisional id of each new id
    if len(order) < 2:
        raise ValueError(
            f"corpus {path}: {len(order)} word(s) occur at least `min_count`={min_count} times "
            f"(the most frequent occurs {int(counts.max())} times); expected at least 2 - "
            "lower `--min-count` or give a larger corpus"
        )
    new_id = np.full(len(index), -1, dtype=np.int64)
    new_id[order] = np.arange(len(order))
    mapped = new_id[raw]
    sent = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    inside = mapped >= 0
    ids, sentence = mapped[inside].astype(np.int32), sent[inside]
    per_sentence = np.bincount(sentence, minlength=len(lengths))
    starts = np.concatenate([[0], np.cumsum(per_sentence)]).astype(np.int64)
    words = list(index)
    return W2VCorpus(
        path=path,
        words=[words[i] for i in order],
        counts=counts[order].astype(np.int64),
        ids=ids,
        sentence=sentence,
        starts=starts,
        raw_words=int(len(raw)),
    )
