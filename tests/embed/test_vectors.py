"""Word-vector files: word2vec text/binary and GloVe round trips (also through gensim), and a
clear one-line error naming the file and line for every kind of bad file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.word_vectors import WordVectors, load_vectors

WORDS = ["the", "of", "König", "é", "x_1", "3"]


@pytest.fixture
def wv() -> WordVectors:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(WORDS), 7)).astype(np.float32) * 10.0 ** rng.integers(
        -6, 4, size=(len(WORDS), 7)
    )
    return WordVectors(WORDS, vectors)


def _same(a: WordVectors, words: list[str], vectors: np.ndarray) -> None:
    assert a.words == words
    assert a.vectors.dtype == np.float32
    np.testing.assert_array_equal(a.vectors, vectors)  # bit for bit, text included


def test_the_container_answers_lookups(wv: WordVectors) -> None:
    assert len(wv) == 6 and wv.dim == 7
    assert wv.index("König") == 2 and wv.index("könig") is None
    assert "é" in wv and "zz" not in wv
    np.testing.assert_array_equal(wv.get("of"), wv.vectors[1])
    assert wv.get("zz") is None
    with pytest.raises(KeyError, match="'zz' is not in the vocabulary"):
        wv["zz"]
    with pytest.raises(ValueError, match="'a' appears twice"):
        WordVectors(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2 `words` but `vectors` has 3 rows"):
        WordVectors(["a", "b"], np.zeros((3, 2)))


@pytest.mark.parametrize("binary", [False, True])
def test_save_then_load_gives_the_same_words_and_vectors(
    wv: WordVectors, tmp_path: Path, binary: bool
) -> None:
    path = wv.save(tmp_path / "v.bin", binary=binary)
    for fmt in ("auto", "word2vec-bin" if binary else "word2vec"):
        _same(load_vectors(path, format=fmt), WORDS, wv.vectors)
    _same(load_vectors(path, limit=2), WORDS[:2], wv.vectors[:2])


def test_the_binary_layout_is_the_c_tools(tmp_path: Path) -> None:
    path = WordVectors(["ab", "c"], np.array([[1.0, -2.0], [0.5, 3.0]])).save(
        tmp_path / "v.bin", binary=True
    )
    f32 = np.array([1.0, -2.0], "<f4").tobytes(), np.array([0.5, 3.0], "<f4").tobytes()
    assert path.read_bytes() == b"2 2\nab " + f32[0] + b"\nc " + f32[1] + b"\n"


def test_glove_text_without_a_header_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 -0.2 3e-05\nof 1 2 3\n3 4.5 -1 0\n", encoding="utf-8")
    expected = np.array([[0.1, -0.2, 3e-05], [1, 2, 3], [4.5, -1, 0]], np.float32)
    for fmt in ("auto", "glove"):
        _same(load_vectors(path, format=fmt), ["the", "of", "3"], expected)
    _same(load_vectors(path, limit=1), ["the"], expected[:1])


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_ours_and_we_read_gensims(
    wv: WordVectors, tmp_path: Path, binary: bool
) -> None:
    keyed = pytest.importorskip("gensim.models").KeyedVectors
    ours = wv.save(tmp_path / "ours", binary=binary)
    kv = keyed.load_word2vec_format(str(ours), binary=binary)
    assert kv.index_to_key == WORDS
    np.testing.assert_array_equal(kv.vectors, wv.vectors)
    kv.save_word2vec_format(str(tmp_path / "theirs"), binary=binary)  # no "\n" after a vector
    _same(load_vectors(tmp_path / "theirs"), WORDS, wv.vectors)
    kv.save_word2vec_format(str(tmp_path / "glove"), write_header=False)
    _same(load_vectors(tmp_path / "glove"), WORDS, wv.vectors)


def test_words_that_cannot_be_saved_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'new york' cannot be saved"):
        WordVectors(["new york"], np.zeros((1, 2))).save(tmp_path / "v.txt")


def _write(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "bad.vec"
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"bad.vec is empty"),
        ("3 2\na 1 2\nb 1 2 3\nc 1 2\n", r"line 3: 'b' has 3 values, expected 2 .*header"),
        ("a 1 2\nb 1\n", r"line 2: 'b' has 1 values, expected 2 as the first row says"),
        ("3 0\na\n", r"line 1: a word2vec header must be two positive integers 'V E'.*got '3 0'"),
        ("-2 2\na 1 2\n", r"line 1: a word2vec header must be two positive .*got '-2 2'"),
        ("2 x\na 1 2\n", r"line 1: a word2vec header must be two positive .*got '2 x'"),
        ("3 2\na 1 2\nb 1 2\n", r"header \(line 1\) says 3 words, but the file has only 2 rows"),
        ("1 2\na 1 2\nb 1 2\n", r"line 3: the header \(line 1\) says 1 words, but .* more rows"),
        ("2 2\na 1 2\nb nan 2\n", r"line 3: the vector of 'b' holds nan \(NaN/inf\)"),
        ("a 1 inf\n", r"line 1: the vector of 'a' holds inf"),
        ("a 1 2\nb 1 x\n", r"line 2: 'b' has a value 'x', not a number"),
        ("a 1 2\n\nb 1 2\n", r"line 2 is blank"),
    ],
)
def test_a_bad_text_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        load_vectors(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_an_explicit_word2vec_format_needs_its_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "a 1 2\n")
    with pytest.raises(ValueError, match="line 1: a word2vec header .* needs format='glove'"):
        load_vectors(path, format="word2vec")
    with pytest.raises(ValueError, match="`format` must be one of auto, word2vec"):
        load_vectors(path, format="fasttext")


def test_non_utf8_bytes_name_the_line_and_offset_and_advise_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path, b"2 2\nab 1 2\nk\xf6nig 1 2\n")
    with pytest.raises(ValueError, match=r"line 3 \(byte offset 12\): bytes b'\\xf6' are not"):
        load_vectors(path)
    with pytest.raises(ValueError, match="`--encoding`"):
        load_vectors(path)
    assert load_vectors(path, encoding="latin-1").words == ["ab", "könig"]


def test_a_bad_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    row = np.array([1.0, 2.0], "<f4").tobytes()
    nan = np.array([1.0, np.nan], "<f4").tobytes()
    cases = [
        (b"2 2\na " + row + b"\nb " + row[:5], r"ends inside word 2 \(byte offset 15\)"),
        (b"1 2\na " + row + b"\nb " + row + b"\n", r"says 1 words, but more data follows"),
        (b"2 2\na " + row + b"\nb " + nan + b"\n", r"word 2 \(byte offset 15\).* holds NaN"),
        (b"1 2\n\xff " + row + b"\n", r"word 1 \(byte offset 4\): bytes b'\\xff' .*`--encoding`"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            load_vectors(_write(tmp_path, data))


def test_a_duplicate_word_warns_and_keeps_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "3 2\na 1 2\nb 3 4\na 5 6\n")
    with caplog.at_level(logging.WARNING):
        wv = load_vectors(path)
    assert wv.words == ["a", "b"] and wv["a"].tolist() == [1, 2]
    assert "line 4: 'a' appears again; the first is kept" in caplog.text
    binary = WordVectors(["a", "b"], np.ones((2, 2))).save(tmp_path / "v.bin", binary=True)
    binary.write_bytes(binary.read_bytes().replace(b"b ", b"a "))
    with caplog.at_level(logging.WARNING):
        assert load_vectors(binary).words == ["a"]
    assert "word 2" in caplog.text


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.vec does not exist"):
        load_vectors(tmp_path / "nope.vec")


def test_most_similar_is_3cosadd_without_the_query_words() -> None:
    wv = WordVectors(
        ["king", "queen", "man", "woman", "apple"],
        np.array([[1, 1], [1, 3], [2, 0], [2, 2], [-1, 0]], np.float32),
    )
    (best, cos), *_ = wv.most_similar(["king", "woman"], ["man"], k=2)
    assert best == "queen"
    unit = wv.unit_vectors()
    query = unit[0] + unit[3] - unit[2]
    assert cos == pytest.approx(float(unit[1] @ query / np.linalg.norm(query)), abs=1e-6)
    assert [w for w, _ in wv.most_similar(["king"], k=10)] == ["woman", "queen", "man", "apple"]
