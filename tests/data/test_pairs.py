"""Sentence pairs: TSV reading and its errors, normalisation, filters, splits, vocabularies,
round trips of the tokenization, and length-bucketed batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.data.pairs import (
    PairsConfig,
    has_simple_prefix,
    is_header,
    load_pairs,
    make_tokenizer,
    normalize,
    read_pairs,
)


@pytest.fixture(scope="module")
def fra_slice(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 40th line of fra.txt (3,570 pairs, short and long), as a small TSV."""
    lines = (data_dir / "fra-eng" / "fra.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("pairs") / "fra-slice.txt"
    path.write_text("\n".join(lines[::40]) + "\n", encoding="utf-8")
    return path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_pairs_ignores_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "Go.\tVa !\tCC-BY 2.0 (France) Attribution\n\nHi.\tSalut.\n")
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut.")]


@pytest.mark.parametrize(
    "first", ["source\ttarget", "English\tFrench", "en\tfr", "SRC\tTGT", "text\ttranslation"]
)
def test_a_header_line_is_skipped_not_read_as_a_pair(
    tmp_path: Path, first: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, f"{first}\nGo.\tVa !\n")
    with caplog.at_level("INFO", logger="rnnkit.data.pairs"):
        assert read_pairs(path) == [("Go.", "Va !")]
    assert "skipped as a header" in caplog.text


@pytest.mark.parametrize(
    "cols", [["Go.", "Va !"], ["No", "Non"], ["ok", "ok"], ["Hi", "Salut"], ["text", "texte"]]
)
def test_a_short_first_pair_is_not_taken_for_a_header(cols: list[str]) -> None:
    assert not is_header(cols)


def test_only_the_first_line_can_be_a_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "Go.\tVa !\nsource\ttarget\n")
    assert read_pairs(path) == [("Go.", "Va !"), ("source", "target")]


def test_ragged_line_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "Go.\tVa !\nno tab here\n")
    with pytest.raises(ValueError, match=r"pairs\.tsv:2: expected source<TAB>target"):
        read_pairs(path)


@pytest.mark.parametrize(("line", "side"), [("\tVa !", "source"), ("Go.\t  ", "target")])
def test_empty_side_names_file_line_and_side(tmp_path: Path, line: str, side: str) -> None:
    path = _write(tmp_path, f"Hi.\tSalut.\n{line}\n")
    with pytest.raises(ValueError, match=rf"pairs\.tsv:2: empty {side}"):
        read_pairs(path)


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sentence pairs"):
        read_pairs(_write(tmp_path, "\n\n"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pairs(PairsConfig(path=str(tmp_path / "nope.tsv")))


def test_normalize() -> None:
    assert normalize("Ça  va\u202f!") == "ça va !"
    assert normalize("Ça va ?", strip_accents=True, lowercase=False) == "Ca va ?"
    assert normalize("C\u2019est l\u2019été.") == "c'est l'été."
    assert normalize("e\u0301") == "\u00e9"  # NFC: one code point


def test_simple_prefixes_like_the_tutorial() -> None:
    for yes in ("I am cold.", "I'm cold.", "He's late.", "they are here", "You’re right."):
        assert has_simple_prefix(yes), yes
    for no in ("It is cold.", "Hello.", "Iam cold", "We were here."):
        assert not has_simple_prefix(no), no


def test_tokenization_round_trips_on_real_pairs(fra_slice: Path) -> None:
    word, char = make_tokenizer("word"), make_tokenizer("char")
    n_split = 0
    for en, fr in read_pairs(fra_slice):
        for s in (normalize(en), normalize(fr)):
            toks = word.tokenize(s)
            assert word.tokenize(word.detokenize(toks)) == toks
            n_split += any(t in ".!?," for t in toks)
            assert char.detokenize(char.tokenize(s)) == s
    assert n_split > 1000  # punctuation really is split off
    assert word.tokenize("je n'ai pas faim, merci !") == ["je", "n'ai", "pas", "faim", ",",
                                                          "merci", "!"]  # fmt: skip


def test_splits_are_deterministic_and_vocab_comes_from_train(fra_slice: Path) -> None:
    cfg = PairsConfig(path=str(fra_slice), max_len=12, val_fraction=0.1, test_fraction=0.1)
    a, b = load_pairs(cfg), load_pairs(cfg)
    assert a.text == b.text and a.src_vocab == b.src_vocab
    c = load_pairs(PairsConfig(path=str(fra_slice), max_len=12, seed=1, val_fraction=0.1,
                               test_fraction=0.1))  # fmt: skip
    assert c.text["test"] != a.text["test"]
    n = sum(len(v) for v in a.text.values())
    assert len(a.text["test"]) == len(a.text["val"]) == round(n * 0.1)
    tok = a.tokenizer
    train_words = {w for s, _ in a.text["train"] for w in tok.tokenize(s)}
    test_only = {w for s, _ in a.text["test"] for w in tok.tokenize(s)} - train_words
    assert test_only and not any(w in a.src_vocab for w in test_only)
    assert set(a.src_vocab.tokens) - set(a.src_vocab.specials) == train_words
    for split, (src_ids, _) in a.ids.items():
        if split == "test":
            assert any(a.src_vocab.unk_id in ids for ids in src_ids)


def test_filters_and_direction(fra_slice: Path) -> None:
    base = {"path": str(fra_slice), "val_fraction": 0.0, "test_fraction": 0.1}
    short = load_pairs(PairsConfig(max_len=5, **base))
    tok = short.tokenizer
    assert all(len(tok.tokenize(s)) <= 5 and len(tok.tokenize(t)) <= 5
               for s, t in short.text["train"])  # fmt: skip
    simple = load_pairs(PairsConfig(simple_prefixes=True, **base))
    assert all(has_simple_prefix(s) for s, _ in simple.text["train"])
    rev = load_pairs(PairsConfig(simple_prefixes=True, reverse=True, **base))
    assert [(t, s) for s, t in rev.text["train"]] == simple.text["train"]
    few = load_pairs(PairsConfig(max_pairs=50, **base))
    assert sum(len(v) for v in few.text.values()) == 50
    chars = load_pairs(PairsConfig(tokenizer="char", max_len=20, **base))
    assert " " in chars.src_vocab and all(len(s) <= 20 for s, _ in chars.text["train"])
    with pytest.raises(ValueError, match="pass the filters"):
        load_pairs(PairsConfig(max_len=1, **base))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="unknown PairsConfig keys \\['max_length'\\]"):
        PairsConfig.from_dict({"max_length": 3})
    with pytest.raises(TypeError, match="`max_len` must be int | None"):
        PairsConfig(max_len="9")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`tokenizer`"):
        PairsConfig(tokenizer="bpe")


def test_bucketed_batches_cover_every_pair_once(fra_slice: Path) -> None:
    data = load_pairs(PairsConfig(path=str(fra_slice), max_len=15))
    loader = data.loader("train", 32)
    src_ids, tgt_ids = data.ids["train"]
    v = data.tgt_vocab
    seen, spread = [], []
    for batch in loader:
        S, B = batch.src.shape
        assert batch.tgt_in.shape == batch.tgt_out.shape and batch.tgt_in.shape[1] == B
        for j, i in enumerate(batch.index.tolist()):
            n, m = len(src_ids[i]), len(tgt_ids[i])
            assert batch.src[:n, j].tolist() == src_ids[i] and (batch.src[n:, j] == 0).all()
            assert batch.tgt_in[: m + 1, j].tolist() == [v.bos_id, *tgt_ids[i]]
            assert batch.tgt_out[: m + 1, j].tolist() == [*tgt_ids[i], v.eos_id]
            assert (batch.tgt_out[m + 1 :, j] == v.pad_id).all()
        assert batch.src_lengths.tolist() == [len(src_ids[i]) for i in batch.index.tolist()]
        seen += batch.index.tolist()
        keys = [max(len(src_ids[i]), len(tgt_ids[i]) + 1) for i in batch.index.tolist()]
        spread.append(max(keys) - min(keys))
    assert sorted(seen) == list(range(len(src_ids)))
    assert sum(spread) / len(spread) < 1  # bucketing keeps lengths within a batch close
    first = [b.index.tolist() for b in loader]
    loader.set_epoch(1)
    assert [b.index.tolist() for b in loader] != first
    loader.set_epoch(0)
    assert [b.index.tolist() for b in loader] == first
    assert isinstance(next(iter(data.loader("test", 8))).src, torch.Tensor)


def test_bom_is_dropped_and_bad_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_bytes("\ufeffGo.\tVa !\n".encode() + b"Hi.\tSalut \xff\n")
    with pytest.raises(ValueError, match=r"pairs\.tsv.*line 2"):
        read_pairs(path)
    path.write_bytes("\ufeffGo.\tVa !\n".encode())
    assert read_pairs(path) == [("Go.", "Va !")]  # no BOM inside the first source


def test_real_fra_txt_has_two_columns_and_reads_whole(data_dir: Path) -> None:
    # The mirror's fra.txt (manythings 2017) has no attribution column: every line is 2.
    path = data_dir / "fra-eng" / "fra.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert {line.count("\t") for line in lines[:: len(lines) // 500]} == {1}
    assert len(read_pairs(path)) == 142787


def test_newer_manythings_attribution_column_is_accepted(tmp_path: Path) -> None:
    note = "CC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #1158250 (Wittydev)"
    path = _write(tmp_path, f"Go.\tVa !\t{note}\nRun!\tCours\u202f!\t{note}\n")
    assert read_pairs(path) == [("Go.", "Va !"), ("Run!", "Cours\u202f!")]


@pytest.mark.parametrize(
    "line", ["I see.\tJe\tvois.", "I see.\tJe vois.\tCC-BY 2.0\textra", "a\tb\tc\td"]
)
def test_tab_inside_a_sentence_is_refused(tmp_path: Path, line: str) -> None:
    path = _write(tmp_path, f"Hi.\tSalut.\n{line}\n")
    with pytest.raises(ValueError, match=r"pairs\.tsv:2: expected 2 tab-separated columns"):
        read_pairs(path)


def test_pairs_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.tsv"
    path.write_bytes("Coffee.\tCaf\u00e9.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.tsv: line 1, column 12.*`encoding`"):
        read_pairs(path)
    assert read_pairs(path, encoding="latin-1") == [("Coffee.", "Caf\u00e9.")]
    assert PairsConfig(encoding="latin-1").encoding == "latin-1"
