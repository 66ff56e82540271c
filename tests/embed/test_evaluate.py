"""Analogy accuracy and word-similarity correlation: hand-made vectors with known answers,
Spearman against scipy, and the same figures as gensim's evaluate_word_analogies /
evaluate_word_pairs on the real test files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.word_vectors import WordVectors
from rnnkit.embed.evaluate import (
    analogy_accuracy,
    read_analogies,
    read_word_pairs,
    similarity_correlation,
    spearman,
)

R3 = math.sqrt(3)


def _royals() -> WordVectors:
    """Unit vectors with king - man + woman = queen exactly (and queen - woman + man = king);
    prince is nearest to king, apple far from all."""
    man = [1, 0, 0, 0]
    woman = [0.5, R3 / 2, 0, 0]
    king = [0.5, -1 / (2 * R3), math.sqrt(2 / 3), 0]
    queen = [0, 1 / R3, math.sqrt(2 / 3), 0]
    prince = np.array(king) + [0, 0, 0, 0.2]
    apple = [0, 0, -1, 0.3]
    vectors = np.array([man, woman, king, queen, prince, apple], np.float32)
    return WordVectors(["man", "woman", "king", "queen", "prince", "Apple"], vectors)


QUESTIONS = """\
: family
man woman king queen
WOMAN MAN QUEEN KING
man woman king apple
man woman king zebra
: self-excluded
man man king prince
man woman unicorn queen
"""


def test_3cosadd_answers_known_analogies_and_counts_oov(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(QUESTIONS)
    result = analogy_accuracy(_royals(), path)
    family, excluded = result.sections
    assert (family.name, family.correct, family.total, family.oov) == ("family", 2, 3, 1)
    # b - a + c = king itself: the question word is excluded, so prince is the answer
    assert (excluded.correct, excluded.total, excluded.oov) == (1, 1, 1)
    assert (result.total.correct, result.total.total, result.total.oov) == (3, 4, 2)
    assert result.accuracy == pytest.approx(0.75)
    assert analogy_accuracy(_royals(), path, batch_size=1) == result  # batching changes nothing
    rows = result.to_frame()
    assert list(rows["section"]) == ["family", "self-excluded", "total"]
    assert rows["accuracy"].iloc[0] == pytest.approx(2 / 3)


def test_restrict_vocab_makes_rare_words_oov(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(QUESTIONS)
    family, excluded = analogy_accuracy(_royals(), path, restrict_vocab=4).sections
    assert (family.correct, family.total, family.oov) == (2, 2, 2)  # apple is 6th
    assert (excluded.total, excluded.oov) == (0, 2)
    assert math.isnan(excluded.accuracy)


def test_a_malformed_analogy_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(": s\na b c d\na b c\n")
    with pytest.raises(ValueError, match=r"q.txt: line 3: expected 4 words 'a b c d', got 3"):
        read_analogies(path)
    path.write_text("a b c d\n")
    with pytest.raises(ValueError, match=r"line 1: a question before any ': section' line"):
        read_analogies(path)


def test_the_real_test_files_read_completely(data_dir: Path) -> None:
    folder = data_dir / "word-similarity"
    sections = read_analogies(folder / "questions-words.txt")
    assert len(sections) == 14 and sum(len(q) for _, q in sections) == 19544
    assert sections[0][0] == "capital-common-countries"
    assert len(read_word_pairs(folder / "wordsim353.tsv")) == 353
    simlex = read_word_pairs(folder / "simlex999.txt")
    assert len(simlex) == 999 and simlex[0][:3] == ("old", "new", 1.58)


def test_a_simlex_header_picks_its_score_column(tmp_path: Path) -> None:
    path = tmp_path / "SimLex-999.txt"
    path.write_text("word1\tword2\tPOS\tSimLex999\tconc(w1)\nold\tnew\tA\t1.58\t2.72\n")
    assert read_word_pairs(path) == [("old", "new", 1.58, 2)]
    path.write_text("# c\na\tb\n")
    with pytest.raises(ValueError, match=r"line 2: expected 'word1<TAB>word2<TAB>score'"):
        read_word_pairs(path)


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, size=40).astype(float)  # many ties
    y = x + rng.normal(size=40)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 35]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1.0], [2.0]))


def test_similarity_correlation_on_hand_made_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    # cosines: king-prince 0.98, man-woman 0.5, woman-apple 0 and man-apple 0 (a tie)
    path.write_text(
        "# w1\tw2\tscore\nking\tprince\t9\nMan\twoman\t6\nwoman\tapple\t5\nman\tapple\t1\n"
        "man\tzebra\t3\nokapi\tzebra\t2\n"
    )
    result = similarity_correlation(_royals(), path)
    assert (result.pairs, result.oov, result.oov_words) == (4, 2, ["zebra", "okapi"])
    # ranks: gold 4 3 2 1, model 4 3 1.5 1.5 -> rho = 4.5 / sqrt(5 * 4.5)
    assert result.spearman == pytest.approx(4.5 / math.sqrt(22.5), abs=1e-9)
    unit = _royals().unit_vectors()
    cosines = [unit[2] @ unit[4], unit[0] @ unit[1], unit[1] @ unit[5], unit[0] @ unit[5]]
    expected = float(np.corrcoef([9, 6, 5, 1], cosines)[0, 1])
    assert result.pearson == pytest.approx(expected, abs=1e-6)


def _random_vectors(words: list[str], dim: int, seed: int) -> WordVectors:
    rng = np.random.default_rng(seed)
    return WordVectors(words, rng.standard_normal((len(words), dim)).astype(np.float32))


def _vocabulary(lines: list[str], drop_every: int) -> list[str]:
    """The distinct words of ``lines``, first seen first, every ``drop_every``-th dropped
    (those become OOV); a capitalised duplicate of some words tests the case handling."""
    seen: dict[str, None] = {}
    for line in lines:
        for word in line.split("\t")[:2] if "\t" in line else line.split():
            seen.setdefault(word, None)
    words = [w for i, w in enumerate(seen) if i % drop_every]
    lowered = {w.lower() for w in words}
    return words + [w.upper() for w in words[::7] if w.upper().lower() in lowered][:20]


def test_analogies_agree_with_gensim(data_dir: Path, tmp_path: Path) -> None:
    keyed = pytest.importorskip("gensim.models").KeyedVectors
    lines = (data_dir / "word-similarity" / "questions-words.txt").read_text().splitlines()
    subset = lines[:240] + [x for x in lines if x.startswith(": gram3")][:1]
    start = lines.index(": gram3-comparative")
    subset += lines[start + 1 : start + 300]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(subset) + "\n")
    words = _vocabulary([x for x in subset if not x.startswith(":")], drop_every=9)
    wv = _random_vectors(words, dim=3, seed=0)  # low dimension: many answers right by chance
    wv.save(tmp_path / "v.bin", binary=True)
    kv = keyed.load_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    for restrict in (300_000, 150):
        ours = analogy_accuracy(wv, path, restrict_vocab=restrict)
        _, theirs = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict)
        assert [s.name for s in ours.sections] + ["Total accuracy"] == [
            s["section"] for s in theirs
        ]
        for mine, their in zip([*ours.sections, ours.total], theirs, strict=True):
            assert mine.correct == len(their["correct"]), mine.name
            assert mine.total == len(their["correct"]) + len(their["incorrect"]), mine.name
        assert ours.total.correct > 0 and ours.total.oov > 0
        assert ours.total.oov + ours.total.total == len(subset) - 2


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_word_pairs_agree_with_gensim(data_dir: Path, tmp_path: Path, name: str) -> None:
    keyed = pytest.importorskip("gensim.models").KeyedVectors
    path = data_dir / "word-similarity" / name
    lines = [x for x in path.read_text().splitlines() if not x.startswith("#")]
    wv = _random_vectors(_vocabulary(lines, drop_every=5), dim=8, seed=1)
    wv.save(tmp_path / "v.txt")
    kv = keyed.load_word2vec_format(str(tmp_path / "v.txt"))
    ours = similarity_correlation(wv, path)
    pearson, rho, oov_ratio = kv.evaluate_word_pairs(str(path))
    assert ours.spearman == pytest.approx(rho.statistic, abs=1e-12)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-6)  # theirs: float32 sums
    assert 100 * ours.oov / (ours.oov + ours.pairs) == pytest.approx(oov_ratio)
    assert ours.oov > 0 and ours.pairs + ours.oov == len(lines)
