"""The translate task with every decoder output layer: it trains (falling validation loss),
decodes greedy and beam, its evaluation perplexity is exp(mean NLL) of the layer's own
log-probabilities, a resume is bitwise exact; --output-layer through the CLI, a bad value's
one-line error, and export (chunked runs on the NumPy engine, adaptive is refused)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.pair_splits import load_pair_splits
from rnnkit.data.pairs import PairLoader, has_simple_prefix, read_pairs
from rnnkit.models.output_layers import output_layer_names
from rnnkit.tasks.translate import Translator, evaluate, train, translate
from rnnkit.train.checkpoint import load_checkpoint

TINY = {"hidden_size": 8, "embedding_dim": 8, "progress": False, "lr": 1e-2}
SPLITS = {"val_fraction": 0.1, "test_fraction": 0.1}
MODEL = {"chunk_rows": 7}  # several chunks per batch for chunked; ignored by the others


@pytest.fixture(scope="module")
def tsv(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 short "i am / he is" pairs of fra.txt."""
    rows = [
        p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:8000] if has_simple_prefix(p[0])
    ]
    path = tmp_path_factory.mktemp("tol") / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in rows[:60]), encoding="utf-8")
    return path


def _train(tsv: Path, run: Path, name: str, steps: int, resume: bool = False) -> dict:
    return train("demo", str(run), data=str(tsv), simple_prefixes=False, output_layer=name,
                 max_steps=steps, resume=resume, data_options=SPLITS, model_options=MODEL,
                 label_smoothing=0.1, **TINY)  # fmt: skip


def _val_losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", encoding="utf-8") as f:
        return [float(r["val_loss"]) for r in csv.DictReader(f) if r["split"] == "val"]


@torch.no_grad()
def _direct_perplexity(tr: Translator, pairs: list[tuple[str, str]]) -> float:
    """exp(mean -log p(y_t | ...)) over the reference tokens, from ``out.log_prob``."""
    src = [tr.src_vocab.encode(tr.tokenizer.tokenize(s)) for s, _ in pairs]
    tgt = [tr.tgt_vocab.encode(tr.tokenizer.tokenize(t)) for _, t in pairs]
    model = tr.model.eval()
    nll, n = 0.0, 0
    for b in PairLoader(src, tgt, tr.src_vocab, tr.tgt_vocab, 4, shuffle=False):
        state, memory = model.encode(b.src, b.src_lengths)
        hidden, _ = model.decoder(b.tgt_in, state, memory)  # (T, B, H_d)
        log_p = model.decoder.out.log_prob(hidden)  # (T, B, V_t)
        keep = b.tgt_out != tr.tgt_vocab.pad_id
        nll -= float(log_p.gather(-1, b.tgt_out[..., None]).squeeze(-1)[keep].double().sum())
        n += int(keep.sum())
    return math.exp(nll / n)


@pytest.mark.parametrize("name", output_layer_names())
def test_each_output_layer_trains_decodes_evaluates_and_resumes_exactly(
    name: str, tsv: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    result = _train(tsv, run, name, 6)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["output_layer"] == name and config["model"]["chunk_rows"] == 7
    losses = _val_losses(run)
    # 2-step epochs under a 6-step budget: evaluated every max_steps // 10 = 1 step
    assert len(losses) == 6 and losses[-1] < losses[0]
    tr = Translator.load(run)
    assert type(tr.model.decoder.out).__name__.lower().startswith(name)
    V = len(tr.tgt_vocab)
    for method in ("greedy", "beam"):
        out = tr.translate(["I am cold.", "He is tall."], method=method, beam_size=3)
        assert len(out) == 2
        for t in out:
            ids = tr.tgt_vocab.encode(t.tokens)
            assert all(0 <= i < V for i in ids) and t.score <= 0
    scores = evaluate(str(run), split="test", method="beam", beam_size=2, attention_plots=0)
    tsv_rows = (run / "translations-test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(tsv_rows) == scores["pairs"] == 6
    split = load_pair_splits(tr.data, tr.files).text["test"]
    assert scores["perplexity"] == pytest.approx(_direct_perplexity(tr, split), rel=1e-5)
    # resume: 3 steps, then 3 more, equals 6 straight, bitwise
    half = tmp_path / "half"
    _train(tsv, half, name, 3)
    resumed = _train(tsv, half, name, 6, resume=True)
    assert resumed["step"] == result["step"] == 6
    straight, _ = load_checkpoint(run, "last")
    again, _ = load_checkpoint(half, "last")
    assert set(straight) == set(again)
    for key, value in straight.items():
        assert torch.equal(again[key], value), key


def test_cli_output_layer_flag_and_a_bad_value(
    tsv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "cli"
    args = ["translate", "train", "--run-dir", str(run), "--data", str(tsv),
            "--simple-prefixes", "false", "--hidden-size", "8", "--embedding-dim", "8",
            "--progress", "false", "--max-steps", "2"]  # fmt: skip
    args += ["--data-options", json.dumps(SPLITS)]
    assert main([*args, "--output-layer", "adaptive"]) == 0
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["output_layer"] == "adaptive"
    assert main(["translate", "eval", "--run", str(run), "--method", "beam"]) == 0
    assert "perplexity" in capsys.readouterr().out
    assert main(["translate", "run", "--run", str(run), "--sentences", "I am cold."]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    args[3] = str(bad)
    assert main([*args, "--output-layer", "sampled"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "`output_layer`" in err and "adaptive" in err
    assert not (bad / "config.json").exists()


def test_export_runs_chunked_and_refuses_adaptive(
    tsv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chunked = tmp_path / "chunked"
    _train(tsv, chunked, "chunked", 2)
    sentences = ["I am cold.", "He is tall."]
    want = translate(str(chunked), sentences, method="greedy")
    assert translate(str(chunked), sentences, method="greedy", backend="numpy") == want
    adaptive = tmp_path / "adaptive"
    _train(tsv, adaptive, "adaptive", 2)
    capsys.readouterr()
    assert main(["export", "--run", str(adaptive), "--format", "numpy"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output layer is 'adaptive'" in err
    with pytest.raises(ValueError, match="translator's output layer is 'adaptive'.*torch"):
        translate(str(adaptive), sentences, backend="onnx")
