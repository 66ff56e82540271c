"""``rnnkit embed neighbors|analogy|eval|plot`` end to end through the CLI on a tiny file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data.word_vectors import WordVectors
from rnnkit.embed.verbs import evaluate, vectors_file
from rnnkit.viz.projection import pca_2d

R3 = math.sqrt(3)
WORDS = ["man", "woman", "king", "queen", "prince", "Paris"]


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    """king - man + woman = queen exactly (unit vectors); prince next to king."""
    rows = [
        [1, 0, 0, 0],
        [0.5, R3 / 2, 0, 0],
        [0.5, -1 / (2 * R3), math.sqrt(2 / 3), 0],
        [0, 1 / R3, math.sqrt(2 / 3), 0],
        [0.5, -1 / (2 * R3), math.sqrt(2 / 3), 0.2],
        [0, 0, -1, 0.3],
    ]
    return WordVectors(WORDS, np.array(rows, np.float32)).save(tmp_path / "v.txt")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_neighbors_lists_the_nearest_words(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        ["embed", "neighbors", "--vectors", str(vectors), "--words", "king"], capsys
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "king:" and lines[1].split()[0] == "prince" and len(lines) == 6
    args = [
        "embed",
        "neighbors",
        "--vectors",
        str(vectors),
        "--words",
        "[queen, paris]",
        "--k",
        "2",
    ]
    code, out, _ = _run(args, capsys)
    assert code == 0 and "queen:" in out and "Paris:" in out  # case-insensitive fallback
    assert len(out.splitlines()) == 6


def test_unknown_words_are_one_error_naming_them(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["embed", "neighbors", "--vectors", str(vectors), "--words", "[zebra, king, okapi]"]
    code, out, err = _run(args, capsys)
    assert code == 1 and out == ""
    assert "not in the vocabulary (6 words): 'zebra', 'okapi'" in err
    assert len(err.strip().splitlines()) == 1


def test_analogy_answers_a_b_c(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["embed", "analogy", "--vectors", str(vectors), "--question", "man : king :: woman"]
    code, out, _ = _run([*args, "--k", "2"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "man : king :: woman : ?"
    assert lines[1].split() == ["queen", "1.0000"] and len(lines) == 3


def test_analogy_needs_three_words(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["embed", "analogy", "--vectors", str(vectors), "--question", "man king"]
    code, _, err = _run(args, capsys)
    assert code == 1 and "`question` must name three words" in err and "got 2" in err


def test_eval_prints_every_set_with_oov_counts(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["embed", "eval", "--vectors", str(vectors)], capsys)
    assert code == 0
    assert "capital-common-countries" in out and "gram9-plural-verbs" in out
    assert "wordsim353" in out and "simlex999" in out
    total = next(x for x in out.splitlines() if x.split()[:1] == ["total"]).split()
    assert total[-1] == str(19544 - int(total[-2]))  # every question answered or counted oov
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nman woman king queen\nman woman king zebra\n")
    args = ["embed", "eval", "--vectors", str(vectors), "--analogies", str(questions)]
    code, out, _ = _run([*args, "--similarity", "[]"], capsys)
    family = next(x for x in out.splitlines() if "family" in x).split()
    assert family == ["family", "100.0%", "1", "1", "1"] and "spearman" not in out


def test_eval_returns_the_defaults_from_the_registry(vectors: Path) -> None:
    text = evaluate(str(vectors), analogies=None)
    assert "analogies" not in text and "wordsim353" in text and "simlex999" in text


def test_a_run_directory_is_read_through_its_vectors_file(vectors: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(FileNotFoundError, match="holds none of vectors.bin, vectors.txt"):
        vectors_file(run)
    (run / "vectors.txt").write_bytes(vectors.read_bytes())
    assert vectors_file(run) == run / "vectors.txt"
    with pytest.raises(FileNotFoundError, match="neither a vectors file nor a run directory"):
        vectors_file(tmp_path / "missing")


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_writes_a_png(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    if method == "tsne":
        pytest.importorskip("sklearn")
    out = tmp_path / "figs" / "words.png"
    args = ["embed", "plot", "--vectors", str(vectors), "--out", str(out), "--method", method]
    code, text, _ = _run(args, capsys)
    assert code == 0 and f"wrote {out} (6 words, {method})" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = _run([*args, "--words", "[king, zebra]"], capsys)
    assert code == 1 and "'zebra'" in err


def test_tsne_without_scikit_learn_says_so(
    vectors: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from rnnkit.embed.verbs import plot

    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # import fails
    with pytest.raises(ImportError, match="t-SNE needs scikit-learn.*method='pca'"):
        plot(str(vectors), out=str(tmp_path / "p.png"), method="tsne")


def test_pca_matches_the_covariance_eigenvectors() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5)) @ np.diag([5, 2, 1, 0.5, 0.1])
    points, explained = pca_2d(x)
    centred = x - x.mean(0)
    values, vecs = np.linalg.eigh(np.cov(centred.T))
    top = vecs[:, ::-1][:, :2]  # (E, 2), largest eigenvalue first
    np.testing.assert_allclose(np.abs(points), np.abs(centred @ top), atol=1e-9)
    np.testing.assert_allclose(explained, values[::-1][:2] / values.sum(), atol=1e-12)
