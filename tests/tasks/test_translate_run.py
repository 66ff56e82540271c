"""The translate task on the shared run life cycle (issue #13) and its #14 defaults: the
previous run layout still loads, resume refuses changed settings, one writer, no half-made
run for a missing device, clear errors for mismatched weights, SIGTERM leaves a resumable
checkpoint; official val/test files, --encoding, long inputs split into sentences, the
unknown-word count, and the teacher-forcing schedule read from the batch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.pairs import has_simple_prefix, read_pairs
from rnnkit.tasks.translate import Translator, evaluate, train, translate
from rnnkit.tasks.translator import NumberedBatches, StepBatch, TranslateConfig
from rnnkit.train import RunLockedError

TINY = {"hidden_size": 8, "embedding_dim": 8, "progress": False}
SPLITS = {"val_fraction": 0.1, "test_fraction": 0.1}


@pytest.fixture(scope="module")
def pairs(data_dir: Path) -> list[tuple[str, str]]:
    """80 short "i am / he is" pairs of fra.txt."""
    rows = [
        p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:8000] if has_simple_prefix(p[0])
    ]
    return rows[:80]


def _tsv(path: Path, rows: list[tuple[str, str]], encoding: str = "utf-8") -> Path:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding=encoding)
    return path


@pytest.fixture(scope="module")
def tsv(pairs: list[tuple[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tsv(tmp_path_factory.mktemp("trr") / "pairs.tsv", pairs[:60])


@pytest.fixture(scope="module")
def run(tsv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run (2 steps): the files and plumbing are under test, not the quality."""
    run_dir = tmp_path_factory.mktemp("trr") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train("demo", str(run_dir), data=str(tsv), simple_prefixes=False,
                       max_steps=2, data_options=SPLITS, **TINY)  # fmt: skip
    finally:
        torch.set_num_threads(n)
    assert result["step"] == 2  # --max-steps lifts the preset's epoch limit
    return run_dir


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("run.lock"))
    return dest


# ---------------------------------------------------------------- the run directory


def test_config_has_the_task_name_and_a_translate_section(run: Path) -> None:
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["task"] == "translate" and cfg["format"] >= 2
    assert set(cfg["translate"]) >= {"batch_size", "teacher_forcing", "label_smoothing"}
    assert cfg["model"]["rnn"]["hidden_size"] == 8
    assert set(cfg["data"]["digests"]) == {"train"}  # the training file's checksum
    for name in ("src_vocab.json", "tgt_vocab.json", "best", "last"):
        assert (run / name).exists(), name


def _old_layout(cfg: dict) -> dict:
    """config.json as the previous rnnkit wrote it (git history: tasks/translate.py)."""
    rnn = cfg["model"].pop("rnn")
    model = {k: cfg["model"][k] for k in ("src_vocab_size", "tgt_vocab_size")}
    model.update({k: rnn[k] for k in ("cell",)})
    model["embedding_dim"] = cfg["model"]["embedding_dim"]
    model.update({k: rnn[k] for k in ("hidden_size", "num_layers", "bidirectional")})
    for k in ("decoder_hidden_size", "decoder_layers", "attention", "attn_size"):
        model[k] = cfg["model"][k]
    model.update({"input_feeding": cfg["model"]["input_feeding"],
                  "bridge": cfg["model"]["bridge"], "dropout": rnn["dropout"],
                  "pad_id": cfg["model"]["pad_id"]})  # fmt: skip
    data = {k: v for k, v in cfg["data"].items() if k not in ("val_data", "test_data", "digests")}
    data.pop("encoding")  # older runs predate --encoding
    return {"task_name": "translate", "preset": "demo", "data": data, "model": model,
            "task": cfg["translate"], "train": cfg["train"]}  # fmt: skip


def test_a_run_of_the_previous_layout_still_translates(run: Path, tmp_path: Path) -> None:
    old = _copy(run, tmp_path / "old")
    cfg = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps(_old_layout(cfg), indent=2))
    sentences = ["I am cold.", "He is tall."]
    expected = translate(str(run), sentences, method="greedy")
    assert translate(str(old), sentences, method="greedy") == expected
    tr = Translator.load(old)
    assert tr.options.batch_size == cfg["translate"]["batch_size"]  # "task" -> "translate"
    assert evaluate(str(old), method="greedy", attention_plots=0)["pairs"] == 6


def test_a_run_of_the_previous_layout_resumes(run: Path, tsv: Path, tmp_path: Path) -> None:
    """Its flat model keys, options under "task" and data without encoding or checksums are
    migrated before the resume compares settings: one more step, not a refusal."""
    old = _copy(run, tmp_path / "old")
    cfg = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps(_old_layout(cfg), indent=2))
    result = train("demo", str(old), data=str(tsv), simple_prefixes=False, resume=True,
                   max_steps=3, data_options=SPLITS, **TINY)  # fmt: skip
    assert result["step"] == 3
    saved = json.loads((old / "config.json").read_text())
    assert saved["format"] == 2 and saved["model"]["rnn"]["hidden_size"] == 8
    assert set(saved["data"]["digests"]) == {"train"}  # recorded from now on


def test_weights_that_do_not_fit_config_json_are_a_clear_error(run: Path, tmp_path: Path) -> None:
    bad = _copy(run, tmp_path / "bad")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["model"]["rnn"]["hidden_size"] = 12
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match the network its config.json describes"):
        Translator.load(bad)


def test_resume_with_changed_model_or_data_flags_is_refused(run: Path, tsv: Path) -> None:
    common = {"data": str(tsv), "resume": True, "max_steps": 4, **TINY}
    with pytest.raises(ValueError, match=r"model\.rnn\.hidden_size") as err:
        train("demo", str(run), **{**common, "hidden_size": 16})
    assert "\n" not in str(err.value) and "--run-dir" in str(err.value)
    with pytest.raises(ValueError, match=r"data\.max_len"):
        train("demo", str(run), max_len=5, **common)
    assert json.loads((run / "last" / "trainer.json").read_text())["step"] == 2  # untouched


def test_a_second_writer_is_refused(tsv: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2024-01-01T00:00"}
    (run / "run.lock").write_text(json.dumps(holder))
    with pytest.raises(RunLockedError, match=f"in use by process {os.getppid()}"):
        train("demo", str(run), data=str(tsv), simple_prefixes=False, max_steps=1, **TINY)
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"]


def test_device_cuda_without_cuda_leaves_no_run_directory(
    tsv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    argv = ["translate", "train", "--data", str(tsv), "--run-dir", str(run), "--device", "cuda",
            "--simple-prefixes", "false", "--hidden-size", "8", "--max-steps", "1"]  # fmt: skip
    assert main(argv) == 1
    assert "cuda" in capsys.readouterr().err.lower()
    assert not run.exists()


@pytest.mark.slow  # a subprocess: import + data + a few steps
def test_sigterm_mid_training_leaves_a_resumable_checkpoint(
    tsv: Path, tmp_path: Path, sigterm_then_resume
) -> None:
    run = tmp_path / "run"
    args = ["translate", "train", "--data", str(tsv), "--run-dir", str(run),
            "--simple-prefixes", "false", "--hidden-size", "8", "--embedding-dim", "8",
            "--progress", "false"]  # fmt: skip
    sigterm_then_resume(args, run)


# ---------------------------------------------------------------- the step


def test_teacher_forcing_reads_the_step_from_the_batch(run: Path) -> None:
    class Loader(list):
        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch

    numbered = NumberedBatches(Loader(["a", "b", "c"]))  # type: ignore[arg-type]
    numbered.set_epoch(2)
    assert [b.step for b in numbered] == [6, 7, 8] and len(numbered) == 3
    tr = Translator.load(run)
    tr.options = TranslateConfig(teacher_forcing_final=0.5, teacher_forcing_steps=100)
    pairs = Translator.create(json.loads((run / "config.json").read_text())).pairs
    assert pairs is not None
    batch = next(iter(pairs.loader("train", 4)))
    tr.model.train()
    out = tr.step(tr.model, StepBatch(batch, 50), None)
    assert out.metrics == {"teacher_forcing": 0.75}
    tr.model.eval()
    assert tr.step(tr.model, StepBatch(batch, 50), None).metrics == {}  # eval: gold inputs


# ---------------------------------------------------------------- issue #14


def test_official_val_and_test_files(pairs: list, tmp_path: Path) -> None:
    train_f = _tsv(tmp_path / "train.tsv", pairs[:50])
    val_f = _tsv(tmp_path / "dev.tsv", pairs[50:57])
    test_f = _tsv(tmp_path / "test.tsv", pairs[57:80])
    run = tmp_path / "run"
    result = train("demo", str(run), data=str(train_f), val_data=str(val_f),
                   test_data=str(test_f), simple_prefixes=False, max_steps=1, **TINY)  # fmt: skip
    assert (result["train_pairs"], result["val_pairs"], result["test_pairs"]) == (50, 7, 23)
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["test_data"] == str(test_f) and set(data["digests"]) == {"train", "val", "test"}
    assert evaluate(str(run), method="greedy", attention_plots=0)["pairs"] == 23


def test_eval_warns_when_a_data_file_changed(
    pairs: list, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train_f = _tsv(tmp_path / "train.tsv", pairs[:50])
    test_f = _tsv(tmp_path / "test.tsv", pairs[50:60])
    run = tmp_path / "run"
    train("demo", str(run), data=str(train_f), test_data=str(test_f), simple_prefixes=False,
          max_steps=1, **TINY)  # fmt: skip
    _tsv(test_f, pairs[50:59])
    with caplog.at_level(logging.WARNING):
        assert evaluate(str(run), method="greedy", attention_plots=0)["pairs"] == 9
    assert "test data" in caplog.text and "changed" in caplog.text


def test_encoding_reads_a_latin1_file(pairs: list, tmp_path: Path) -> None:
    rows = [(s, t) for s, t in pairs if f"{s}{t}".isascii() or "\u202f" not in t][:40]
    assert any(not t.isascii() for _, t in rows), "the sample has accented French"
    path = _tsv(tmp_path / "latin1.tsv", rows, encoding="latin-1")
    with pytest.raises(ValueError, match="latin1.tsv"):
        train("demo", str(tmp_path / "r0"), data=str(path), simple_prefixes=False, **TINY)
    run = tmp_path / "r1"
    train("demo", str(run), data=str(path), encoding="latin-1", simple_prefixes=False,
          max_steps=1, **TINY)  # fmt: skip
    assert Translator.load(run).data.encoding == "latin-1"


def test_a_long_input_is_split_into_sentences(run: Path, caplog: pytest.LogCaptureFixture) -> None:
    tr = Translator.load(run)
    one, two = (t.text for t in tr.translate(["I am cold.", "He is tall."], method="greedy"))
    (joined,) = tr.translate(["I am cold. He is tall."], method="greedy")
    assert joined.text == f"{one} {two}" and len(joined.parts) == 2
    (whole,) = tr.translate(["I am cold. He is tall."], method="greedy", split=False)
    assert not whole.parts and whole.source_tokens[-1] == "."
    long = " ".join(["he is tall and i am cold"] * 3) + "."
    with caplog.at_level(logging.WARNING):
        tr.translate([long], method="greedy")
    assert "longer than the 9 tokens of the training pairs" in caplog.text


def test_unknown_word_warning_gives_the_total(run: Path, caplog: pytest.LogCaptureFixture) -> None:
    tr = Translator.load(run)
    with caplog.at_level(logging.WARNING):
        tr.translate(["I am zyxwvut.", "He is zyxwvut qqqq."], method="greedy")
    assert "3 in all, 2 distinct: qqqq, zyxwvut" in caplog.text


def test_unchanged_files_and_runs_without_checksums_say_nothing(
    pairs: list, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train_f = _tsv(tmp_path / "train.tsv", pairs[:50])
    test_f = _tsv(tmp_path / "test.tsv", pairs[50:60])
    run = tmp_path / "run"
    args = {"data": str(train_f), "test_data": str(test_f), "simple_prefixes": False, **TINY}
    train("demo", str(run), max_steps=1, **args)
    with caplog.at_level(logging.WARNING):
        evaluate(str(run), method="greedy", attention_plots=0)
    assert "changed" not in caplog.text
    _tsv(test_f, pairs[50:59])
    with pytest.raises(ValueError, match="test data file.*changed"):  # a resume is refused
        train("demo", str(run), max_steps=2, resume=True, **args)
    config = json.loads((run / "config.json").read_text())
    del config["data"]["digests"]  # a run from before checksums: no warning, no error
    (run / "config.json").write_text(json.dumps(config))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert evaluate(str(run), method="greedy", attention_plots=0)["pairs"] == 9
    assert "changed" not in caplog.text


def test_a_file_of_ones_own_gets_the_default_preset_not_the_english_prefix_filter(
    data_dir: Path, tmp_path: Path
) -> None:
    from rnnkit.tasks.translate import default_preset

    assert default_preset(None) == "demo" and default_preset("fra-eng") == "demo"
    assert default_preset(str(tmp_path / "mine.tsv")) == "default"
    # French first: the demo preset's English-prefix filter would keep none of these
    rows = [(t, s) for s, t in read_pairs(data_dir / "fra-eng" / "fra.txt")[:40]]
    data = _tsv(tmp_path / "fr-en.tsv", rows)
    with pytest.raises(ValueError, match="0 of 40 pairs pass the filters.*--simple-prefixes false"):
        train("demo", str(tmp_path / "demo"), data=str(data), max_steps=1, **TINY)
    result = train(run_dir=str(tmp_path / "run"), data=str(data), max_steps=2, **TINY)
    assert result["step"] == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert config["data"]["simple_prefixes"] is False and config["data"]["max_len"] == 30
    assert config["train"]["early_stopping_patience"] == 3
