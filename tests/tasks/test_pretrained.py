"""``--embeddings FILE`` / ``--freeze-embeddings`` (issue #15): the coverage figures, the rows
copied, the padding row, frozen vs trained tables, the dimension rules, the refusals (series
data, a tied frozen table, a resume with a changed or a dropped file) and each task's train
verb from the CLI."""

from __future__ import annotations

import csv
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.cli.main import COMMANDS, _load, main
from rnnkit.data.pairs import has_simple_prefix, read_pairs
from rnnkit.data.vocab import Vocab
from rnnkit.data.word_vectors import WordVectors, load_vectors
from rnnkit.tasks.classify import Classifier
from rnnkit.tasks.flags import EMBEDDING_FLAGS
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.pretrained import Coverage, Pretrained, init_embedding
from rnnkit.tasks.translator import Translator
from rnnkit.train import read_run_config

LM_FLAGS = [
    "--level", "word", "--hidden-size", "16", "--num-layers", "1", "--bptt", "16",
    "--batch-size", "4", "--num-samples", "1", "--sample-length", "5", "--progress", "false",
]  # fmt: skip
TINY_LM = {"embedding_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
FAST = {"progress": False, "eval_every": None, "lr": 1e-2}


def _save(path: Path, words: list[str], dim: int, seed: int = 0) -> Path:
    """A word2vec text file of ``words`` with random vectors (no whitespace in a word)."""
    words = list(dict.fromkeys(w for w in words if w and not re.search(r"\s", w)))
    vectors = np.random.default_rng(seed).normal(size=(len(words), dim))
    WordVectors(words, vectors).save(path)
    return path


def _words(text: str, every: int = 2) -> list[str]:
    """Every ``every``-th distinct lower-cased word of ``text``: a file covering part of it."""
    return list(dict.fromkeys(re.findall(r"[\w']+|[^\w\s]", text.lower())))[::every]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(text[5000:12000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lm_vectors(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    words = text_file.read_text(encoding="utf-8").split()
    return _save(tmp_path_factory.mktemp("vec") / "lm.vec", words[::2] + ["<unk>"], 8)


# ---------------------------------------------------------------- init_embedding


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Vocab, Path, WordVectors]:
    vocab = Vocab(["<pad>", "<unk>", "<bos>", "<eos>", "the", "cat", "Dog", "sat", "zebra"])
    path = _save(tmp_path / "v.txt", ["dog", "the", "<unk>", "cat", "emu"], 4)
    return vocab, path, load_vectors(path)


def test_coverage_counts_words_found_and_lists_the_missing_in_frequency_order(tiny) -> None:
    vocab, path, wv = tiny
    table = nn.Embedding(len(vocab), 4, padding_idx=vocab.pad_id)
    cov = init_embedding(table, vocab.tokens, path, freeze=False, specials=vocab.specials)
    # "the", "cat" exactly, "Dog" as "dog"; the specials are not counted (<unk> is copied)
    assert (cov.found, cov.total, cov.lowercased) == (3, 5, 1)
    assert cov.missing == ("sat", "zebra") and cov.fraction == pytest.approx(0.6)
    assert "3 of 5 words found" in str(cov) and "(60.0%, 1 lower-cased)" in str(cov)
    assert "most frequent not found: sat, zebra;" in str(cov)
    for word, source in (("the", "the"), ("cat", "cat"), ("Dog", "dog"), ("<unk>", "<unk>")):
        row = table.weight[vocab[word]].detach().numpy()
        assert np.array_equal(row, wv[source]), word  # copied exactly
    assert not table.weight[vocab.pad_id].any()  # the padding row stays zero
    assert table.weight.requires_grad


def test_rows_not_found_keep_their_initialisation_and_lowercase_fallback_is_optional(
    tiny,
) -> None:
    vocab, path, _ = tiny
    table = nn.Embedding(len(vocab), 4, padding_idx=vocab.pad_id)
    before = table.weight.detach().clone()
    cov = init_embedding(
        table, vocab.tokens, path, freeze=True, specials=vocab.specials, lowercase_fallback=False
    )
    assert (cov.found, cov.missing) == (2, ("Dog", "sat", "zebra"))
    for word in ("Dog", "sat", "zebra", "<bos>"):
        assert torch.equal(table.weight[vocab[word]], before[vocab[word]]), word
    assert not table.weight.requires_grad and cov.frozen and str(cov).endswith("frozen")


def test_a_dimension_mismatch_names_both_sizes_the_file_and_the_flag(tiny) -> None:
    vocab, path, _ = tiny
    table = nn.Embedding(len(vocab), 6)
    with pytest.raises(ValueError) as err:
        init_embedding(table, vocab.tokens, path, freeze=False)
    msg = str(err.value)
    assert "4-dimensional vectors" in msg and "embedding_dim is 6" in msg
    assert str(path) in msg and "--embedding-dim 4" in msg
    with pytest.raises(ValueError, match=r"has 4-dimensional .* embedding_dim is 6"):
        Pretrained(str(path)).model_dim(6)
    assert Pretrained(str(path)).model_dim(None) == {"embedding_dim": 4}  # the file's E


def test_freeze_or_tgt_without_a_file_is_an_error() -> None:
    assert Pretrained.from_flags(None) is None
    with pytest.raises(ValueError, match="--freeze-embeddings.*needs `--embeddings FILE`"):
        Pretrained.from_flags(freeze=True)
    saved = {"file": "a.vec", "freeze": True, "tgt_file": None}
    assert Pretrained.from_flags(saved) == Pretrained("a.vec", True)  # a resume's own


# ---------------------------------------------------------------- training: frozen vs not


def _lm(text_file: Path, **model: object) -> TextLM:
    data = {"data": str(text_file), "bptt": 16, "batch_size": 4, "level": "word"}
    return TextLM.create("demo", model={**TINY_LM, **model}, data=data)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_frozen_table_stays_bitwise_unchanged_and_a_free_one_trains(
    text_file: Path, lm_vectors: Path, freeze: bool
) -> None:
    lm = _lm(text_file, embedding_dropout=0.2)  # embedding dropout masks a copy only
    pre = Pretrained(str(lm_vectors), freeze=freeze)
    pre.apply(lm)
    start = lm.model.embedding.weight.detach().clone()
    lm.pretrained = pre  # fit applies it again (the same rows), then trains
    train = {**FAST, "max_steps": 4, "optimizer": "adamw", "weight_decay": 0.5}
    lm.fit(None, train)
    assert [str(c).split(":")[0] for c in pre.coverage] == ["embedding embeddings"]
    assert torch.equal(lm.model.embedding.weight, start) is freeze
    assert lm.model.decoder.weight.requires_grad  # only the table is frozen


def test_a_resume_with_no_checkpoint_yet_is_a_fresh_start_and_gets_the_vectors(
    text_file: Path, lm_vectors: Path, tmp_path: Path
) -> None:
    lm = _lm(text_file)
    lm.pretrained = Pretrained(str(lm_vectors))
    lm.fit(tmp_path / "run", {**FAST, "max_steps": 1}, resume=True)
    assert lm.pretrained.coverage and lm.pretrained.coverage[0].found > 0
    assert "restored" not in lm.pretrained.summary()
    lm.fit(tmp_path / "run", {**FAST, "max_steps": 2}, resume=True)  # now there is one
    assert lm.pretrained.coverage == [] and "restored" in lm.pretrained.summary()


def test_a_frozen_table_tied_to_the_output_layer_is_refused(
    text_file: Path, tmp_path: Path
) -> None:
    lm = _lm(text_file, embedding_dim=16, tie_weights=True)
    vec = _save(tmp_path / "v16.vec", ["the", "time"], 16)
    with pytest.raises(ValueError, match="tied table is also the output layer"):
        Pretrained(str(vec), freeze=True).apply(lm)
    assert Pretrained(str(vec), freeze=False).apply(lm)[0].found >= 1  # tied, trained: fine


# ---------------------------------------------------------------- the CLI verbs


@pytest.mark.parametrize("group", ["lm", "classify", "translate"])
def test_train_verbs_take_the_embedding_flags_with_one_help_text(group: str) -> None:
    fn = _load(COMMANDS[group][1]["train"])
    params = inspect.signature(fn).parameters
    doc = " ".join((fn.__doc__ or "").split())
    for name, (default, text) in EMBEDDING_FLAGS.items():
        assert params[name].default == default, (group, name)
        assert f"{name}: {' '.join(text.split())}" in doc, (group, name)
    assert "{embedding flags}" not in doc


def test_lm_train_with_embeddings_reports_coverage_and_resumes_only_on_the_same_file(
    text_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = text_file.read_text(encoding="utf-8").split()[::2]
    vec = _save(tmp_path / "lm12.vec", words, 12)
    run = tmp_path / "run"
    args = ["lm", "train", "--data", str(text_file), "--run-dir", str(run), *LM_FLAGS]
    assert main([*args, "--embeddings", str(vec), "--max-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"embedding embeddings: [\d,]+ of [\d,]+ words found in .*lm12\.vec", out)
    config = read_run_config(run)
    assert config["model"]["embedding_dim"] == 12  # no --embedding-dim: the file's E
    assert config["embeddings"] == {"file": str(vec), "tgt_file": None, "freeze": False}
    assert len(config["data"]["digests"]["embeddings"]) == 64
    # a resume without the flag continues with the run's own file (and does not re-read it)
    assert main([*args, "--max-steps", "3", "--resume", "true"]) == 0
    assert "restored from the checkpoint" in capsys.readouterr().out
    _save(vec, words, 12, seed=1)  # the file changes: a resume is refused
    assert main([*args, "--max-steps", "4", "--resume", "true"]) == 1
    err = capsys.readouterr().err
    assert "embeddings data file(s) changed" in err and str(run) in err


def _rt_slice(data_dir: Path, path: Path, n: int = 30) -> Path:
    rows = []
    for label in ("pos", "neg"):
        lines = (data_dir / "rt-polarity" / f"rt-polarity.{label}").read_text().splitlines()
        rows += [(label, s) for s in lines[:n]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows(rows)
    return path


def test_classify_train_with_frozen_embeddings_and_a_resume_that_drops_them(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv")
    vec = _save(tmp_path / "rt.vec", _words(train_csv.read_text()), 8)
    run = tmp_path / "run"
    args = ["classify", "train", "--data", str(train_csv), "--run-dir", str(run),
            "--hidden-size", "8", "--device", "cpu", "--progress", "false"]  # fmt: skip
    flags = ["--embeddings", str(vec), "--freeze-embeddings", "true"]
    assert main([*args, *flags, "--max-steps", "3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"input embeddings: [\d,]+ of [\d,]+ words found .*; frozen", out)
    clf = Classifier.load(run)
    vectors, vocab = load_vectors(vec), clf.encoder.vocab
    word = next(w for w in vocab.tokens[4:] if w in vectors)
    row = clf.model.input_layer.weight[vocab[word]].detach().numpy()
    assert np.array_equal(row, vectors[word])  # frozen: as loaded, after training
    assert read_run_config(run)["model"]["embedding_dim"] == 8
    # resuming without --embeddings is refused: the run was trained from a file
    assert main([*args, "--max-steps", "5", "--resume", "true"]) == 1
    assert re.search(r"cannot resume .*: embeddings(,| differ)", capsys.readouterr().err)


def test_classify_on_series_data_refuses_embeddings(
    tmp_path: Path, lm_vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["classify", "train", "--data", "BasicMotions", "--run-dir", str(tmp_path / "r"),
            "--embeddings", str(lm_vectors), "--max-steps", "1"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "`--embeddings` needs text data" in err and "BasicMotions" in err
    assert not (tmp_path / "r" / "config.json").exists()


def test_translate_train_initialises_source_and_target_from_their_files(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = [p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:3000]]
    pairs = [p for p in pairs if has_simple_prefix(p[0])][:40]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    src = _save(tmp_path / "en.vec", _words(" ".join(s for s, _ in pairs)), 8)
    tgt = _save(tmp_path / "fr.vec", _words(" ".join(t for _, t in pairs)), 8, seed=2)
    run = tmp_path / "run"
    argv = ["translate", "train", "--run-dir", str(run), "--data", str(tsv),
            "--simple-prefixes", "false", "--max-steps", "2", "--hidden-size", "8",
            "--progress", "false", "--embeddings", str(src), "--tgt-embeddings", str(tgt),
            "--freeze-embeddings", "true", "--data-options",
            '{"val_fraction": 0.1, "test_fraction": 0.1}']  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "source embeddings:" in out and "target embeddings:" in out and "fr.vec" in out
    config = read_run_config(run)
    assert set(config["data"]["digests"]) >= {"embeddings", "tgt_embeddings"}
    assert config["model"]["embedding_dim"] == 8 and config["embeddings"]["freeze"] is True
    tr, fr = Translator.load(run), load_vectors(tgt)
    word = next(w for w in tr.tgt_vocab.tokens[4:] if w in fr)
    row = tr.model.decoder.embedding.weight[tr.tgt_vocab[word]].detach().numpy()
    assert np.array_equal(row, fr[word])


def test_coverage_is_json_free_of_surprises() -> None:
    cov = Coverage("source", "a.vec", 0, 0)
    assert cov.fraction == 0.0 and "0 of 0 words" in str(cov)
    assert json.dumps(Pretrained("a.vec").section()) == (
        '{"file": "a.vec", "tgt_file": null, "freeze": false}'
    )
