"""``rnnkit embed train``: learn word2vec vectors on a text file or a registry corpus.

The function's signature and docstring are the ``--help``. The run directory is a run like
every task's (see :mod:`rnnkit.embed.run`); at the end it holds ``vectors.txt`` and
``vectors.bin`` (word2vec's text and binary formats, readable by gensim).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.embed.run import Word2VecConfig, Word2VecRun

__all__ = ["EmbedReport", "train"]

log = logging.getLogger(__name__)

DEFAULT_ALPHA = {"sg": 0.025, "cbow": 0.05}  # word2vec.c's and gensim's starting rates


@dataclass
class EmbedReport:
    """What ``rnnkit embed train`` reports."""

    run_dir: str
    figures: dict[str, Any]

    def __str__(self) -> str:
        f = self.figures
        lines = [
            f"run directory: {self.run_dir}",
            f"  vocabulary: {f['vocab_size']} words ({f['corpus_words']} corpus words in it)",
            f"  epochs done: {f['epochs_done']} (stopped by {f['stopped']})",
            f"  words/s: {f['words_per_s']:.0f} (corpus words, before sub-sampling; "
            f"{'C kernel' if f['c_kernel'] else 'no C kernel'})",
            f"  time: {f['elapsed']:.1f} s, final loss per example: {f['loss']:.4f}",
            f"  vectors: {Path(self.run_dir) / 'vectors.txt'} and vectors.bin",
        ]
        return "\n".join(lines)


def train(
    corpus: str = "ptb",
    run_dir: str | None = None,
    model: str = "sg",
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    sample: float = 1e-3,
    min_count: int = 5,
    max_vocab: int | None = None,
    epochs: int = 5,
    alpha: float | None = None,
    min_alpha: float = 1e-4,
    batch_words: int = 1000,
    threads: int | None = None,
    seed: int = 0,
    engine: str = "torch",
    resume: bool = False,
    max_time: float | None = None,
    encoding: str = "utf-8",
    tokenizer: str = "word",
    lowercase: bool = False,
    progress: bool | None = None,
) -> EmbedReport:
    """Train word2vec (skip-gram or CBOW, negative sampling); write vectors.txt and vectors.bin.

    Args:
        corpus: a text file (whitespace-separated words, one sentence a line) or a dataset
            name (rnnkit data list), e.g. ptb or ptb/ptb.valid.txt.
        run_dir: where checkpoints and vectors go (default runs/embed-<corpus name>).
        model: sg (skip-gram) or cbow.
        dim: vector size E.
        window: the largest window; each word draws its window in [1, window].
        negative: negative samples per example, drawn from unigram counts ** 0.75.
        sample: sub-sampling threshold for frequent words (0: off).
        min_count: ignore words seen fewer times.
        max_vocab: keep at most this many words, most frequent first (default: all).
        epochs: passes over the corpus.
        alpha: starting learning rate (default 0.025 for sg, 0.05 for cbow), decayed
            linearly to min_alpha over the words of all epochs.
        min_alpha: final learning rate.
        batch_words: corpus words per SGD batch (whole sentences).
        threads: CPU threads (default: torch's intra-op count).
        seed: the seed of the initial vectors and of every sampling draw.
        engine: torch (fast: a C kernel, torch ops where it cannot be built) or numpy (the
            readable reference in rnnkit.scratch.word2vec; slow).
        resume: continue the run in run_dir from its last checkpoint.
        max_time: stop after this many seconds (a checkpoint is kept; resume continues).
        encoding: the corpus file's encoding, e.g. latin-1.
        tokenizer: word (whitespace-separated words as given, as word2vec.c and gensim read
            them) or word-punct (punctuation split off words: for raw prose).
        lowercase: fold the corpus to lower case first.
        progress: show a progress bar with words/s (default: when stderr is a terminal).
    """
    if run_dir is None:
        name = Path(corpus).stem if Path(corpus).is_file() else corpus.replace("/", "-")
        run_dir = f"runs/embed-{name}"
    if engine not in ("torch", "numpy"):
        raise ValueError(f"`engine` must be 'torch' or 'numpy', got {engine!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"`threads` must be >= 1, got {threads}")
    if model not in DEFAULT_ALPHA:
        raise ValueError(f"`model` must be 'sg' or 'cbow', got {model!r}")
    cfg = Word2VecConfig(
        model=model, dim=dim, window=window, negative=negative, sample=sample, epochs=epochs,
        alpha=DEFAULT_ALPHA[model] if alpha is None else alpha, min_alpha=min_alpha,
        batch_words=batch_words, seed=seed,
    )  # fmt: skip
    run = Word2VecRun.create(
        cfg, corpus, min_count=min_count, max_vocab=max_vocab, encoding=encoding,
        tokenizer=tokenizer, lowercase=lowercase,
    )  # fmt: skip
    figures = run.fit(
        run_dir, resume=resume, engine=engine, threads=threads, max_time=max_time,
        progress=progress,
    )  # fmt: skip
    log.debug("word2vec: %s", figures)
    return EmbedReport(str(run_dir), figures)
