"""Tokenizers: exact char round trip, PTB-style word lines, punctuation split."""

from __future__ import annotations

import pytest

from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer, get_tokenizer


def test_char_round_trip_is_exact():
    text = "Héllo,\n\twörld!  \r\n😀"
    tok = CharTokenizer()
    assert tok.tokenize(text)[:2] == ["H", "é"]
    assert tok.detokenize(tok.tokenize(text)) == text


def test_word_tokenizer_matches_word_language_model(data_dir):
    # PyTorch's word_language_model: for line in file: words = line.split() + ['<eos>']
    path = data_dir / "ptb" / "ptb.test.txt"
    with open(path, encoding="utf-8") as f:
        lines = [next(f) for _ in range(40)]
    expected = [w for line in lines for w in line.split() + ["<eos>"]]
    tokens = WordTokenizer().tokenize("".join(lines))
    assert tokens == expected
    assert tokens.count("<eos>") == 40


def test_word_round_trip_up_to_whitespace():
    tok = WordTokenizer()
    text = "the cat  sat\n\non the mat\n"
    tokens = tok.tokenize(text)
    assert tokens == ["the", "cat", "sat", "<eos>", "<eos>", "on", "the", "mat", "<eos>"]
    assert tok.detokenize(tokens) == "the cat sat\n\non the mat\n"
    assert tok.tokenize("no newline") == ["no", "newline", "<eos>"]


def test_punctuation_split_keeps_inner_apostrophes_and_round_trips():
    tok = get_tokenizer("word-punct", lowercase=True)
    assert tok.tokenize("I'm cold. Aujourd'hui, well-known!") == [
        "i'm", "cold", ".", "aujourd'hui", ",", "well-known", "!",
    ]  # fmt: skip
    assert (
        tok.detokenize(tok.tokenize("I'm cold, (really) hungry.")) == "i'm cold, (really) hungry."
    )


def test_unicode_normalisation():
    decomposed = "cafe\u0301"  # e + combining acute
    assert WordTokenizer(eos_token=None, normalize="NFC").tokenize(decomposed) == ["caf\u00e9"]
    assert WordTokenizer(eos_token=None).tokenize(decomposed) == [decomposed]


def test_real_french_pairs_tokenize(data_dir):
    with open(data_dir / "fra-eng" / "fra.txt", encoding="utf-8") as f:
        pairs = [next(f).rstrip("\n").split("\t") for _ in range(2000)]
    tok = get_tokenizer("word-punct")
    for en, fr in pairs[::97]:
        for side in (en, fr):
            tokens = tok.tokenize(side)
            assert tokens and all(t.strip() == t and t for t in tokens)
            assert "".join(tokens) == "".join(side.split())  # nothing lost but spaces


def test_unknown_tokenizer_name():
    with pytest.raises(ValueError, match="'char', 'word' or 'word-punct', got 'bpe'"):
        get_tokenizer("bpe")
    with pytest.raises(ValueError, match="normalize"):
        WordTokenizer(normalize="nfc")  # type: ignore[arg-type]
