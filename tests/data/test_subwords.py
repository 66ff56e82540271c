"""Hashed character n-grams: the n-grams, the hash, the fixed-width rows, the encoder."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.class_encoding import SUBWORD_SLOTS, InputEncoder
from rnnkit.data.classification import Examples
from rnnkit.data.subwords import SubwordHasher, char_ngrams, fnv1a


def test_ngrams_of_the_framed_word_shortest_first() -> None:
    assert char_ngrams("ab", 3, 4) == ["<ab", "ab>", "<ab>"]
    assert char_ngrams("é", 1, 2) == ["<", "é", ">", "<é", "é>"]


def test_fnv1a_matches_the_published_32_bit_values() -> None:
    assert fnv1a("") == 0x811C9DC5  # the offset basis
    assert fnv1a("a") == 0xE40C292C
    assert fnv1a("foobar") == 0xBF9CF968


def test_hasher_rows_are_fixed_width_in_range_and_zero_padded() -> None:
    h = SubwordHasher(buckets=50, slots=10)
    short, long = h.ids("cat"), h.ids("internationalisation")
    assert len(short) == len(long) == 10
    assert short[6:] == [0] * 4 and all(1 <= i < 50 for i in short[:6])
    assert 0 not in long  # truncated to the slots, the 3-grams first
    assert h.ids("cat") is short  # cached
    with pytest.raises(ValueError, match="`buckets` must be >= 2"):
        SubwordHasher(1)
    with pytest.raises(ValueError, match="1 <= n_min <= n_max, got 4, 3"):
        SubwordHasher(10, n_min=4, n_max=3)


def test_encoder_rows_hold_the_word_id_then_its_ngrams_even_for_unseen_words() -> None:
    train = Examples(["the cat sat", "a dog ran"], ["x", "y"], "text", ["0", "1"])
    enc = InputEncoder("text", subwords=1000).fit(train)
    (row,) = enc.encode(Examples(["the cats"], None, "text", ["0"]))
    assert row.shape == (2, 1 + SUBWORD_SLOTS) and row.dtype == torch.long
    assert row[1, 0] == enc.vocab.unk_id  # "cats" unseen
    assert (row[1, 1:] > 0).sum() == 4 + 3 + 2  # <cats>: its 3-, 4- and 5-grams
    hasher = SubwordHasher(1000, slots=SUBWORD_SLOTS)
    assert row[0, 1:].tolist() == hasher.ids("the")
    again = InputEncoder.from_dict(enc.to_dict())
    assert again.subwords == 1000
    assert torch.equal(again.encode(Examples(["the cats"], None, "text", ["0"]))[0], row)
    plain = InputEncoder("text").fit(train)
    assert plain.encode(train)[0].shape == (3,)  # no subwords: ids only, as before
    with pytest.raises(ValueError, match="`subwords` must be 0 \\(none\\) or >= 2"):
        InputEncoder("text", subwords=1)
