"""The language-model task end to end on a small slice of real text: data, fit, generate,
evaluate, the CLI round trip, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.tasks.lm import LMDataConfig, TextLM, load_corpus

TINY_MODEL = {"embedding_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(text[5000:17000], encoding="utf-8")
    return path


def test_single_file_split_is_contiguous_and_vocab_from_train_only(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("ab" * 500 + "c" * 60, encoding="utf-8")  # 'c' only at the end
    corpus = load_corpus(LMDataConfig(data=str(path), val_fraction=0.03, test_fraction=0.03))
    sizes = {k: v.numel() for k, v in corpus.splits.items()}
    assert sum(sizes.values()) == 1060
    assert sizes["valid"] == sizes["test"] == int(1060 * 0.03)
    assert "c" not in corpus.vocab  # never in the training part
    assert (corpus.splits["test"] == corpus.vocab.unk_id).all()


def test_ptb_uses_its_three_files_and_word_vocab(data_dir: Path) -> None:
    corpus = load_corpus(LMDataConfig(data="ptb", level="word"))
    assert len(corpus.vocab) == 10000  # Mikolov's vocabulary: 9,998 words + <unk> + <eos>
    n_lines = sum(1 for _ in open(data_dir / "ptb" / "ptb.valid.txt", encoding="utf-8"))
    assert int((corpus.splits["valid"] == corpus.vocab["<eos>"]).sum()) == n_lines


def test_fit_lowers_loss_and_run_dir_rebuilds_the_model(text_file: Path, tmp_path: Path) -> None:
    lm = TextLM.create(
        "demo", model=TINY_MODEL, data={"data": str(text_file), "bptt": 20, "batch_size": 8}
    )
    before = lm.evaluate("valid")["loss"]
    run = tmp_path / "run"
    result = lm.fit(run, {"epochs": 3, "lr": 1e-2, "progress": False, "eval_every": None})
    assert result["val_loss"] < before - 0.3
    for name in ("config.json", "vocab.json", "metrics.csv", "loss.png", "best", "last"):
        assert (run / name).exists(), name
    assert json.loads((run / "config.json").read_text())["task"] == "lm"
    again = TextLM.load(run)
    assert again.evaluate("test")["loss"] == pytest.approx(result["test_loss"], rel=1e-6)


def test_generation_is_seeded_greedy_is_deterministic_and_reads_prompt_once(
    text_file: Path,
) -> None:
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(text_file), "bptt": 20})
    a = lm.generate("The ", 30, num_samples=3, seed=1)
    assert a == lm.generate("The ", 30, num_samples=3, seed=1)
    assert len(a) == 3 and all(s.startswith("The ") and len(s) == 34 for s in a)
    assert lm.generate("The ", 30, temperature=0) == lm.generate("The ", 30, temperature=0, seed=9)
    positions = []
    forward = lm.model.forward
    lm.model.forward = lambda x, state=None: (positions.append(x.shape[0]), forward(x, state))[1]
    lm.generate("The time", 25)
    assert sum(positions) == len("The time") + 25 - 1  # O(N): each position read once
    assert "<unk>" not in "".join(lm.generate("The ", 200, temperature=2.0))


def test_stop_strings_cut_the_sample(text_file: Path) -> None:
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(text_file), "bptt": 20})
    out = lm.generate("The ", 300, temperature=1.5, stop=["e"], seed=3)[0]
    assert "e" not in out[4:]


def test_cli_train_generate_eval(text_file: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "cli-run"
    args = [
        "lm",
        "train",
        "--data",
        str(text_file),
        "--run-dir",
        str(run),
        "--max-steps",
        "6",
        "--hidden-size",
        "16",
        "--embedding-dim",
        "8",
        "--num-layers",
        "1",
        "--bptt",
        "16",
        "--batch-size",
        "4",
        "--num-samples",
        "1",
        "--sample-length",
        "20",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "samples before training" in out and "samples after training" in out
    assert (
        main(
            [
                "lm",
                "generate",
                "--run",
                str(run),
                "--prompt",
                "Th",
                "--max-new-tokens",
                "15",
                "--num-samples",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("Th")]
    assert len(lines) >= 2
    assert "--- sample 1 of 2 ---" in out and "--- sample 2 of 2 ---" in out  # kept apart
    assert main(["lm", "eval", "--run", str(run), "--split", "valid"]) == 0
    out = capsys.readouterr().out
    assert "perplexity" in out and "valid" in out
    # the run continues from its last checkpoint (bare --resume: --resume true)
    assert (
        main(
            args[:-6]
            + ["--max-steps", "8", "--resume", "--num-samples", "1", "--sample-length", "5"]
        )
        == 0
    )
    meta = json.loads((run / "last" / "trainer.json").read_text())
    assert meta["step"] == 8


def test_bad_input_errors(text_file: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(LMDataConfig(data=str(empty)))
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"abc\x00\x01\x02" * 100)
    with pytest.raises(ValueError, match="blob.txt"):
        load_corpus(LMDataConfig(data=str(binary)))
    with pytest.raises(FileNotFoundError, match="nope"):
        TextLM.load(tmp_path / "nope")
    assert main(["lm", "generate", "--run", str(tmp_path / "nope")]) == 1
    assert "nope" in capsys.readouterr().err
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(text_file), "bptt": 20})
    with pytest.raises(ValueError, match="not in the vocabulary: '☃'"):
        lm.generate("The ☃", 5)
    with pytest.raises(ValueError, match="`preset` must be one of"):
        TextLM.create("nope")
    with pytest.raises(ValueError, match="unknown model keys"):
        TextLM.create("demo", model={"hidden": 3}, data={"data": str(text_file)})
    assert torch.is_tensor(lm.encode_prompt("The"))


def test_lm_step_adds_ar_and_tar_in_train_mode_only() -> None:
    import torch.nn.functional as F

    from rnnkit.models.language_model import LanguageModel, LMConfig
    from rnnkit.tasks.lm import lm_step

    cfg = LMConfig(
        embedding_dim=6, hidden_size=6, num_layers=2, dropout=0.3, dropout_kind="locked",
        ar_alpha=2.0, tar_beta=1.0,
    )  # fmt: skip
    model = LanguageModel(9, cfg)
    x, y = torch.randint(0, 9, (5, 2)), torch.randint(0, 9, (5, 2))
    torch.manual_seed(3)
    got = lm_step(model, (x, y), None).loss
    torch.manual_seed(3)
    logits, _, (raw, dropped) = model(x, return_hidden=True)
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    want = ce + 2.0 * dropped.pow(2).mean() + (raw[1:] - raw[:-1]).pow(2).mean()
    torch.testing.assert_close(got, want)
    model.eval()
    logits, _ = model(x)
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    torch.testing.assert_close(lm_step(model, (x, y), None).loss, ce)


def test_awd_preset_builds_its_configs() -> None:
    from rnnkit.models.language_model import LanguageModel, LMConfig
    from rnnkit.tasks.lm import LMDataConfig
    from rnnkit.tasks.presets import load_preset
    from rnnkit.train import TrainConfig

    preset = load_preset("lm", "awd-ptb")
    model_cfg = LMConfig.from_dict(preset["model"])
    data_cfg = LMDataConfig(**preset["data"])
    train_cfg = TrainConfig.from_dict(preset["train"])
    assert data_cfg.variable_bptt and data_cfg.bptt == 70
    assert (train_cfg.optimizer, train_cfg.clip_norm, train_cfg.weight_decay) == (
        "ntasgd", 0.25, 1.2e-6,
    )  # fmt: skip
    assert (model_cfg.rnn.weight_drop, model_cfg.embedding_dropout) == (0.5, 0.1)
    with torch.device("meta"):
        n = sum(p.numel() for p in LanguageModel(10000, model_cfg).parameters())
    assert model_cfg.hidden_sizes == (1150, 1150, 400)
    assert 24.1e6 < n < 24.3e6  # the paper's 24M


def test_uneven_stack_fits_generates_reloads_and_resumes(text_file: Path, tmp_path: Path) -> None:
    """AWD's per-layer sizes through the whole task: list states in TBPTT, NT-ASGD, sampling
    (states tiled per sample), checkpoints and an exact resume."""
    model = {
        "embedding_dim": 8, "num_layers": 3, "hidden_sizes": [16, 12, 8], "tie_weights": True,
        "dropout_kind": "locked", "dropout": 0.2, "weight_drop": 0.3, "ar_alpha": 2.0,
        "tar_beta": 1.0,
    }  # fmt: skip
    data = {"data": str(text_file), "bptt": 12, "batch_size": 4, "variable_bptt": True}
    train = {"optimizer": "ntasgd", "lr": 5.0, "clip_norm": 0.25, "progress": False}
    lm = TextLM.create("demo", model=model, data=data)
    before = lm.evaluate("valid")["loss"]
    result = lm.fit(tmp_path / "run", {**train, "epochs": 2, "eval_every": None})
    assert result["val_loss"] < before
    assert len(lm.generate("The ", 20, num_samples=2, seed=0)) == 2
    again = TextLM.load(tmp_path / "run")
    assert again.evaluate("test")["loss"] == pytest.approx(result["test_loss"], rel=1e-6)
    straight = TextLM.create("demo", model=model, data=data)
    full = straight.fit(tmp_path / "straight", {**train, "epochs": 3, "eval_every": None})
    resumed = TextLM.load(tmp_path / "run", "last")
    cont = resumed.fit(tmp_path / "run", {**train, "epochs": 3, "eval_every": None}, resume=True)
    assert cont["val_loss"] == pytest.approx(full["val_loss"], rel=1e-6)
