"""Official validation and test files for sentence pairs (``--val-data``, ``--test-data``).

:func:`rnnkit.data.pairs.load_pairs` holds the validation and test pairs out of one file by
a seeded split. A data set that ships its own dev/test files is read with
:func:`load_pair_splits`: the training file gives the train split (and the held-out splits
that are not given as files), and each given file becomes its split whole, prepared like
the training pairs (normalisation, ``reverse``, tokenizer) but not filtered: an official
test set is scored as it is. Its words are encoded with the training vocabularies.

:class:`PairFiles` is saved beside :class:`~rnnkit.data.pairs.PairsConfig` in a run's
``data`` section, with each file's checksum, so ``eval`` reads the same splits and warns
when a file changed since training.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from rnnkit.config import check_types
from rnnkit.data.digest import check_digests, file_digests
from rnnkit.data.pairs import (
    PairData,
    PairsConfig,
    load_pairs,
    make_tokenizer,
    normalize,
    read_pairs,
    resolve_path,
)

__all__ = [
    "PairFiles",
    "check_files",
    "data_section",
    "load_pair_splits",
    "split_data_section",
    "with_digests",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairFiles:
    """Files that hold whole splits (None: the split is held out of the training file)."""

    val_data: str | None = None
    """A TSV of validation pairs (a data set's own dev file)."""
    test_data: str | None = None
    """A TSV of test pairs (a data set's own test file)."""
    digests: dict[str, str] | None = None
    """sha256 of the training file (``"train"``) and of each split file, by split name
    (filled in by :func:`with_digests` when a run starts)."""

    def __post_init__(self) -> None:
        check_types(self)

    def given(self) -> dict[str, str]:
        """``{split: path}`` of the splits read from their own files."""
        named = {"val": self.val_data, "test": self.test_data}
        return {k: v for k, v in named.items() if v is not None}


def split_data_section(section: dict[str, Any]) -> tuple[PairsConfig, PairFiles]:
    """A run's ``data`` section -> its PairsConfig and PairFiles (older runs have no files)."""
    own = {f.name for f in dataclasses.fields(PairFiles)}
    files = PairFiles(**{k: v for k, v in section.items() if k in own})
    return PairsConfig.from_dict({k: v for k, v in section.items() if k not in own}), files


def data_section(config: PairsConfig, files: PairFiles) -> dict[str, Any]:
    """The ``data`` section of config.json: the PairsConfig fields and the split files."""
    return {**config.to_dict(), **dataclasses.asdict(files)}


def _read_split(path: str, config: PairsConfig, data: PairData) -> tuple[list, tuple]:
    """The pairs of ``path`` prepared as ``config`` says: (text pairs, (src ids, tgt ids))."""
    tok = make_tokenizer(config.tokenizer)
    text, src_ids, tgt_ids = [], [], []
    for first, second in read_pairs(resolve_path(path), encoding=config.encoding):
        a, b = (normalize(s, lowercase=config.lowercase, strip_accents=config.strip_accents)
                for s in (first, second))  # fmt: skip
        src, tgt = (b, a) if config.reverse else (a, b)
        st, tt = tok.tokenize(src), tok.tokenize(tgt)
        if not st or not tt:
            continue
        text.append((src, tgt))
        src_ids.append(data.src_vocab.encode(st))
        tgt_ids.append(data.tgt_vocab.encode(tt))
    if not text:
        raise ValueError(f"{path}: no sentence pairs with tokens on both sides")
    return text, (src_ids, tgt_ids)


def load_pair_splits(config: PairsConfig, files: PairFiles | None = None) -> PairData:
    """:func:`load_pairs`, with the splits named in ``files`` read from their own files.

    The vocabularies come from the training split only, as always. ``data.config`` keeps
    the held-out fraction of a split given as a file at 0.
    """
    given = (files or PairFiles()).given()
    if not given:
        return load_pairs(config)
    fractions = {f"{k}_fraction": 0.0 for k in given}
    held = dataclasses.replace(config, **fractions)
    data = load_pairs(held)
    for split, path in given.items():
        text, ids = _read_split(path, config, data)
        data.text[split], data.ids[split] = text, ids
        logger.info("%s split: %d pairs from %s", split, len(text), path)
    return data


def _files(config: PairsConfig, files: PairFiles) -> dict[str, Any]:
    """``{split: path}`` of every file the pairs are read from (the training file: ``train``)."""
    return {k: resolve_path(v) for k, v in {"train": config.path, **files.given()}.items()}


def with_digests(config: PairsConfig, files: PairFiles) -> PairFiles:
    """``files`` with the checksums of the training file and each split file."""
    return dataclasses.replace(files, digests=file_digests(_files(config, files)))


def check_files(config: PairsConfig, files: PairFiles) -> None:
    """Warn for each data file whose bytes changed since the run stored its checksum."""
    check_digests(_files(config, files), files.digests)
