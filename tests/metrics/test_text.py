"""Text metrics agree with sacrebleu's own figures on known pairs."""

from __future__ import annotations

import math

import pytest
import sacrebleu

from rnnkit.metrics.text import corpus_bleu, corpus_chrf, perplexity, sentence_bleu

HYPS = ["the cat is on the mat.", "there is a cat on the mat", "i am cold."]
REFS = ["the cat is on the mat.", "a cat is on the mat.", "i'm cold."]


def test_bleu_matches_sacrebleu_on_known_pairs() -> None:
    expected = sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert corpus_bleu(HYPS, REFS) == pytest.approx(expected)
    assert 0 < expected < 100
    assert corpus_bleu(REFS, REFS) == pytest.approx(100.0)


def test_bleu_known_value_by_hand() -> None:
    # one 4-token hypothesis, reference 5 tokens: precisions 3/4, 2/3, 1/2, 0/1 -> smoothed
    hyp, ref = "a b c x", "a b c d e"
    expected = sacrebleu.corpus_bleu([hyp], [[ref]]).score
    bp = math.exp(1 - 5 / 4)
    by_hand = 100 * bp * math.exp(sum(math.log(p) for p in (3 / 4, 2 / 3, 1 / 2, 1 / 2)) / 4)
    assert corpus_bleu([hyp], [ref]) == pytest.approx(expected)
    assert expected == pytest.approx(by_hand)  # exp smoothing: 0/1 counts as 1/2


def test_multiple_references() -> None:
    refs = [["the cat is on the mat.", "a cat sits on the mat."]] * 3
    expected = sacrebleu.corpus_bleu(HYPS, [[r[0] for r in refs], [r[1] for r in refs]]).score
    assert corpus_bleu(HYPS, refs) == pytest.approx(expected)


def test_chrf_and_sentence_bleu_match_sacrebleu() -> None:
    assert corpus_chrf(HYPS, REFS) == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    pp = sacrebleu.corpus_chrf(HYPS, [REFS], word_order=2).score
    assert corpus_chrf(HYPS, REFS, word_order=2) == pytest.approx(pp)
    s = sacrebleu.sentence_bleu(HYPS[1], [REFS[1]]).score
    assert sentence_bleu(HYPS[1], [REFS[1]]) == pytest.approx(s)


def test_perplexity() -> None:
    assert perplexity(3 * math.log(7.0), 3) == pytest.approx(7.0)
    assert perplexity(1e6, 1) == math.inf
    with pytest.raises(ValueError, match="`n_tokens`"):
        perplexity(1.0, 0)


def test_mismatched_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="3 hypotheses, got 2 references"):
        corpus_bleu(HYPS, REFS[:2])
    with pytest.raises(TypeError, match="one string"):
        corpus_bleu("a b", ["a b"])  # type: ignore[arg-type]
