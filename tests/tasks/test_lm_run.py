"""The language model on the shared run life cycle (issue #13) and its new-user defaults
(issue #14): old run directories, refused resumes and writers, devices, mismatched weights,
SIGTERM, the corpus's own prompt, --encoding and the help text."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.lm_corpus import LMDataConfig, load_corpus
from rnnkit.tasks.lm import TextLM
from rnnkit.train import RunLockedError, config_diff, read_run_config

TINY_MODEL = {"embedding_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
FAST = {"progress": False, "eval_every": None, "lr": 1e-2}
TINY_FLAGS = [
    "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "1", "--bptt", "16",
    "--batch-size", "4", "--num-samples", "1", "--sample-length", "5", "--progress", "false",
]  # fmt: skip


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(text[5000:17000], encoding="utf-8")
    return path


def _tiny(text_file: Path, **data: object) -> TextLM:
    return TextLM.create(
        "demo", model=TINY_MODEL, data={"data": str(text_file), "bptt": 16, **data}
    )


@pytest.fixture(scope="module")
def fitted(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    run = tmp_path_factory.mktemp("fitted") / "run"
    result = _tiny(text_file, batch_size=4).fit(run, {**FAST, "max_steps": 4})
    return run, result["test_loss"]


def test_config_json_has_format_task_and_sections(fitted: tuple[Path, float]) -> None:
    config = json.loads((fitted[0] / "config.json").read_text())
    assert config["format"] == 2 and config["task"] == "lm"
    assert config["model"]["rnn"]["hidden_size"] == 16
    assert config["data"]["encoding"] == "utf-8"
    assert (fitted[0] / "vocab.json").is_file() and not (fitted[0] / "run.lock").exists()


def test_a_run_in_the_previous_layout_still_loads(fitted: tuple[Path, float], tmp_path) -> None:
    """config.json as rnnkit wrote it before the one life cycle: no ``format``, the
    recurrent keys flat in ``model``, no ``encoding`` in ``data``."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(fitted[0], old)
    new = json.loads((old / "config.json").read_text())
    rnn = new["model"].pop("rnn")
    flat = {k: rnn[k] for k in ("cell", "hidden_size", "num_layers", "dropout", "proj_size")}
    flat |= {"dropout_kind": rnn["dropout_kind"], "weight_drop": rnn["weight_drop"]}
    new["data"].pop("encoding")
    old_config = {"task": "lm", "model": {**flat, **new["model"]}, "data": new["data"]}
    (old / "config.json").write_text(json.dumps({**old_config, "train": new["train"]}))
    lm = TextLM.load(old)
    assert lm.model.config.rnn.hidden_size == 16
    assert lm.evaluate("test")["loss"] == pytest.approx(fitted[1], rel=1e-6)
    # what a resume compares: the old sections migrated equal the ones this version writes
    saved = TextLM.saved_sections(read_run_config(old), old)
    assert config_diff(saved, json.loads(json.dumps(lm.sections()))) == []
    result = lm.fit(old, {**FAST, "max_steps": 5}, resume=True)  # not refused
    assert result["step"] == 5 and read_run_config(old)["format"] == 2


def test_weights_that_do_not_fit_config_json_are_a_clear_error(
    fitted: tuple[Path, float], tmp_path
) -> None:
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(fitted[0], run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["rnn"]["hidden_size"] = 12
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match the network"):
        TextLM.load(run)


def test_resume_with_other_model_or_data_flags_is_refused_in_one_line(
    text_file: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    args = ["lm", "train", "--data", str(text_file), "--run-dir", str(run), *TINY_FLAGS]
    assert main([*args, "--max-steps", "2"]) == 0
    capsys.readouterr()
    changed = [*args, "--max-steps", "4", "--resume", "true"]
    changed[changed.index("--hidden-size") + 1] = "12"
    changed[changed.index("--bptt") + 1] = "20"
    assert main(changed) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model.rnn.hidden_size" in err and "data.bptt" in err and "--run-dir" in err
    assert json.loads((run / "last" / "trainer.json").read_text())["step"] == 2
    assert main([*args, "--max-steps", "2"]) == 1  # a fresh start over it: refused
    assert "--resume true" in capsys.readouterr().err


def test_a_second_writer_is_refused(text_file: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2024-01-01T00:00"}
    (run / "run.lock").write_text(json.dumps(holder))
    with pytest.raises(RunLockedError, match=f"in use by process {os.getppid()}"):
        _tiny(text_file).fit(run, {**FAST, "max_steps": 2})
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"]


def test_device_cuda_without_cuda_leaves_no_run_directory(
    text_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    args = ["lm", "train", "--data", str(text_file), "--run-dir", str(run), *TINY_FLAGS]
    assert main([*args, "--device", "cuda", "--max-steps", "2"]) == 1
    assert "cuda" in capsys.readouterr().err.lower()
    assert not run.exists()


def test_sigterm_mid_training_leaves_a_resumable_checkpoint(
    text_file: Path, tmp_path: Path, sigterm_then_resume
) -> None:
    run = tmp_path / "run"
    sigterm_then_resume(
        ["lm", "train", "--data", str(text_file), "--run-dir", str(run), *TINY_FLAGS], run
    )


# ---------------------------------------------------------------- issue #14: no surprises


def test_default_prompt_comes_from_the_corpus(text_file: Path, tmp_path: Path) -> None:
    lower = tmp_path / "lower.txt"
    lower.write_text(text_file.read_text(encoding="utf-8").lower(), encoding="utf-8")
    lm = _tiny(lower)
    assert "T" not in lm.vocab  # the old default prompt "The " could not be read
    prompt = lm.default_prompt()
    assert prompt and prompt.strip() in lower.read_text(encoding="utf-8")
    samples = lm.generate(None, 10, num_samples=2)
    assert all(s.startswith(prompt) and len(s) == len(prompt) + 10 for s in samples)


def test_word_samples_have_single_spaces(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("the cat sat on the mat\nthe dog ate the bone\n" * 60, encoding="utf-8")
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(path), "level": "word"})
    for prompt in ("the ", "the"):
        sample = lm.generate(prompt, 12, seed=1)[0]
        assert "  " not in sample and sample.startswith("the ")


PROSE = "The Time Traveller, smiling, said: 'It is simply this.' He paused. We waited.\n" * 60


def test_raw_prose_at_word_level_is_pointed_to_word_punct(tmp_path: Path, caplog) -> None:
    path = tmp_path / "prose.txt"
    path.write_text(PROSE, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.lm_corpus"):
        as_given = load_corpus(LMDataConfig(data=str(path), level="word"))
    assert "looks untokenised" in caplog.text and "--level word-punct" in caplog.text
    assert "Traveller," in as_given.vocab
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.lm_corpus"):
        split = load_corpus(LMDataConfig(data=str(path), level="word-punct"))
    assert not caplog.text
    assert "Traveller" in split.vocab and "," in split.vocab and "<eos>" in split.vocab
    assert "Traveller," not in split.vocab
    # a word-punct model generates words and punctuation joined as text is written
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(path), "level": "word-punct"})
    sample = lm.generate("He paused", 12, seed=1)[0]
    assert sample.startswith("He paused") and "  " not in sample
    assert " ." not in sample and " ," not in sample
    with pytest.raises(ValueError, match="`level` must be one of"):
        LMDataConfig(level="words")


def test_encoding_reads_a_latin1_corpus(tmp_path: Path, text_file: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(text_file.read_text(encoding="utf-8").replace("e", "é").encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt.*encoding"):
        load_corpus(LMDataConfig(data=str(path)))
    corpus = load_corpus(LMDataConfig(data=str(path), encoding="latin-1"))
    assert "é" in corpus.vocab
    with pytest.raises(ValueError, match="`encoding` must be a known"):
        LMDataConfig(encoding="no-such-codec")


def test_fit_logs_the_test_evaluation(fitted: tuple[Path, float], caplog) -> None:
    lm = TextLM.load(fitted[0])
    with caplog.at_level(logging.INFO, logger="rnnkit.tasks.lm"):
        lm.evaluate("valid")
    assert "evaluating on the valid split" in caplog.text


def test_help_shows_the_value_each_flag_takes(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["lm", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("(demo preset: 256)", "(demo preset: 64)", "(demo preset: utf-8)",
                   "(demo preset: python-docs)", "(demo preset: 0.003)"):  # fmt: skip
        assert phrase in text, phrase


# ---------------------------------------------------------------- issue #14: changed data


def test_eval_warns_when_the_corpus_changed_since_training(
    text_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rnnkit.tasks.lm_verbs import evaluate

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text_file.read_text(encoding="utf-8"), encoding="utf-8")
    run = tmp_path / "run"
    _tiny(corpus, batch_size=4).fit(run, {**FAST, "max_steps": 1})
    assert set(read_run_config(run)["data"]["digests"]) == {"train"}
    with caplog.at_level(logging.WARNING):
        evaluate(str(run), "valid")
    assert "changed" not in caplog.text  # unchanged: nothing to say
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("the time traveller came back with more text.\n" * 3)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evaluate(str(run), "valid")
    assert "train data file" in caplog.text and str(corpus) in caplog.text
    assert "has changed" in caplog.text
    with pytest.raises(ValueError, match="train data file.*changed"):  # a resume is refused
        _tiny(corpus, batch_size=4).fit(run, {**FAST, "max_steps": 2}, resume=True)
    # a run from before checksums: no warning, no error
    config = json.loads((run / "config.json").read_text())
    del config["data"]["digests"]
    (run / "config.json").write_text(json.dumps(config))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evaluate(str(run), "valid")
    assert "changed" not in caplog.text


def test_a_folder_corpus_records_each_split_file(text_file: Path, tmp_path: Path) -> None:
    text = text_file.read_text(encoding="utf-8")
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i, split in enumerate(("train", "valid", "test")):
        (folder / f"x.{split}.txt").write_text(text[i * 4000 : (i + 1) * 4000], encoding="utf-8")
    lm = _tiny(folder, batch_size=4)
    assert set(lm.sections()["data"]["digests"]) == {"train", "valid", "test"}


def test_own_text_gets_the_default_preset_trained_to_convergence(
    text_file: Path, tmp_path: Path, capsys
) -> None:
    from rnnkit.tasks.lm_verbs import default_preset

    assert default_preset(None) == default_preset("python-docs") == "demo"
    assert default_preset(str(text_file)) == default_preset("timemachine") == "default"
    run = tmp_path / "own"
    args = ["lm", "train", "--data", str(text_file), "--run-dir", str(run), *TINY_FLAGS]
    assert main(args) == 0
    train = json.loads((run / "config.json").read_text())["train"]
    # steps and early stopping, not the demo's fixed three epochs
    assert (train["epochs"], train["max_steps"], train["early_stopping_patience"]) == (
        None, 2000, 10,
    )  # fmt: skip
    epoch = int(re.search(r"^  epoch: (\d+)$", capsys.readouterr().out, re.M).group(1))
    assert epoch > 3  # trained on past the demo's budget (this tiny model kept improving)
    demo = tmp_path / "demo"
    args = ["lm", "train", "--preset", "demo", "--data", str(text_file), "--run-dir", str(demo)]
    assert main([*args, *TINY_FLAGS]) == 0
    assert json.loads((demo / "config.json").read_text())["train"]["epochs"] == 3
