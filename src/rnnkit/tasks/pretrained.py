"""Pretrained word vectors for every task's embedding tables: ``--embeddings FILE``.

A word-vectors file (word2vec text or binary, GloVe text; read by
:func:`rnnkit.data.word_vectors.load_vectors`) initialises an embedding table row by row:

- every vocabulary token found in the file gets its vector: an exact match first, then (with
  ``lowercase_fallback``, the default) the lower-cased token, so ``"The"`` takes ``"the"``
  from an uncased file such as GloVe's;
- every other row keeps its random initialisation; the padding row stays zero;
- with ``freeze`` the table gets ``requires_grad=False``: the trainer leaves parameters that
  do not require gradients out of the optimizer, so neither the updates nor weight decay
  touch it, and embedding dropout only masks a copy. It stays bitwise as loaded.

:func:`init_embedding` does that to one ``nn.Embedding`` and returns its :class:`Coverage`
(found / vocabulary, the most frequent tokens not found), also logged as one INFO line.

A run's settings are a :class:`Pretrained` (``--embeddings``, ``--tgt-embeddings``,
``--freeze-embeddings``). The shared run life cycle (:class:`rnnkit.tasks.run.TaskRun`)
applies it when fitting -- a fresh run copies the vectors in, a resumed one only freezes,
its weights come from the checkpoint -- and records it in config.json: the ``embeddings``
section (file, target file, freeze) and the files' sha256 under ``data.digests``
(roles ``embeddings`` and ``tgt_embeddings``), so a resume with a changed file is refused.

Which tables a task has: :func:`embedding_tables` (``lm``: ``embedding``; ``classify`` on
text: the input embedding; ``translate``: ``source`` and ``target``). A table tied to the
output layer (lm ``tie_weights``) cannot be frozen: that would freeze the output layer too,
so it is refused with a message saying so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from rnnkit.data.digest import DIGESTS, file_digest
from rnnkit.data.word_vectors import WordVectors, load_vectors
from rnnkit.train.checkpoint import CheckpointError, resolve_checkpoint

if TYPE_CHECKING:
    from rnnkit.tasks.run import TaskRun

__all__ = [
    "EMBEDDINGS",
    "Coverage",
    "Pretrained",
    "Table",
    "embedding_tables",
    "init_embedding",
]

logger = logging.getLogger(__name__)

EMBEDDINGS = "embeddings"
"""config.json's section with the ``--embeddings`` settings (and the source file's digest role)."""
TGT_ROLE = "tgt_embeddings"  # data.digests role of translate's --tgt-embeddings file
DIM_FLAG = "--embedding-dim"
SHOWN_MISSING = 10  # how many of the most frequent tokens not found a coverage names


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary a vectors file covered.

    Attributes:
        table: which table (``embedding``; translate: ``source`` / ``target``).
        file: the vectors file.
        found: tokens that got a vector (``lowercased`` of them through the lower-cased form).
        total: tokens counted: the vocabulary without its special tokens (``<pad>``,
            ``<unk>`` ...); a special found in the file is copied too, but not counted.
        missing: the most frequent tokens not found (vocabulary order, which is frequency
            order after the specials; at most 10).
        frozen: whether the table was frozen.
    """

    table: str
    file: str
    found: int
    total: int
    lowercased: int = 0
    missing: tuple[str, ...] = ()
    frozen: bool = False

    @property
    def fraction(self) -> float:
        """``found / total`` (0.0 for an empty vocabulary)."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        lower = f", {self.lowercased:,} lower-cased" if self.lowercased else ""
        text = (
            f"{self.table} embeddings: {self.found:,} of {self.total:,} words found in "
            f"{self.file} ({100 * self.fraction:.1f}%{lower})"
        )
        if self.missing:
            more = ", ..." if self.total - self.found > len(self.missing) else ""
            text += f"; most frequent not found: {', '.join(self.missing)}{more}"
        return text + ("; frozen" if self.frozen else "; trained")


def _mismatch(file: str, got: int, want: int, flag: str) -> ValueError:
    return ValueError(
        f"`--embeddings` {file} has {got}-dimensional vectors but the model's embedding_dim "
        f"is {want}; pass {flag} {got} (or the matching preset field)"
    )


def init_embedding(
    embedding: nn.Embedding,
    itos: Sequence[str],
    path: str | os.PathLike[str],
    *,
    freeze: bool,
    encoding: str = "utf-8",
    lowercase_fallback: bool = True,
    specials: Sequence[str] = (),
    vectors: WordVectors | None = None,
    table: str = "embedding",
    flag: str = DIM_FLAG,
) -> Coverage:
    """Copy the vectors of ``path`` into the rows of ``embedding`` whose token is found.

    Args:
        embedding: the table, ``weight (V, E)``; its ``padding_idx`` row is left alone.
        itos: the V tokens in id order (``vocab.tokens``).
        path: the vectors file (word2vec text/binary or GloVe text).
        freeze: set ``weight.requires_grad = False`` (else it is left as it is).
        encoding: the file's text encoding.
        lowercase_fallback: a token not found as it is is looked up lower-cased.
        specials: the vocabulary's special tokens, left out of the coverage figures.
        vectors: the file already read (then ``path`` only names it in messages).
        table: the table's name in the coverage line.
        flag: the flag that sets the model's E, named in the mismatch error.

    Returns:
        The :class:`Coverage`, also logged as one INFO line.

    Raises:
        ValueError: the file's dimension is not E (the message names both, the file and
            ``flag``); a bad file (from :func:`~rnnkit.data.word_vectors.load_vectors`).
    """
    if len(itos) != embedding.num_embeddings:
        raise ValueError(
            f"`itos` has {len(itos)} tokens but the embedding has {embedding.num_embeddings} rows"
        )
    wv = vectors if vectors is not None else load_vectors(path, encoding=encoding)
    if wv.dim != embedding.embedding_dim:
        raise _mismatch(str(path), wv.dim, embedding.embedding_dim, flag)
    skip, special = embedding.padding_idx, set(specials)
    rows, source, missing = [], [], []
    found = lowered = total = 0
    for i, token in enumerate(itos):
        if i == skip:
            continue
        j = wv.index(token)
        by_lower = j is None and lowercase_fallback and token.lower() != token
        if by_lower:
            j = wv.index(token.lower())
        if j is not None:
            rows.append(i)  # copied, special or not
            source.append(j)
        if token in special:  # not counted
            continue
        total += 1
        found += j is not None
        lowered += j is not None and by_lower
        if j is None and len(missing) < SHOWN_MISSING:
            missing.append(token)
    weight = embedding.weight
    if rows:
        new = torch.from_numpy(np.ascontiguousarray(wv.vectors[source]))  # (n, E)
        with torch.no_grad():
            weight[torch.tensor(rows)] = new.to(device=weight.device, dtype=weight.dtype)
    if freeze:
        weight.requires_grad_(False)
    cov = Coverage(table, str(path), found, total, lowered, tuple(missing), frozen=freeze)
    logger.info("%s", cov)
    return cov


@dataclass(frozen=True)
class Table:
    """One embedding table of a task: its name, module, tokens, specials and vectors file."""

    name: str
    module: nn.Embedding
    itos: list[str]
    specials: tuple[str, ...]
    file: str


def _text_input(model: Any) -> nn.Embedding:
    table = getattr(model, "input_layer", None)
    if not isinstance(table, nn.Embedding):
        raise ValueError(
            "`--embeddings` needs text data: these inputs are series, whose network has a "
            "linear input projection, not an embedding table; leave `--embeddings` out"
        )
    return table


def embedding_tables(run: TaskRun, file: str, tgt_file: str | None = None) -> list[Table]:
    """The embedding tables of ``run`` (its network built), each with its vectors file.

    ``lm``: the token embedding; ``classify``: the input embedding (text data only: series
    inputs have none, a ``ValueError``); ``translate``: ``source`` and ``target``, the
    target from ``tgt_file`` when given, else from ``file``.
    """
    model: Any = run.model
    if run.task == "lm":
        vocab = run.vocab  # type: ignore[attr-defined]
        return [Table("embedding", model.embedding, vocab.tokens, vocab.specials, file)]
    if run.task == "classify":
        vocab = run.encoder.vocab  # type: ignore[attr-defined]
        return [Table("input", _text_input(model), vocab.tokens, vocab.specials, file)]
    if run.task == "translate":
        src, tgt = run.src_vocab, run.tgt_vocab  # type: ignore[attr-defined]
        return [
            Table("source", model.encoder.embedding, src.tokens, src.specials, file),
            Table("target", model.decoder.embedding, tgt.tokens, tgt.specials, tgt_file or file),
        ]
    raise ValueError(f"`--embeddings`: the {run.task!r} task has no embedding table")


def _has_last(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` holds a ``last`` checkpoint a resume restores."""
    try:
        resolve_checkpoint(run_dir, "last")
    except CheckpointError:
        return False
    return True


@dataclass
class Pretrained:
    """A run's ``--embeddings`` settings: applied when it is fitted, kept in its config.json.

    Args:
        file: the vectors file of every table (translate: of the source table).
        freeze: keep the tables fixed in training.
        tgt_file: translate only: the target table's file (None: ``file``).
        encoding: the files' text encoding.

    Attributes:
        coverage: the tables' :class:`Coverage` once applied to a fresh run (a resume
            restores its tables from the checkpoint: none).
    """

    file: str
    freeze: bool = False
    tgt_file: str | None = None
    encoding: str = "utf-8"
    coverage: list[Coverage] = field(default_factory=list)
    _read: dict[str, WordVectors] = field(default_factory=dict, repr=False)

    @classmethod
    def from_flags(
        cls,
        saved: Mapping[str, Any] | None = None,
        *,
        file: str | None = None,
        freeze: bool | None = None,
        tgt_file: str | None = None,
    ) -> Pretrained | None:
        """The settings from the flags over ``saved`` (a resumed run's ``embeddings``
        section); None when no file is set. ``freeze`` None: the saved value, else false."""
        saved = dict(saved or {})
        file = file if file is not None else saved.get("file")
        if file is None:
            for name, value in (("--freeze-embeddings", freeze), ("--tgt-embeddings", tgt_file)):
                if value:
                    raise ValueError(f"`{name}` needs `--embeddings FILE`, which was not given")
            return None
        freeze = freeze if freeze is not None else bool(saved.get("freeze", False))
        tgt = tgt_file if tgt_file is not None else saved.get("tgt_file")
        return cls(str(file), freeze, None if tgt is None else str(tgt))

    def vectors(self, path: str) -> WordVectors:
        """The vectors of ``path``, read once."""
        if path not in self._read:
            self._read[path] = load_vectors(path, encoding=self.encoding)
        return self._read[path]

    @property
    def dim(self) -> int:
        """The files' vector dimension (translate's two files must agree)."""
        dim = self.vectors(self.file).dim
        if self.tgt_file is not None and self.vectors(self.tgt_file).dim != dim:
            raise ValueError(
                f"`--tgt-embeddings` {self.tgt_file} has {self.vectors(self.tgt_file).dim}-"
                f"dimensional vectors but `--embeddings` {self.file} has {dim}; the source and "
                "target tables share one embedding_dim"
            )
        return dim

    def model_dim(self, embedding_dim: int | None) -> dict[str, int]:
        """The ``embedding_dim`` a train verb gives its model: the flag's (which must match
        the file), else the file's dimension, logged (as ``nn.Embedding.from_pretrained``
        takes it). Returns ``{"embedding_dim": E}``."""
        dim = self.dim
        if embedding_dim is not None and embedding_dim != dim:
            raise _mismatch(self.file, dim, embedding_dim, DIM_FLAG)
        if embedding_dim is None:
            logger.info(
                "embedding_dim %d: the dimension of the vectors in %s (`--embeddings`; "
                "`%s` must match it)",
                dim,
                self.file,
                DIM_FLAG,
            )
        return {"embedding_dim": dim}

    def section(self) -> dict[str, Any]:
        """config.json's ``embeddings`` section."""
        return {"file": self.file, "tgt_file": self.tgt_file, "freeze": self.freeze}

    def record(self, sections: Mapping[str, Any]) -> dict[str, Any]:
        """``sections`` with the ``embeddings`` section and the files' sha256 in
        ``data.digests`` (roles ``embeddings``, ``tgt_embeddings``)."""
        digests = {EMBEDDINGS: file_digest(self.file)}
        if self.tgt_file is not None:
            digests[TGT_ROLE] = file_digest(self.tgt_file)
        data = dict(sections.get("data") or {})
        data[DIGESTS] = {**(data.get(DIGESTS) or {}), **digests}
        return {**sections, "data": data, EMBEDDINGS: self.section()}

    def apply(
        self,
        run: TaskRun,
        *,
        resume: bool = False,
        run_dir: str | os.PathLike[str] | None = None,
    ) -> list[Coverage]:
        """Initialise (a fresh run) and freeze ``run``'s tables; returns the coverage.

        A resumed run (``resume`` and a ``last`` checkpoint in ``run_dir``) gets its tables
        from the checkpoint: they are only frozen; a resume with no checkpoint yet starts
        afresh, so it is initialised. A frozen table tied to the output layer (lm
        ``tie_weights``) is refused.
        """
        config = getattr(run.model, "config", None)
        if self.freeze and getattr(config, "tie_weights", False):
            raise ValueError(
                "`--freeze-embeddings true` with `tie_weights`: the tied table is also the "
                "output layer, which would then never train; pass `--tie-weights false`, or "
                "`--freeze-embeddings false` (the vectors still initialise the tied table)"
            )
        tables = embedding_tables(run, self.file, self.tgt_file)
        if resume and run_dir is not None and _has_last(run_dir):
            for t in tables:
                t.module.weight.requires_grad_(not self.freeze)
            logger.info("resuming: embedding tables from the checkpoint, not %s", self.file)
            self.coverage = []
            return []
        self.coverage = []
        for t in tables:
            cov = init_embedding(
                t.module, t.itos, t.file, freeze=self.freeze, specials=t.specials,
                vectors=self.vectors(t.file), table=t.name,
            )  # fmt: skip
            self.coverage.append(cov)
        self._read.clear()  # a large file need not stay in memory while training
        return self.coverage

    def summary(self) -> str:
        """The coverage lines for a train verb's report (a resume: a line saying so)."""
        if not self.coverage:
            return f"embeddings: restored from the checkpoint (not re-read from {self.file})"
        return "\n".join(str(c) for c in self.coverage)
