"""A word2vec training run: one of the run life cycle's runs (task ``"embed"``).

:class:`Word2VecRun` is a :class:`rnnkit.tasks.run.TaskRun`, so the directory is checked,
locked and described as every task's is (``config.json`` with ``"task": "embed"``, its
``word2vec`` and ``data`` sections, ``vocab.json``, ``run.lock``, a used directory refused
unless resumed, a resume with other settings or a changed corpus refused). Training is its
own small loop, not :class:`rnnkit.train.Trainer`: word2vec takes ~10^4 tiny SGD steps per
epoch with no optimizer, autograd, validation or metrics rows, and the Trainer's per-step
bookkeeping would cost more than a step. The loop uses the Trainer's pieces: the lock,
:class:`~rnnkit.train.interrupt.StopSignals` (SIGTERM/Ctrl-C write ``last/`` and raise
:class:`~rnnkit.train.interrupt.TrainingInterrupted`) and atomic checkpoint directories.

``last/`` holds ``model.safetensors`` (``w_in``, ``w_out``) and ``trainer.json`` (epoch,
next chunk, words done, steps). The batches are a function of (seed, epoch, chunk) alone
(:mod:`rnnkit.scratch.w2v_sampling`), so a resumed run gives the vectors an uninterrupted
one gives, bit for bit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.data.digest import DIGESTS, file_digest
from rnnkit.data.word_vectors import WordVectors
from rnnkit.embed.corpus import W2VCorpus, load_corpus
from rnnkit.embed.engine import make_engine
from rnnkit.scratch import w2v_sampling as sampling
from rnnkit.scratch.word2vec import init_weights
from rnnkit.tasks.run import TaskRun, read_artifact
from rnnkit.train import RunLock, TrainConfig
from rnnkit.train.checkpoint import (
    FORMAT,
    load_tensors,
    read_json,
    resolve_checkpoint,
    tensor_bytes,
    write_checkpoint_dir,
)
from rnnkit.train.interrupt import StopSignals, TrainingInterrupted
from rnnkit.train.rundir import clean_orphans

__all__ = ["Word2VecConfig", "Word2VecRun"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Word2VecConfig:
    """The training settings that shape the vectors (config.json's ``word2vec`` section)."""

    model: str = "sg"
    """``sg`` (skip-gram) or ``cbow``."""
    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 1e-4
    batch_words: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("sg", "cbow"):
            raise ValueError(f"`model` must be 'sg' or 'cbow', got {self.model!r}")
        for name in ("dim", "window", "negative", "epochs", "batch_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.sample < 0:
            raise ValueError(f"`sample` must be >= 0, got {self.sample}")
        if not 0 <= self.min_alpha <= self.alpha:
            raise ValueError(
                f"need 0 <= `min_alpha` <= `alpha`, got min_alpha={self.min_alpha}, "
                f"alpha={self.alpha}"
            )


class _Vectors(nn.Module):
    """The two weight matrices as a module, so :meth:`TaskRun.load` can load them."""

    def __init__(self, w_in: np.ndarray, w_out: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("w_in", torch.from_numpy(np.ascontiguousarray(w_in)))
        self.register_buffer("w_out", torch.from_numpy(np.ascontiguousarray(w_out)))


class _Vocab:
    def __init__(self, words: list[str], counts: list[int]) -> None:
        self.words, self.counts = words, counts

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words, "counts": self.counts}


class Word2VecRun(TaskRun):
    """A word2vec run: corpus, settings, the weights; :meth:`fit` trains it (module docs).

    Args:
        corpus: the numbered corpus (:func:`rnnkit.embed.corpus.load_corpus`); None when
            loaded from a run directory.
        config: the settings; data: config.json's ``data`` section (corpus, encoding,
            min_count, max_vocab, digests).
    """

    task = "embed"

    def __init__(
        self, corpus: W2VCorpus | None, config: Word2VecConfig, data: dict[str, Any],
        words: list[str], counts: list[int],
    ) -> None:  # fmt: skip
        self.corpus, self.config, self.data = corpus, config, data
        self.words, self.counts = words, counts
        w_in, w_out = init_weights(len(words), config.dim, np.random.default_rng(config.seed))
        self.model = _Vectors(w_in, w_out)

    @classmethod
    def create(
        cls, config: Word2VecConfig, corpus: str, *, min_count: int = 5,
        max_vocab: int | None = None, encoding: str = "utf-8", tokenizer: str = "word",
        lowercase: bool = False,
    ) -> Word2VecRun:  # fmt: skip
        """Read and number ``corpus`` and start a run with fresh weights."""
        text = load_corpus(
            corpus, min_count=min_count, max_vocab=max_vocab, encoding=encoding,
            tokenizer=tokenizer, lowercase=lowercase,
        )  # fmt: skip
        data = {
            "corpus": corpus, "encoding": encoding, "min_count": min_count,
            "max_vocab": max_vocab, DIGESTS: {"train": file_digest(text.path)},
        }  # fmt: skip
        # only when not the defaults, so that runs made before these options still resume
        data.update({"tokenizer": tokenizer} if tokenizer != "word" else {})
        data.update({"lowercase": True} if lowercase else {})
        return cls(text, config, data, text.words, text.counts.tolist())

    def sections(self) -> dict[str, Any]:
        return {"word2vec": asdict(self.config), "data": dict(self.data)}

    def artifacts(self) -> dict[str, Any]:
        return {"vocab": _Vocab(self.words, self.counts)}

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> Word2VecRun:
        vocab = read_artifact(run_dir, "vocab")
        cfg = Word2VecConfig(**config["word2vec"])
        return cls(None, cfg, dict(config["data"]), vocab["words"], vocab["counts"])

    def vectors(self) -> WordVectors:
        """The trained word vectors (``W_in``) with their counts."""
        assert self.model is not None
        return WordVectors(self.words, self.model.w_in.numpy(), self.counts)

    # ---------------------------------------------------------------- training

    def fit(
        self, run_dir: str | os.PathLike[str], *, resume: bool = False, engine: str = "torch",
        threads: int | None = None, max_time: float | None = None, progress: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Train into ``run_dir`` (see the module docstring); returns the run's figures.

        Raises:
            TrainingInterrupted: SIGTERM or SIGINT; ``last/`` was written first.
        """
        run, cfg = Path(run_dir), self.config
        train_cfg = TrainConfig(
            epochs=cfg.epochs, max_time=max_time, seed=cfg.seed, optimizer="sgd",
            lr=cfg.alpha, clip_norm=None, device="cpu", progress=progress,
        )  # fmt: skip
        with RunLock(run):
            clean_orphans(run)
            self._prepare(run, train_cfg, resume)  # refuses a used dir / changed settings
            state = self._restore(run) if resume else None
            figures = self._loop(run, state, engine, threads, max_time, progress)
            self.vectors().save(run / "vectors.txt")
            self.vectors().save(run / "vectors.bin", binary=True)
        self.run_dir = run
        return figures

    def _restore(self, run: Path) -> dict[str, Any] | None:
        """The saved position (and weights into ``self.model``), or None without one."""
        try:
            ckpt = resolve_checkpoint(run, "last")
        except ValueError:
            return None  # nothing saved yet: a resume starts from the beginning
        tensors, _ = load_tensors(ckpt / "model.safetensors")
        assert self.model is not None
        self.model.w_in.copy_(tensors["w_in"])
        self.model.w_out.copy_(tensors["w_out"])
        return read_json(ckpt / "trainer.json")

    def _save(self, run: Path, position: dict[str, Any]) -> Path:
        assert self.model is not None
        weights = {"w_in": self.model.w_in, "w_out": self.model.w_out}
        meta = {"format": FORMAT, **position}
        return write_checkpoint_dir(
            run / "last",
            {
                "model.safetensors": lambda: tensor_bytes(weights),
                "trainer.json": (json.dumps(meta, indent=2) + "\n").encode(),
            },
        )

    def _loop(
        self, run: Path, state: dict[str, Any] | None, engine_name: str, threads: int | None,
        max_time: float | None, progress: bool | None,
    ) -> dict[str, Any]:  # fmt: skip
        """The epochs from the saved position on; writes ``last/`` at the end or on a stop."""
        cfg, corpus, model = self.config, self.corpus, self.model
        if corpus is None or model is None:
            raise ValueError("this run was loaded without its corpus; use Word2VecRun.create")
        engine = make_engine(engine_name, model.w_in.numpy(), model.w_out.numpy(), threads)
        batches = _Batches(corpus, cfg)
        pos = {"epoch": 0, "chunk": 0, "words": 0, "steps": 0, "elapsed": 0.0}
        pos.update({k: v for k, v in (state or {}).items() if k in pos})
        first_words, start, stopped = pos["words"], time.monotonic(), "epochs"
        loss, examples = 0.0, 0
        bar = _bar(progress, batches.total, pos["words"])
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads or torch_threads))
        try:
            with StopSignals() as stop:
                while pos["epoch"] < cfg.epochs and stopped == "epochs":
                    for chunk, batch in batches.epoch(pos["epoch"], pos["chunk"]):
                        loss += engine.step(batch, batches.alpha(pos["words"]), True) or 0.0
                        examples += len(batch.targets)
                        pos.update(chunk=chunk + 1, words=pos["words"] + batch.words)
                        pos["steps"] += 1
                        if bar is not None:
                            bar.update(batch.words)
                            if pos["steps"] % 50 == 0:
                                bar.set_postfix(loss=f"{loss / max(examples, 1):.4f}")
                        if stop.received:
                            self._stop(run, engine, pos, start, stop)
                        if max_time is not None and time.monotonic() - start > max_time:
                            stopped = "max_time"
                            break
                    else:
                        pos.update(epoch=pos["epoch"] + 1, chunk=0)
                self._sync(engine, pos, start)
                with stop.saving():
                    self._save(run, {**pos, "stopped": stopped})
        finally:
            torch.set_num_threads(torch_threads)
            if bar is not None:
                bar.close()
        seconds = time.monotonic() - start
        return {
            "vocab_size": len(self.words), "corpus_words": len(corpus.ids),
            "epochs_done": pos["epoch"], "words": pos["words"], "steps": pos["steps"],
            "words_per_s": (pos["words"] - first_words) / max(seconds, 1e-9),
            "loss": loss / max(examples, 1), "elapsed": pos["elapsed"], "stopped": stopped,
            "c_kernel": engine.uses_kernel,
        }  # fmt: skip

    def _sync(self, engine: Any, pos: dict[str, Any], start: float) -> None:
        """Copy the engine's weights into ``self.model``; add this session's time."""
        assert self.model is not None
        w_in, w_out = engine.weights()
        self.model.w_in.copy_(torch.from_numpy(np.asarray(w_in)))
        self.model.w_out.copy_(torch.from_numpy(np.asarray(w_out)))
        pos["elapsed"] = pos["elapsed"] + time.monotonic() - start

    def _stop(
        self, run: Path, engine: Any, pos: dict[str, Any], start: float, stop: StopSignals
    ) -> None:
        """A signal arrived: write ``last/`` and raise TrainingInterrupted."""
        self._sync(engine, pos, start)
        with stop.saving():
            ckpt = self._save(run, {**pos, "stopped": stop.received})
        raise TrainingInterrupted(str(stop.received), pos["steps"], ckpt)


class _Batches:
    """The sampling tables of a corpus and settings, and the learning-rate schedule."""

    def __init__(self, corpus: W2VCorpus, cfg: Word2VecConfig) -> None:
        self.corpus, self.cfg = corpus, cfg
        self.keep = sampling.keep_probabilities(corpus.counts, cfg.sample)
        self.table = sampling.unigram_table(corpus.counts)
        self.bounds = sampling.chunk_bounds(corpus.starts, cfg.batch_words)
        self.total = cfg.epochs * len(corpus.ids)

    def alpha(self, words_done: int) -> float:
        """Linear decay from ``alpha`` to ``min_alpha`` over the words of all epochs."""
        cfg = self.cfg
        return max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * words_done / self.total)

    def epoch(self, epoch: int, start: int) -> Any:
        """``(chunk, Batch)`` of ``epoch`` from chunk ``start`` on."""
        return sampling.iter_batches(
            self.corpus.ids, self.corpus.sentence, self.bounds, keep=self.keep,
            table=self.table, window=self.cfg.window, negative=self.cfg.negative,
            cbow=self.cfg.model == "cbow", seed=self.cfg.seed, epoch=epoch, start=start,
        )  # fmt: skip


def _bar(progress: bool | None, total: int, initial: int) -> Any:
    """A tqdm bar over the words of all epochs on stderr (words/s), or None when quiet."""
    if not (sys.stderr.isatty() if progress is None else progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, unit="word", unit_scale=True, desc="word2vec",
        dynamic_ncols=True, leave=False, file=sys.stderr,
    )  # fmt: skip
