"""Text-generation metrics: corpus BLEU and chrF (sacrebleu's own), and perplexity.

BLEU and chrF are computed by sacrebleu on *detokenized* text with its default settings
(BLEU: 13a tokenization, ``exp`` smoothing; chrF: character 6-grams, beta 2), so the figures
are comparable with published sacreBLEU scores. Both are on a 0-100 scale.

>>> round(corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]), 6)
100.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["corpus_bleu", "corpus_chrf", "mean_perplexity", "perplexity", "sentence_bleu"]


def _refs(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]
) -> list[list[str | None]]:
    """sacrebleu's layout: a list of reference *streams*, each aligned with the hypotheses."""
    if isinstance(hypotheses, str):
        raise TypeError("`hypotheses` must be a sequence of strings, got one string")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"`references` must have one entry per hypothesis: {len(hypotheses)} hypotheses, "
            f"got {len(references)} references"
        )
    if not hypotheses:
        raise ValueError("`hypotheses` is empty")
    multi = [[r] if isinstance(r, str) else list(r) for r in references]
    width = max(len(r) for r in multi)
    # sacrebleu takes streams: stream k holds every sentence's k-th reference (None if absent)
    return [[r[k] if k < len(r) else None for r in multi] for k in range(width)]


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
) -> float:
    """Corpus BLEU (0-100) of detokenized ``hypotheses`` against one reference each (a
    string) or several (a list of strings)."""
    import sacrebleu

    streams = _refs(hypotheses, references)
    bleu = sacrebleu.corpus_bleu(list(hypotheses), streams, tokenize=tokenize, lowercase=lowercase)
    return float(bleu.score)


def sentence_bleu(hypothesis: str, references: Sequence[str], *, tokenize: str = "13a") -> float:
    """Smoothed BLEU (0-100) of one sentence (sacrebleu's ``sentence_bleu``)."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(hypothesis, list(references), tokenize=tokenize).score)


def corpus_chrf(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    *,
    word_order: int = 0,
) -> float:
    """Corpus chrF (0-100; ``word_order=2`` gives chrF++)."""
    import sacrebleu

    streams = _refs(hypotheses, references)
    return float(sacrebleu.corpus_chrf(list(hypotheses), streams, word_order=word_order).score)


def mean_perplexity(mean_nll: float) -> float:
    """``exp`` of the mean negative log-likelihood per token (nats), inf on overflow."""
    return math.exp(mean_nll) if mean_nll < 700 else math.inf


def perplexity(nll_sum: float, n_tokens: int) -> float:
    """``exp(nll_sum / n_tokens)``: perplexity from a summed negative log-likelihood (nats)
    over ``n_tokens`` tokens; inf on overflow."""
    if n_tokens <= 0:
        raise ValueError(f"`n_tokens` must be > 0, got {n_tokens}")
    return mean_perplexity(nll_sum / n_tokens)
