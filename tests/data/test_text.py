"""read_text: real files read; empty, binary and mis-encoded files get clear errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.text import encode_text, read_text
from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer
from rnnkit.data.vocab import Vocab


def test_reads_real_corpus(data_dir):
    text = read_text(data_dir / "timemachine" / "timemachine.txt")
    assert len(text) > 170_000 and "Time Traveller" in text


def test_newlines_and_bom_are_normalised(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert read_text(path) == "one\ntwo\nthree\n"


def test_bad_utf8_names_file_line_and_column(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"first line\nsecond caf" + b"\xe9 here\n")
    with pytest.raises(ValueError) as info:
        read_text(path)
    message = str(info.value)
    assert str(path) in message and "line 2, column 11" in message
    assert read_text(path, encoding="latin-1").endswith("café here\n")


def test_real_latin1_file_reports_position(data_dir):
    path = data_dir / "trec" / "train_5500.label"
    with pytest.raises(ValueError, match=r"train_5500\.label: line \d+, column \d+"):
        read_text(path)
    assert "DESC:manner" in read_text(path, encoding="latin-1")


def test_empty_binary_missing_and_directory(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt is empty"):
        read_text(empty)
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"abc\ndef\x00\x01\x02")
    with pytest.raises(ValueError, match=r"model\.bin looks like a binary file.*line 2, column 4"):
        read_text(binary)
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="is a directory"):
        read_text(tmp_path)
    with pytest.raises(ValueError, match="`encoding`"):
        read_text(binary, encoding="no-such-codec")


def test_encode_text():
    tok = WordTokenizer()
    vocab = Vocab.build(tok.tokenize("a b\nb c\n"))
    ids = encode_text("a b\nzz\n", tok, vocab)
    assert ids.dtype == torch.long and ids.tolist() == vocab.encode(
        ["a", "b", "<eos>", "<unk>", "<eos>"]
    )
    with pytest.raises(KeyError, match="'zz'"):
        encode_text("zz", tok, vocab, on_unknown="error")
    with pytest.raises(ValueError, match="no tokens"):
        encode_text("", CharTokenizer(), vocab)
