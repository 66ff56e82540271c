"""A language-model corpus: text files -> train/valid/test token ids and a vocabulary.

:func:`load_corpus` reads ``LMDataConfig.data`` (a dataset name, ``name/file``, a text file
or a folder with ``*train*.txt``, ``*valid*.txt`` and ``*test*.txt``), splits a single file
by position (validation and test from its end, so no text leaks between splits), tokenizes
(characters, or PTB-style words with an ``<eos>`` per line) and builds the vocabulary on the
training part only::

    >>> corpus = load_corpus(LMDataConfig(data="timemachine"))   # doctest: +SKIP
    >>> corpus.splits["train"].shape, len(corpus.vocab), corpus.prompt
    (torch.Size([...]), 28, 'the time machine ')                  # doctest: +SKIP

``corpus.prompt`` is a short text from the start of the validation split whose tokens are
all in the vocabulary: a prompt that fits any corpus (generation's default).
"""

from __future__ import annotations

import codecs
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.config import check_types
from rnnkit.data.registry import resolve_text_source
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import Tokenizer, get_tokenizer, untokenised_note
from rnnkit.data.vocab import Vocab

__all__ = [
    "LEVELS",
    "Corpus",
    "LMDataConfig",
    "corpus_files",
    "join_generated",
    "lm_tokenizer",
    "load_corpus",
    "opening_words",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


LEVELS = ("char", "word", "word-punct")
"""The token levels of a language model (:func:`lm_tokenizer`)."""


def lm_tokenizer(level: str) -> Tokenizer:
    """The tokenizer of a ``level``: characters; whitespace words with ``<eos>`` per line
    (PTB); or those with punctuation split off (``word-punct``, ``<eos>`` kept)."""
    if level == "word-punct":
        return get_tokenizer("word", split_punctuation=True)
    return get_tokenizer(level)


def join_generated(level: str, prompt: str, text: str, stop: Sequence[str] = ()) -> tuple[str, str]:
    """``(prompt + text, text)`` with the generated ``text`` cut before the first ``stop``
    string it holds. A word model's text is joined to the prompt by one space: not after a
    prompt ending in whitespace, nor before a new line or (``word-punct``) before
    punctuation that attaches to the previous word."""
    for s in stop:
        if s in text:
            text = text[: text.index(s)]
    space = level != "char" and bool(text) and not prompt[-1:].isspace()
    space = space and not text[:1].isspace()
    space = space and not (level == "word-punct" and text[0] in ".,!?;:%)]}")
    return prompt + (" " if space else "") + text, text


@dataclass(frozen=True)
class LMDataConfig:
    """Where the text comes from and how it is cut into windows."""

    data: str = "python-docs"
    """A registered dataset (``rnnkit data list``), ``name/file``, or a path to a text file.
    A folder or dataset with ``*.train.txt``, ``*.valid.txt``, ``*.test.txt`` uses those."""
    level: str = "char"
    """Tokens: ``char``, ``word`` (whitespace, an ``<eos>`` per line, as PTB) or
    ``word-punct`` (the same with punctuation split off words: for raw prose)."""
    bptt: int = 100
    """Window length T for truncated backprop through time."""
    batch_size: int = 32
    """Parallel streams B in training."""
    eval_batch_size: int = 10
    """Parallel streams in validation and test."""
    variable_bptt: bool = False
    """AWD-LSTM's random window lengths around ``bptt``."""
    val_fraction: float = 0.05
    """For a single file: the share of text (from its end) kept for validation."""
    test_fraction: float = 0.05
    """For a single file: the share of text (from its end) kept for test."""
    min_freq: int = 1
    """Tokens seen fewer times in training become ``<unk>``."""
    max_vocab: int | None = None
    """At most this many tokens in the vocabulary (specials included)."""
    encoding: str = "utf-8"
    """The text files' encoding (``utf-8``; e.g. ``latin-1``, ``cp1252``, ``utf-16``)."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.level not in LEVELS:
            raise ValueError(f"`level` must be one of {LEVELS}, got {self.level!r}")
        for name in ("bptt", "batch_size", "eval_batch_size", "min_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"`{name}` must be in (0, 0.5), got {getattr(self, name)}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"`encoding` must be a known text encoding (utf-8, latin-1 ...), "
                f"got {self.encoding!r}"
            ) from None


class Corpus(NamedTuple):
    """A tokenized corpus.

    Attributes:
        vocab: the vocabulary (built on the training split).
        splits: ``{"train", "valid", "test"}`` -> token ids ``(N,)``.
        prompt: a short opening from the validation text, every token in ``vocab``.
    """

    vocab: Vocab
    splits: dict[str, Tensor]
    prompt: str = ""


def _split_files(path: Path) -> dict[str, Path] | None:
    """A folder's ``*train*.txt``, ``*valid*.txt``, ``*test*.txt``; None for a file."""
    if not path.is_dir():
        return None
    found = {}
    for split in SPLITS:
        hits = sorted(path.glob(f"*{split}*.txt"))
        if len(hits) != 1:
            raise ValueError(
                f"`data` folder {path} must hold one *{split}*.txt file, found {len(hits)}"
            )
        found[split] = hits[0]
    return found


def _specials(level: str) -> tuple[str, ...]:
    return ("<unk>",) if level == "char" else ("<unk>", "<eos>")


def corpus_files(cfg: LMDataConfig) -> dict[str, Path]:
    """The files ``cfg.data`` is read from, by split: ``{"train": file}`` for one file cut
    into splits (it holds them all), else a folder's ``train``, ``valid`` and ``test`` files
    (for the checksums a run stores, :mod:`rnnkit.data.digest`)."""
    path = resolve_text_source(cfg.data)
    return _split_files(path) or {"train": path}


def _read_splits(cfg: LMDataConfig) -> dict[str, str]:
    """The train/valid/test texts of ``cfg.data`` (files, or one file cut by position)."""
    path = resolve_text_source(cfg.data)
    files = _split_files(path)
    if files is not None:
        return {split: read_text(p, encoding=cfg.encoding) for split, p in files.items()}
    text = read_text(path, encoding=cfg.encoding)
    n = len(text)
    n_test, n_val = int(n * cfg.test_fraction), int(n * cfg.val_fraction)
    cut_val, cut_test = n - n_val - n_test, n - n_test
    return {"train": text[:cut_val], "valid": text[cut_val:cut_test], "test": text[cut_test:]}


def opening_words(
    text: str, vocab: Vocab, tokenizer: Tokenizer, words: int = 3, max_lines: int = 2000
) -> str:
    """The first ``words`` words of the first full line of ``text`` whose tokens are all in
    ``vocab``, preferring a line that starts with a letter and has ``words`` words (the
    first line may start mid-way, so it is tried last); ``""`` if none.

    A character-level opening keeps a trailing space when its line goes on, so a sample
    continues with the next word; a word-level one has no ``<eos>``.
    """
    lines = text.split("\n", max_lines)[:max_lines]
    lines = lines[1:] + lines[:1]
    eos = getattr(tokenizer, "eos_token", None)
    for prose in (True, False):  # prefer a line of words (not code, not a number)
        for line in lines:
            parts = line.split()
            if not parts or (prose and (len(parts) < words or not parts[0][0].isalpha())):
                continue
            head = " ".join(parts[:words])
            if len(parts) > words and eos is None:
                head += " "
            tokens = [t for t in tokenizer.tokenize(head) if t != eos]
            if tokens and not vocab.unknown(tokens) and vocab.unk_token not in tokens:
                return head
    return ""


def load_corpus(cfg: LMDataConfig, vocab: Vocab | None = None) -> Corpus:
    """Read, split and tokenize ``cfg.data``; build the vocabulary on train unless given.

    Raises:
        FileNotFoundError: ``cfg.data`` is neither a file, a folder nor a dataset.
        ValueError: an empty, binary or undecodable file (named), or a split too short
            for ``eval_batch_size`` streams.
    """
    tokenizer = lm_tokenizer(cfg.level)
    texts = _read_splits(cfg)
    tokens = {split: tokenizer.tokenize(t) for split, t in texts.items()}
    if cfg.level == "word":
        remedy = "--level word-punct splits punctuation off"
        if note := untokenised_note(Counter(tokens["train"]), remedy):
            log.warning("`data` %r: %s", cfg.data, note)
    if vocab is None:
        vocab = Vocab.build(
            tokens["train"],
            min_freq=cfg.min_freq,
            max_size=cfg.max_vocab,
            specials=_specials(cfg.level),
            unk_token="<unk>",
        )
    splits = {}
    for split, toks in tokens.items():
        if len(toks) < 2 * cfg.eval_batch_size + 2:
            raise ValueError(
                f"`data` {cfg.data!r}: the {split} split has {len(toks)} tokens, too few "
                f"(need > {2 * cfg.eval_batch_size + 2}); give more text or other fractions"
            )
        splits[split] = torch.tensor(vocab.encode(toks), dtype=torch.long)
    unk = vocab.unk_id
    for split in ("valid", "test"):
        n_unk = int((splits[split] == unk).sum()) if unk is not None else 0
        if n_unk:
            log.info("%s: %d tokens not in the training vocabulary map to <unk>", split, n_unk)
    prompt = opening_words(texts["valid"], vocab, tokenizer) or opening_words(
        texts["train"], vocab, tokenizer
    )
    return Corpus(vocab, splits, prompt)
