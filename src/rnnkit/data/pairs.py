"""Sentence pairs for translation: reading, normalisation, filters, splits, vocabularies, batches.

The pipeline, each step a plain function so it can be read (and tested) alone:

1. :func:`read_pairs` reads ``source<TAB>target`` lines (a third column is accepted only
   when it is the ``CC-BY ...`` attribution of newer manythings files, and dropped); a line
   without a tab, with an unexpected extra column (a tab inside a sentence) or with an empty
   side is an error naming the file and line.
2. :func:`normalize` — Unicode NFC, odd spaces (``U+202F`` before French ``!``) made plain,
   typographic apostrophes made ``'``, optionally accents stripped (NFD, marks dropped, as the
   PyTorch tutorial's ``unicodeToAscii``) and lowercased.
3. filters: :func:`has_simple_prefix` (the tutorial's "i am", "he is", ... and contracted
   "i'm", "he's", ... on the file's *first* column, English in fra.txt) and a length limit in
   tokens (words with punctuation split off, or characters).
4. ``reverse`` swaps the columns (fra.txt is English->French; reversed is French->English).
5. a deterministic split (a seeded permutation) into train / val / test, and vocabularies from
   the training split only (:class:`~rnnkit.data.vocab.Vocab`).
6. :class:`PairLoader`: length-bucketed batches padded time-major into :class:`PairBatch`.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.bucketing import BucketBatchSampler
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer, get_tokenizer
from rnnkit.data.vocab import Vocab

__all__ = [
    "SIMPLE_PREFIXES",
    "PairBatch",
    "PairData",
    "PairLoader",
    "PairsConfig",
    "collate_pairs",
    "has_simple_prefix",
    "is_header",
    "load_pairs",
    "make_tokenizer",
    "normalize",
    "read_pairs",
    "resolve_path",
]

logger = logging.getLogger(__name__)

# The PyTorch seq2seq tutorial's English prefixes, written after its normalisation (which
# turns "I'm" into "i m"); has_simple_prefix maps apostrophes to spaces the same way.
SIMPLE_PREFIXES = (
    "i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ",
    "we are", "we re ", "they are", "they re ",
)  # fmt: skip

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
# The third column of newer manythings.org files: "CC-BY 2.0 (France) Attribution: ...".
_ATTRIBUTION = re.compile(r"cc[- ]?by\b", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@dataclass(frozen=True)
class PairsConfig:
    """Where the sentence pairs come from and how they are prepared."""

    path: str = "fra-eng"
    """A TSV file (source<TAB>target), or a dataset name of the registry (fra-eng)."""
    reverse: bool = False
    """Swap the columns: translate the second column into the first (fra.txt: French->English)."""
    tokenizer: str = "word"
    """``word`` (words with punctuation split off) or ``char`` (characters)."""
    lowercase: bool = True
    """Lowercase both sides."""
    strip_accents: bool = False
    """Drop accents (NFD, marks removed), as the PyTorch tutorial does."""
    max_len: int | None = None
    """Keep pairs with at most this many tokens on each side (None: any length)."""
    simple_prefixes: bool = False
    """Keep only pairs whose first column starts with the tutorial's "i am", "he is", ..."""
    max_pairs: int | None = None
    """Use at most this many pairs after filtering (a random subset; None: all)."""
    val_fraction: float = 0.05
    """Share of the pairs held out for validation."""
    test_fraction: float = 0.05
    """Share of the pairs held out for the test split."""
    seed: int = 0
    """Seed of the split (and of the subset): the same seed gives the same split."""
    min_freq: int = 1
    """Tokens seen fewer times in the training split become ``<unk>``."""
    max_vocab: int | None = None
    """At most this many tokens per vocabulary, specials included (None: no limit)."""
    encoding: str = "utf-8"
    """Text encoding of the pairs file."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.tokenizer not in ("word", "char"):
            raise ValueError(f"`tokenizer` must be 'word' or 'char', got {self.tokenizer!r}")
        if self.max_len is not None and self.max_len < 1:
            raise ValueError(f"`max_len` must be >= 1, got {self.max_len}")
        if self.max_pairs is not None and self.max_pairs < 3:
            raise ValueError(f"`max_pairs` must be >= 3 (one per split), got {self.max_pairs}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"`{name}` must be in [0, 0.5), got {getattr(self, name)}")
        if self.min_freq < 1:
            raise ValueError(f"`min_freq` must be >= 1, got {self.min_freq}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairsConfig:
        """Build from a dict; an unknown key or a wrong type is an error that names it."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """An existing file as given, else a dataset name resolved by the registry."""
    p = Path(path)
    if p.is_file():
        return p
    if p.suffix or os.sep in str(path):
        raise FileNotFoundError(f"pairs file {str(path)!r} does not exist")
    from rnnkit.data.registry import dataset_path

    return Path(dataset_path(str(path)))


def _is_attribution(column: str) -> bool:
    """Whether a third column is a manythings.org licence/attribution note."""
    return _ATTRIBUTION.match(column.strip()) is not None


# Column names a header line of a pairs file uses; a first line made of two of these (or of
# two distinct two-letter language codes, ``en<TAB>fr``) is a header, not a sentence pair.
_HEADER_NAMES = frozenset(
    "source target src tgt input output sentence translation text english french german "
    "spanish italian portuguese dutch russian chinese japanese arabic".split()
)
_CODE = re.compile(r"^[a-z]{2}$")


def is_header(cols: Sequence[str]) -> bool:
    """Whether a first line's columns name the columns (``source<TAB>target``,
    ``English<TAB>French``, ``en<TAB>fr``) instead of holding a sentence pair."""
    names = [c.strip().lower() for c in cols[:2]]
    if len(names) < 2 or names[0] == names[1]:
        return False
    codes = all(_CODE.match(c) for c in cols[:2])  # lowercase as written: "en", not "No"
    return codes or all(n in _HEADER_NAMES for n in names)


def read_pairs(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """``(source, target)`` from each ``source<TAB>target`` line.

    Layouts accepted, line by line: two columns, or three where the third is the
    attribution that newer manythings.org files carry (``CC-BY 2.0 (France) Attribution:
    tatoeba.org #...``; it is dropped). Any other extra column is refused: a tab inside a
    sentence would otherwise cut the sentence silently. Blank lines are skipped, and so is
    a first line that names the columns (:func:`is_header`; logged).

    Args:
        path: the TSV file.
        encoding: its text encoding (a decode error names the file, line and column).

    Raises:
        ValueError: naming the file and line: a line with one column, with extra columns
            (expected vs got), or with an empty side; or a file with no pairs.
    """
    pairs: list[tuple[str, str]] = []
    for lineno, line in enumerate(read_text(path, encoding=encoding).split("\n"), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise ValueError(
                f"{path}:{lineno}: expected source<TAB>target, got one column: {line[:60]!r}"
            )
        if len(cols) > 3 or (len(cols) == 3 and not _is_attribution(cols[2])):
            raise ValueError(
                f"{path}:{lineno}: expected 2 tab-separated columns (source<TAB>target, "
                f"optionally a third 'CC-BY ...' attribution), got {len(cols)}: a tab inside "
                f"a sentence? {line[:80]!r}"
            )
        src, tgt = cols[0].strip(), cols[1].strip()
        if not pairs and is_header(cols):
            logger.info("%s:%d: %r names the columns; skipped as a header", path, lineno, line)
            continue
        if not src or not tgt:
            side = "source (column 1)" if not src else "target (column 2)"
            raise ValueError(f"{path}:{lineno}: empty {side}: {line[:60]!r}")
        pairs.append((src, tgt))
    if not pairs:
        raise ValueError(f"{path}: no sentence pairs found (expected source<TAB>target lines)")
    return pairs


def normalize(text: str, *, lowercase: bool = True, strip_accents: bool = False) -> str:
    """Canonical form of a sentence: NFC, plain single spaces, ASCII apostrophes; optionally
    accents stripped (``"Ça"`` -> ``"Ca"``) and lowercased."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    if strip_accents:
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    if lowercase:
        text = text.lower()
    return _SPACES.sub(" ", text).strip()


def has_simple_prefix(text: str, prefixes: Sequence[str] = SIMPLE_PREFIXES) -> bool:
    """Whether ``text`` starts like the tutorial's filter wants ("I'm cold." -> "i m cold.")."""
    canon = normalize(text, lowercase=True, strip_accents=True).replace("'", " ")
    return canon.startswith(tuple(prefixes))


def make_tokenizer(name: str) -> CharTokenizer | WordTokenizer:
    """``"word"`` (punctuation split off, reversible up to spacing) or ``"char"``."""
    if name == "word":
        return get_tokenizer("word-punct")
    if name == "char":
        return get_tokenizer("char")
    raise ValueError(f"`tokenizer` must be 'word' or 'char', got {name!r}")


class PairBatch(NamedTuple):
    """A padded, time-major batch of pairs (padding id everywhere past a row's end).

    Attributes:
        src: ``(S, B)`` source ids.
        src_lengths: ``(B,)`` source lengths (CPU, for packing).
        tgt_in: ``(T, B)`` decoder inputs ``<bos> y_1 .. y_n``.
        tgt_out: ``(T, B)`` decoder targets ``y_1 .. y_n <eos>``.
        index: ``(B,)`` positions of the pairs in their split.
    """

    src: Tensor
    src_lengths: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    index: Tensor

    def to(self, device: torch.device | str) -> PairBatch:
        """The batch with its id tensors on ``device`` (lengths and index stay on the CPU)."""
        return PairBatch(
            self.src.to(device), self.src_lengths, self.tgt_in.to(device),
            self.tgt_out.to(device), self.index,
        )  # fmt: skip


def collate_pairs(
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    index: Sequence[int],
    *,
    pad_id: int,
    bos_id: int,
    eos_id: int,
) -> PairBatch:
    """Pad pairs ``index`` of ``src``/``tgt`` (id lists without bos/eos) into a PairBatch."""
    pad = torch.nn.utils.rnn.pad_sequence
    srcs = [torch.tensor(src[i], dtype=torch.long) for i in index]
    ins = [torch.tensor([bos_id, *tgt[i]], dtype=torch.long) for i in index]
    outs = [torch.tensor([*tgt[i], eos_id], dtype=torch.long) for i in index]
    lengths = torch.tensor([len(s) for s in srcs], dtype=torch.long)  # (B,)
    return PairBatch(
        pad(srcs, padding_value=pad_id),  # (S, B)
        lengths,
        pad(ins, padding_value=pad_id),  # (T, B)
        pad(outs, padding_value=pad_id),  # (T, B)
        torch.tensor(list(index), dtype=torch.long),
    )


class PairLoader:
    """Re-iterable length-bucketed batches of one split; ``set_epoch`` reshuffles."""

    def __init__(
        self,
        src: Sequence[Sequence[int]],
        tgt: Sequence[Sequence[int]],
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        if len(src) != len(tgt):
            raise ValueError(f"`src` and `tgt` must pair up, got {len(src)} and {len(tgt)}")
        if not src:
            raise ValueError("no pairs to batch (the split is empty)")
        self.src, self.tgt = src, tgt
        ids = {"pad_id": src_vocab.pad_id, "bos_id": tgt_vocab.bos_id, "eos_id": tgt_vocab.eos_id}
        if src_vocab.pad_id != tgt_vocab.pad_id or None in ids.values():
            raise ValueError("both vocabularies need the same <pad> id and the target <bos>/<eos>")
        self.ids = ids
        # Bucket by the longer side: both the encoder's and the decoder's grids stay small.
        lengths = [max(len(s), len(t) + 1) for s, t in zip(src, tgt, strict=True)]
        self.sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[PairBatch]:
        for index in self.sampler:
            yield collate_pairs(self.src, self.tgt, index, **self.ids)

    def __len__(self) -> int:
        return len(self.sampler)


@dataclass
class PairData:
    """Prepared pairs: normalised text and token ids per split, and the two vocabularies.

    ``text[split]`` holds ``(source, target)`` normalised strings, ``ids[split]`` the matching
    ``(source ids, target ids)`` lists (no bos/eos).
    """

    config: PairsConfig
    text: dict[str, list[tuple[str, str]]]
    ids: dict[str, tuple[list[list[int]], list[list[int]]]]
    src_vocab: Vocab
    tgt_vocab: Vocab

    @property
    def tokenizer(self) -> CharTokenizer | WordTokenizer:
        return make_tokenizer(self.config.tokenizer)

    def loader(self, split: str, batch_size: int, *, shuffle: bool | None = None) -> PairLoader:
        """Batches of ``split`` (shuffled for ``train`` unless told otherwise)."""
        if split not in self.ids:
            raise ValueError(f"`split` must be one of {sorted(self.ids)}, got {split!r}")
        src, tgt = self.ids[split]
        shuffle = split == "train" if shuffle is None else shuffle
        return PairLoader(
            src, tgt, self.src_vocab, self.tgt_vocab, batch_size, shuffle=shuffle,
            seed=self.config.seed,
        )  # fmt: skip


def load_pairs(config: PairsConfig) -> PairData:
    """Read, normalise, filter, split and tokenise the pairs of ``config``; vocabularies from
    the training split."""
    path = resolve_path(config.path)
    raw = read_pairs(path, encoding=config.encoding)
    tok = make_tokenizer(config.tokenizer)
    kept: list[tuple[str, str]] = []
    tokens: list[tuple[list[str], list[str]]] = []
    for first, second in raw:
        if config.simple_prefixes and not has_simple_prefix(first):
            continue
        a, b = (normalize(s, lowercase=config.lowercase, strip_accents=config.strip_accents)
                for s in (first, second))  # fmt: skip
        src, tgt = (b, a) if config.reverse else (a, b)
        st, tt = tok.tokenize(src), tok.tokenize(tgt)
        if not st or not tt:
            continue  # only punctuation a word tokenizer drops; nothing to translate
        if config.max_len is not None and max(len(st), len(tt)) > config.max_len:
            continue
        kept.append((src, tgt))
        tokens.append((st, tt))
    if len(kept) < 3:
        raise ValueError(
            f"{path}: {len(kept)} of {len(raw)} pairs pass the filters (max_len={config.max_len},"
            f" simple_prefixes={config.simple_prefixes}); need at least 3"
            + (
                "; the prefix filter keeps English first columns starting 'i am', 'he is' ...: "
                "turn it off with --simple-prefixes false"
                if config.simple_prefixes
                else ""
            )
        )
    gen = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(kept), generator=gen).tolist()
    if config.max_pairs is not None:
        order = order[: config.max_pairs]
    n = len(order)
    n_test = max(1, round(n * config.test_fraction)) if config.test_fraction > 0 else 0
    n_val = max(1, round(n * config.val_fraction)) if config.val_fraction > 0 else 0
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    train_tokens = [tokens[i] for i in parts["train"]]
    build = {"min_freq": config.min_freq, "max_size": config.max_vocab}
    src_vocab = Vocab.build([s for s, _ in train_tokens], **build)
    tgt_vocab = Vocab.build([t for _, t in train_tokens], **build)
    text = {k: [kept[i] for i in v] for k, v in parts.items()}
    ids = {
        k: (
            [src_vocab.encode(tokens[i][0]) for i in v],
            [tgt_vocab.encode(tokens[i][1]) for i in v],
        )
        for k, v in parts.items()
    }
    logger.info(
        "%s: %d of %d pairs kept; train/val/test %d/%d/%d; vocab %d -> %d",
        path, len(kept), len(raw), len(parts["train"]), len(parts["val"]), len(parts["test"]),
        len(src_vocab), len(tgt_vocab),
    )  # fmt: skip
    return PairData(config, text, ids, src_vocab, tgt_vocab)
