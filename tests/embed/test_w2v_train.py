"""`rnnkit embed train` end to end: the run directory, resume, interrupts, bad corpora, quality."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

import rnnkit.embed.run as run_module
from rnnkit.cli.main import main
from rnnkit.data.word_vectors import load_vectors
from rnnkit.embed.corpus import load_corpus
from rnnkit.tasks.run import load_run

PTB = Path(os.environ.get("RNNKIT_DATA_DIR", "../shared/data")) / "ptb" / "ptb.train.txt"


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """The first 300 lines of PTB's training text."""
    path = tmp_path / "small.txt"
    with open(PTB, encoding="utf-8") as f:
        path.write_text("".join(next(f) for _ in range(300)), encoding="utf-8")
    return path


def _args(corpus: Path, run: Path, *extra: str) -> list[str]:
    return [
        "embed", "train", "--corpus", str(corpus), "--run-dir", str(run), "--dim", "16",
        "--epochs", "2", "--min-count", "2", "--batch-words", "500", "--progress", "false",
        *extra,
    ]  # fmt: skip


def test_cli_writes_vectors_and_a_run(small, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_args(small, run)) == 0
    out = capsys.readouterr().out
    assert "words/s" in out and "vectors.txt" in out
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "embed" and config["word2vec"]["model"] == "sg"
    text, binary = load_vectors(run / "vectors.txt"), load_vectors(run / "vectors.bin")
    corpus = load_corpus(small, min_count=2)
    assert text.words == corpus.words and text.dim == 16
    np.testing.assert_allclose(text.vectors, binary.vectors)
    loaded = load_run(run, "last")  # the one life cycle loads it like any task's run
    np.testing.assert_array_equal(loaded.model.w_in.numpy(), binary.vectors)
    assert not (run / "run.lock").exists()
    assert main(_args(small, run)) == 1  # a used directory is refused
    assert "--resume true" in capsys.readouterr().err


class _SignalAt:
    """Wraps an engine: sends this process SIGTERM during step ``at``."""

    def __init__(self, engine, at: int) -> None:
        self.engine, self.at, self.calls = engine, at, 0
        self.uses_kernel = engine.uses_kernel

    def step(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.engine.step(*args, **kwargs)

    def weights(self):
        return self.engine.weights()


@pytest.mark.parametrize("model", ["sg", "cbow"])
def test_sigterm_leaves_a_checkpoint_and_resume_gives_the_same_vectors(
    small, tmp_path, monkeypatch, model
):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(_args(small, whole, "--model", model)) == 0
    make = run_module.make_engine
    monkeypatch.setattr(run_module, "make_engine", lambda *a: _SignalAt(make(*a), 5))
    assert main(_args(small, parts, "--model", model)) == 143
    saved = json.loads((parts / "last" / "trainer.json").read_text())
    assert saved["steps"] == 5 and saved["stopped"] == "SIGTERM"
    assert not (parts / "run.lock").exists() and not (parts / "vectors.txt").exists()
    monkeypatch.setattr(run_module, "make_engine", make)
    assert main(_args(small, parts, "--model", model, "--resume", "true")) == 0
    np.testing.assert_array_equal(
        load_vectors(parts / "vectors.bin").vectors, load_vectors(whole / "vectors.bin").vectors
    )


def test_max_time_stops_and_resume_finishes(small, tmp_path):
    run = tmp_path / "run"
    assert main(_args(small, run, "--max-time", "1e-9")) == 0
    saved = json.loads((run / "last" / "trainer.json").read_text())
    assert saved["stopped"] == "max_time" and saved["steps"] == 1
    assert main(_args(small, run, "--resume", "true")) == 0
    assert json.loads((run / "last" / "trainer.json").read_text())["epoch"] == 2
    assert main(_args(small, run, "--resume", "true", "--window", "3")) == 1  # settings differ


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"   \n\n", "has no words"),
        (b"the the the\nthe\n", "one distinct word ('the')"),
        (b"a b c d\ne f g\n", "occur at least `min_count`=5 times"),
        (b"good words\nbad \xff byte\n", "line 2"),
    ],
)
def test_bad_corpus_is_one_line_naming_the_file(tmp_path, capsys, text, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(text)
    assert main(["embed", "train", "--corpus", str(path), "--run-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert not (tmp_path / "r" / "last").exists()


@pytest.mark.slow
def test_vectors_put_related_words_closer_than_random(tmp_path):
    """Three epochs on 10k PTB lines: months, weekdays and number words are nearer each other
    than random word pairs are (something a broken gradient or sampler fails)."""
    path = tmp_path / "ptb10k.txt"
    with open(PTB, encoding="utf-8") as f:
        path.write_text("".join(next(f) for _ in range(10_000)), encoding="utf-8")
    run = tmp_path / "run"
    args = ["embed", "train", "--corpus", str(path), "--run-dir", str(run), "--dim", "50",
            "--epochs", "3", "--progress", "false"]  # fmt: skip
    assert main(args) == 0
    wv = load_vectors(run / "vectors.txt")
    centred = wv.vectors - wv.vectors.mean(0)  # word2vec vectors share a common direction
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    groups = [
        ["monday", "tuesday", "wednesday", "thursday", "friday"],
        ["million", "billion"],
        ["two", "three", "four", "five", "six"],
        ["january", "march", "june", "september", "october"],
    ]
    related = [
        float(unit[wv.index(a)] @ unit[wv.index(b)])
        for g in groups for i, a in enumerate(g) for b in g[i + 1 :]
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, min(len(wv), 2000), (500, 2))
    rand = [float(unit[a] @ unit[b]) for a, b in pairs if a != b]
    assert np.mean(related) > np.mean(rand) + 0.3, (np.mean(related), np.mean(rand))


PROSE = (
    "The Time Traveller (for so it will be convenient to speak of him) was expounding a "
    "recondite matter to us. His grey eyes shone and twinkled, and his usually pale face "
    "was flushed and animated. The fire burned brightly, and the soft radiance of the "
    "incandescent lights in the lilies of silver caught the bubbles that flashed and "
    "passed in our glasses.\n"
) * 4


def test_raw_prose_is_said_to_look_untokenised_and_word_punct_reads_it(tmp_path, caplog):
    path = tmp_path / "prose.txt"
    path.write_text(PROSE, encoding="utf-8")
    with caplog.at_level("WARNING", logger="rnnkit.embed.corpus"):
        as_given = load_corpus(path, min_count=1)
    assert "looks untokenised" in caplog.text and "--tokenizer word-punct" in caplog.text
    assert "us." in as_given.words and "The" in as_given.words
    caplog.clear()
    with caplog.at_level("WARNING", logger="rnnkit.embed.corpus"):
        split = load_corpus(path, min_count=1, tokenizer="word-punct", lowercase=True)
    assert not caplog.text
    assert "us" in split.words and "." in split.words and "the" in split.words
    assert "us." not in split.words and "The" not in split.words
    with pytest.raises(ValueError, match="`tokenizer` must be one of"):
        load_corpus(path, tokenizer="char")


def test_tokenised_text_reads_as_before_without_a_warning(small, caplog):
    with caplog.at_level("WARNING", logger="rnnkit.embed.corpus"):
        corpus = load_corpus(small, min_count=2)  # PTB: <unk> and N are words, no warning
    assert not caplog.text
    lines = small.read_text(encoding="utf-8").split("\n")
    assert corpus.raw_words == sum(len(line.split()) for line in lines)


def test_the_tokenizer_is_part_of_the_run(tmp_path, capsys):
    path = tmp_path / "prose.txt"
    path.write_text(PROSE * 5, encoding="utf-8")
    run = tmp_path / "run"
    extra = ("--tokenizer", "word-punct", "--lowercase", "true")
    assert main(_args(path, run, *extra)) == 0
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["tokenizer"] == "word-punct" and data["lowercase"] is True
    assert "travel" not in load_vectors(run / "vectors.txt").words  # "Traveller" -> traveller
    assert "traveller" in load_vectors(run / "vectors.txt").words
    assert main([*_args(path, run), "--resume", "true"]) == 1  # another reading is refused
    assert "tokenizer" in capsys.readouterr().err
