"""Vocab: special ids, frequency order, filters, <unk>, round trips and JSON files."""

from __future__ import annotations

import json

import pytest

from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer
from rnnkit.data.vocab import DEFAULT_SPECIALS, Vocab


def test_specials_get_the_lowest_ids_in_order():
    vocab = Vocab.build(["b", "a", "b"])
    assert vocab.tokens[: len(DEFAULT_SPECIALS)] == list(DEFAULT_SPECIALS)
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    custom = Vocab.build(["x"], specials=("<unk>",), unk_token="<unk>")
    assert custom.unk_id == 0 and custom.pad_id is None and custom.eos_id is None


def test_order_is_frequency_then_first_appearance():
    vocab = Vocab.build(list("cabbaged"))  # b:2 a:2 c:1 g:1 e:1 d:1
    assert vocab.tokens[4:] == ["a", "b", "c", "g", "e", "d"]
    lex = Vocab.build(list("cabbaged"), order="lexicographic")
    assert lex.tokens[4:] == sorted("cabged")


def test_min_freq_and_max_size():
    tokens = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]
    assert Vocab.build(tokens, min_freq=2).tokens[4:] == ["a", "b", "c"]
    capped = Vocab.build(tokens, max_size=6)
    assert len(capped) == 6 and capped.tokens[4:] == ["a", "b"]
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(tokens, max_size=2)
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(tokens, min_freq=0)


def test_unknown_tokens_map_to_unk_or_raise():
    vocab = Vocab.build(["a", "b"])
    assert vocab.encode(["a", "zzz"]) == [vocab["a"], vocab.unk_id]
    assert "a" in vocab and "zzz" not in vocab
    assert vocab.unknown(["a", "q", "r", "q"]) == ["q", "r"]
    with pytest.raises(KeyError, match="'zzz'"):
        vocab.encode(["zzz"], on_unknown="error")
    closed = Vocab.build(["a"], specials=(), unk_token=None)
    with pytest.raises(KeyError, match="no `unk_token`"):
        closed.encode(["b"])


def test_ptb_unk_and_eos_share_the_special_ids(data_dir):
    lines = (data_dir / "ptb" / "ptb.valid.txt").read_text().splitlines()[:50]
    tok = WordTokenizer()
    tokens = tok.tokenize("\n".join(lines) + "\n")
    vocab = Vocab.build(tokens)
    assert "<unk>" in tokens  # PTB's own unknown word
    ids = vocab.encode(tokens)
    assert ids.count(vocab.eos_id) == 50
    assert vocab.decode(ids) == tokens  # no token maps to <unk> except PTB's own


def test_char_round_trip_on_real_text(data_dir):
    text = (data_dir / "timemachine" / "timemachine.txt").read_text()[:3000]
    tok = CharTokenizer()
    vocab = Vocab.build(tok.tokenize(text))
    assert tok.detokenize(vocab.decode(vocab.encode(tok.tokenize(text)))) == text
    assert vocab.decode(vocab.encode("ab"), skip_specials=True) == ["a", "b"]
    with pytest.raises(IndexError, match="out of range"):
        vocab.decode([len(vocab)])


def test_save_load_round_trip(tmp_path):
    vocab = Vocab.build("the cat sat on the mat é".split(), min_freq=1)
    path = vocab.save(tmp_path / "vocab.json")
    again = Vocab.load(path)
    assert again == vocab and again.tokens == vocab.tokens and again.unk_id == vocab.unk_id
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "not an rnnkit vocabulary"),
        ('{"format": "rnnkit.vocab", "version": 99, "tokens": []}', "version 99"),
        (
            '{"format": "rnnkit.vocab", "version": 1, "tokens": ["a", "a"], "specials": []}',
            "corrupt",
        ),
    ],
)
def test_foreign_or_corrupt_json_names_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        Vocab.load(path)
    assert str(path) in str(info.value)


def test_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Vocab.load(tmp_path / "nope.json")
