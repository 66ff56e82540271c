"""Decoding sentences with a :class:`~rnnkit.tasks.translator.Translator` into translations.

The task's decoding defaults are :data:`DECODING`: the ``translate`` and ``eval`` verbs and
:meth:`Translator.translate` take theirs from it, and it takes the beam search's from the
levels below (:data:`rnnkit.decoding.BEAM_SIZE`, :data:`~rnnkit.decoding.LENGTH_PENALTY`,
:data:`rnnkit.models.seq2seq_decode.MAX_LEN_A` / ``MAX_LEN_B``). A long input is split
into sentences (:func:`rnnkit.data.sentences.split_sentences`), each translated on its own
and the translations joined, so a paragraph is not cut to its first few words; a sentence
longer than the training pairs, a translation cut at the length limit and unknown words are
each reported with their counts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from rnnkit.data.pairs import normalize
from rnnkit.data.sentences import split_sentences
from rnnkit.decoding import BEAM_SIZE, LENGTH_PENALTY
from rnnkit.metrics.text import perplexity
from rnnkit.models.seq2seq_decode import MAX_LEN_A, MAX_LEN_B, Hypothesis, decode

if TYPE_CHECKING:
    from rnnkit.tasks.translator import Translator

__all__ = [
    "DECODING",
    "DecodeOptions",
    "Translation",
    "decode_sentences",
    "plot_attention_maps",
    "teacher_forced_perplexity",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeOptions:
    """How the translate task decodes; :data:`DECODING` holds the defaults."""

    method: str = "beam"
    """beam, greedy or sample."""
    beam_size: int = BEAM_SIZE
    """Beams per sentence (1 is greedy)."""
    length_penalty: float = LENGTH_PENALTY
    """Alpha of the GNMT length penalty (0: raw log-probability), as in Wu et al. 2016."""
    max_len_a: float = MAX_LEN_A
    """At most ``max_len_a * S + max_len_b`` output tokens for a source of S tokens."""
    max_len_b: int = MAX_LEN_B
    """See ``max_len_a``."""
    batch_size: int = 64
    """Sentences decoded together."""


DECODING = DecodeOptions()
"""The one set of decoding defaults of the task."""


@dataclass
class Translation:
    """One translated input (one sentence, or several joined when the input was split)."""

    source: str
    """The normalised source."""
    text: str
    """The translation (detokenized)."""
    score: float
    """Its summed log-probability (over the sentences of a split input)."""
    source_tokens: list[str]
    """Source tokens as the model saw them (unknown words as ``<unk>``)."""
    tokens: list[str]
    """Output tokens (without ``<eos>``)."""
    attention: torch.Tensor | None = None
    """``(len(tokens) + 1, len(source_tokens))`` weights, if asked for (one row less when the
    output was cut at the maximum length, without ``<eos>``); None for a split input (see
    :attr:`parts`)."""
    alternatives: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    """The n-best list after the first: ``(text, score)``."""
    parts: list[Translation] = dataclasses.field(default_factory=list)
    """The sentences' own translations when the input was split (else empty)."""


def _pieces(tr: Translator, sentences: Sequence[str], split: bool) -> list[list[list[str]]]:
    """Per input, the tokens of each of its sentences; an input without tokens is an error."""
    out = []
    for i, text in enumerate(sentences):
        parts = split_sentences(text) if split else [text]
        tokens = [t for t in (tr.prepare(p) for p in parts) if t]
        if not tokens:
            raise ValueError(f"sentence {i + 1} is empty after normalisation: {text!r}")
        out.append(tokens)
    return out


def _report_input(tr: Translator, pieces: list[list[list[str]]], n_inputs: int) -> None:
    """Log unknown words (total and distinct) and sentences longer than the training pairs."""
    flat = [t for p in pieces for t in p]
    unknown = [w for t in flat for w in tr.src_vocab.unknown(t)]
    if unknown:
        distinct = sorted(set(unknown))
        more = f" (and {len(distinct) - 20} more)" if len(distinct) > 20 else ""
        logger.warning(
            "unknown source words translated as <unk>: %d in all, %d distinct: %s%s",
            len(unknown), len(distinct), ", ".join(distinct[:20]), more,
        )  # fmt: skip
    if len(flat) > n_inputs:
        logger.info("%d inputs split into %d sentences, translated one by one", n_inputs, len(flat))
    limit = tr.data.max_len
    long = [len(t) for t in flat if limit is not None and len(t) > limit]
    if long:
        logger.warning(
            "%d of %d sentences are longer than the %d tokens of the training pairs "
            "(longest %d); their translations may be incomplete",
            len(long), len(flat), limit, max(long),
        )  # fmt: skip


def _words(tr: Translator, h: Hypothesis) -> list[str]:
    specials = {tr.tgt_vocab.pad_id, tr.tgt_vocab.bos_id, tr.tgt_vocab.eos_id}
    return tr.tgt_vocab.decode([i for i in h.tokens if i not in specials])


def _one(tr: Translator, source: str, tokens: list[str], nbest: list[Hypothesis]) -> Translation:
    best = nbest[0]
    words = _words(tr, best)
    seen = tr.src_vocab.decode(tr.src_vocab.encode(tokens))
    alts = [(tr.detokenize(_words(tr, h)), h.score) for h in nbest[1:]]
    return Translation(source, tr.detokenize(words), best.score, seen, words, best.attention, alts)


def _joined(source: str, parts: list[Translation]) -> Translation:
    """The translations of an input's sentences as one (alternatives joined rank by rank)."""
    if len(parts) == 1:
        return dataclasses.replace(parts[0], source=source)
    ranks = max(len(p.alternatives) for p in parts)
    alts = []
    for k in range(ranks):
        picks = [p.alternatives[k] if k < len(p.alternatives) else (p.text, p.score) for p in parts]
        alts.append((" ".join(t for t, _ in picks), sum(s for _, s in picks)))
    return Translation(
        source=source, text=" ".join(p.text for p in parts),
        score=sum(p.score for p in parts),
        source_tokens=[w for p in parts for w in p.source_tokens],
        tokens=[w for p in parts for w in p.tokens], attention=None, alternatives=alts,
        parts=parts,
    )  # fmt: skip


@torch.no_grad()
def decode_sentences(
    tr: Translator,
    sentences: Sequence[str],
    *,
    method: str = DECODING.method,
    beam_size: int = DECODING.beam_size,
    length_penalty: float = DECODING.length_penalty,
    n_best: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    max_len_a: float = DECODING.max_len_a,
    max_len_b: int = DECODING.max_len_b,
    batch_size: int = DECODING.batch_size,
    return_attention: bool = False,
    split: bool = True,
) -> list[Translation]:
    """Translate raw ``sentences`` with ``tr`` (normalised, split and tokenized here).

    Args:
        split: translate each sentence of an input on its own and join the translations
            (False: an input is one sequence, however long).
        Others: see :class:`DecodeOptions` and :func:`rnnkit.models.seq2seq_decode.decode`.

    Returns:
        One :class:`Translation` per input. An input that is empty after normalisation is
        an error naming its position.
    """
    pieces = _pieces(tr, sentences, split)
    _report_input(tr, pieces, len(sentences))
    flat = [t for p in pieces for t in p]
    model = tr.model
    assert model is not None
    dev = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    pad, bos, eos = tr.tgt_vocab.pad_id, tr.tgt_vocab.bos_id, tr.tgt_vocab.eos_id
    done: list[Translation] = []
    cut = 0
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        ids = [torch.tensor(tr.src_vocab.encode(t), dtype=torch.long) for t in chunk]
        src = torch.nn.utils.rnn.pad_sequence(ids, padding_value=pad).to(dev)  # (S, B)
        lengths = torch.tensor([len(t) for t in chunk], dtype=torch.long)
        hyps = decode(
            model, src, lengths, bos_id=bos, eos_id=eos, method=method, beam_size=beam_size,
            length_penalty=length_penalty, n_best=n_best, temperature=temperature, top_k=top_k,
            top_p=top_p, generator=gen, max_len_a=max_len_a, max_len_b=max_len_b,
            return_attention=return_attention,
        )  # fmt: skip
        for tokens, nbest in zip(chunk, hyps, strict=True):
            cut += not nbest[0].ended
            done.append(_one(tr, tr.detokenize(tokens), tokens, nbest))
    if cut:
        logger.warning(
            "%d of %d translations reached the length limit (%g * source length + %d tokens) "
            "without ending; raise `max_len_a`/`max_len_b` to let them finish",
            cut, len(flat), max_len_a, max_len_b,
        )  # fmt: skip
    return _assemble(tr, sentences, pieces, done)


def _assemble(
    tr: Translator, sentences: Sequence[str], pieces: list[list[list[str]]], done: list
) -> list[Translation]:
    out, at = [], 0
    for text, parts in zip(sentences, pieces, strict=True):
        norm = normalize(text, lowercase=tr.data.lowercase, strip_accents=tr.data.strip_accents)
        out.append(_joined(norm, done[at : at + len(parts)]))
        at += len(parts)
    return out


@torch.no_grad()
def teacher_forced_perplexity(
    tr: Translator, pairs: Sequence[tuple[str, str]], batch_size: int
) -> float:
    """Teacher-forced perplexity of the references (the saved vocabularies encode them)."""
    from rnnkit.data.pairs import PairLoader

    src = [tr.src_vocab.encode(tr.tokenizer.tokenize(s)) for s, _ in pairs]
    tgt = [tr.tgt_vocab.encode(tr.tokenizer.tokenize(t)) for _, t in pairs]
    loader = PairLoader(src, tgt, tr.src_vocab, tr.tgt_vocab, batch_size, shuffle=False)
    model = tr.model
    assert model is not None
    dev = next(model.parameters()).device
    nll, n = 0.0, 0
    for b in loader:
        b = b.to(dev)
        loss, _ = model(b.src, b.src_lengths, b.tgt_in, targets=b.tgt_out)  # the layer's NLL
        k = int((b.tgt_out != tr.tgt_vocab.pad_id).sum())
        nll, n = nll + float(loss) * k, n + k
    return perplexity(nll, n)


def _rows(t: Translation) -> list[str]:
    """Row labels of an attention map: the output tokens, and ``<eos>`` if it was emitted."""
    assert t.attention is not None
    return [*t.tokens, "<eos>"][: t.attention.shape[0]]


def plot_attention_maps(
    out: Sequence[Translation], folder: Path, stem: str, limit: int | None = None
) -> None:
    """Attention heatmaps ``folder/<stem>-<i>.png`` (a split input: one per sentence)."""
    from rnnkit.viz.attention import plot_attention

    for i, t in enumerate(out[:limit]):
        parts = t.parts or [t]
        for j, p in enumerate(parts):
            if p.attention is not None:
                name = f"{stem}-{i}.png" if len(parts) == 1 else f"{stem}-{i}-{j}.png"
                plot_attention(p.attention, p.source_tokens, _rows(p), folder / name)
