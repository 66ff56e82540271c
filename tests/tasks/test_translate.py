"""The translate task: CLI round trip (train -> eval -> run), the Python API, the files a run
leaves, and bad input (unknown words, empty sentences, incomplete runs)."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.pairs import has_simple_prefix, read_pairs
from rnnkit.metrics.text import corpus_bleu
from rnnkit.tasks.translate import TranslateConfig, Translator, evaluate, train, translate


@pytest.fixture(scope="module")
def tsv(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 short "i am / he is" pairs of fra.txt."""
    pairs = [
        p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:6000] if has_simple_prefix(p[0])
    ]
    path = tmp_path_factory.mktemp("tr") / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs[:60]), encoding="utf-8")
    return path


pytestmark = pytest.mark.slow  # one real (tiny) training run through the CLI, then its uses


@pytest.fixture(scope="module")
def run(tsv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained through the CLI (tiny sizes: the files and plumbing are under test)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("tr") / "run"
    argv = ["translate", "train", "--run_dir", str(run_dir), "--data", str(tsv),
            "--simple_prefixes", "false", "--epochs", "3", "--hidden_size", "16",
            "--embedding_dim", "16", "--progress", "false", "--data_options",
            '{"val_fraction": 0.1, "test_fraction": 0.1}']  # fmt: skip
    assert main(argv) == 0
    torch.set_num_threads(n)
    return run_dir


def test_train_leaves_a_complete_run(run: Path) -> None:
    for name in ("config.json", "src_vocab.json", "tgt_vocab.json", "metrics.csv", "loss.png"):
        assert (run / name).is_file(), name
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["task"] == "translate" and cfg["data"]["simple_prefixes"] is False
    assert cfg["translate"]["batch_size"] == 32  # the demo preset's; its own section
    assert cfg["model"]["rnn"]["hidden_size"] == 16 and cfg["train"]["epochs"] == 3


def test_cli_eval_and_run(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["translate", "eval", "--run", str(run), "--method", "greedy"]) == 0
    out = capsys.readouterr().out
    assert "bleu" in out and "chrf" in out and "perplexity" in out
    assert main(["translate", "run", "--run", str(run), "--sentences", "I am cold."]) == 0
    single = capsys.readouterr().out.strip().splitlines()
    assert len(single) == 1
    argv = ["translate", "run", "--run", str(run), "--sentences", '["I am cold.", "He is tall."]']
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0] == single[0]
    assert main(["translate", "run", "--run", str(run / "nope"), "--sentences", "x"]) == 1
    assert "not found" in capsys.readouterr().err


def test_evaluate_writes_translations_and_its_bleu_is_sacrebleus(run: Path) -> None:
    result = evaluate(str(run), method="beam", beam_size=3, attention_plots=2)
    with open(run / "translations-test.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == result["pairs"] == 6
    hyps, refs = [r["hypothesis"] for r in rows], [r["reference"] for r in rows]
    assert result["bleu"] == pytest.approx(corpus_bleu(hyps, refs))
    assert result["perplexity"] > 1 and 0 <= result["chrf"] <= 100
    names = {p.name for p in (run / "attention").iterdir()}
    assert {"test-0.png", "test-1.png"} <= names
    assert json.loads((run / "eval-test.json").read_text())["bleu"] == result["bleu"]


def test_python_api_matches_cli_and_reads_stdin(
    run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tr = Translator.load(run)
    out = tr.translate(["I am cold.", "He is tall."], method="greedy", return_attention=True)
    assert [t.text for t in out] == translate(
        str(run), ["I am cold.", "He is tall."], method="greedy"
    )
    t = out[0]
    assert t.source == "i am cold." and t.source_tokens[:2] == ["i", "am"]
    assert t.attention.shape == (len(t.tokens) + 1, len(t.source_tokens))
    torch.testing.assert_close(t.attention.sum(-1), torch.ones(len(t.tokens) + 1))
    translate(str(run), ["I am cold.", "He is tall."], attention_dir=str(tmp_path / "maps"))
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "sentence-0.png",
        "sentence-1.png",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("I am cold.\n\nHe is tall.\n"))
    assert translate(str(run), method="greedy") == [x.text for x in out]
    beam1 = translate(str(run), ["I am cold.", "He is tall."], method="beam", beam_size=1)
    assert beam1 == [x.text for x in out]  # beam 1 == greedy
    nbest = translate(str(run), "I am cold.", n_best=3, beam_size=3)
    assert [line.split("\t")[0] for line in nbest] == ["1", "1", "1"]
    scores = [float(line.split("\t")[1]) for line in nbest]
    assert len(nbest) == 3 and scores[0] >= max(scores[1:]) - 1.0  # ranked with the penalty


def test_unknown_words_become_unk_with_a_warning(
    run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tr = Translator.load(run)
    with caplog.at_level(logging.WARNING, logger="rnnkit.tasks.translate"):
        (t,) = tr.translate(["I am zyxwvut."], method="greedy")
    assert "zyxwvut" in caplog.text
    assert t.source_tokens == ["i", "am", "<unk>", "."]


def test_bad_input(run: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tr = Translator.load(run)
    with pytest.raises(ValueError, match="sentence 2 is empty"):
        tr.translate(["I am cold.", "   "])
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    with pytest.raises(ValueError, match="no sentences"):
        translate(str(run))
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text((run / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="src_vocab.json is missing"):
        Translator.load(incomplete)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train("demo", str(run), data=str(run / "nope.tsv"), simple_prefixes=False, epochs=1)


def test_ragged_data_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("I am cold.\tJ'ai froid.\nHe is tall\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2: expected source<TAB>target"):
        train("demo", str(tmp_path / "run"), data=str(bad))
    assert not (tmp_path / "run").exists()  # nothing written for a failed start


def test_teacher_forcing_schedule() -> None:
    assert TranslateConfig().ratio(500) == 1.0
    tf = TranslateConfig(teacher_forcing=1.0, teacher_forcing_final=0.5, teacher_forcing_steps=100)
    assert [tf.ratio(s) for s in (0, 50, 100, 1000)] == [1.0, 0.75, 0.5, 0.5]
    with pytest.raises(ValueError, match="`teacher_forcing_final`"):
        TranslateConfig(teacher_forcing_final=1.5)
