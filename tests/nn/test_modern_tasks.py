"""sLSTM, mLSTM and RG-LRU in every task: built by name, trained a few steps, listed by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models import (
    ClassifierConfig,
    ForecasterConfig,
    ForecastNet,
    LanguageModel,
    LMConfig,
    Seq2Seq,
    Seq2SeqConfig,
    SequenceClassifier,
)
from rnnkit.nn import RecurrentSpec
from rnnkit.train import detach_state

CELLS = ["slstm", "mlstm", "rglru"]


def grads_finite(model: torch.nn.Module) -> bool:
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    return all(g is not None and torch.isfinite(g).all() for g in grads)


def test_cli_lists_the_cells(capsys) -> None:
    assert main(["nn", "cells"]) == 0
    out = capsys.readouterr().out
    for cell in CELLS:
        assert cell in out


@pytest.mark.parametrize("cell", CELLS)
def test_spec_builds_the_cell(cell: str) -> None:
    spec = RecurrentSpec(cell=cell, hidden_size=8, num_layers=2, bidirectional=True)
    layer = spec.build(5, batch_first=True)
    out, _ = layer(torch.randn(3, 6, 5))  # (B, T, I)
    assert out.shape == (3, 6, spec.output_size)


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_trains_with_a_carried_state(cell: str) -> None:
    torch.manual_seed(0)
    V = 11
    model = LanguageModel(V, LMConfig(cell=cell, embedding_dim=8, hidden_size=16, num_layers=2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    x = torch.randint(V, (25, 4))  # (T, B)
    losses = []
    for _ in range(8):
        state, total = None, 0.0
        for start in (0, 12):  # two TBPTT windows, the state carried (detached) between
            chunk = x[start : start + 13]
            logits, state = model(chunk[:-1], state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), chunk[1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            assert grads_finite(model)
            opt.step()
            state = detach_state(state)
            total += loss.item()
        losses.append(total)
    assert losses[-1] < losses[0] - 0.1


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_trains(cell: str) -> None:
    torch.manual_seed(0)
    config = ClassifierConfig(
        num_classes=2, vocab_size=13, cell=cell, embedding_dim=8, hidden_size=8,
        bidirectional=True,
    )  # fmt: skip
    model = SequenceClassifier(config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    x = torch.randint(1, 13, (7, 8))  # (T, B)
    lengths = torch.tensor([7, 3, 5, 7, 2, 6, 4, 7])
    y = (x[0] > 6).long()  # the label is in the first token
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        assert grads_finite(model)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster(cell: str) -> None:
    torch.manual_seed(0)
    for mode in ("direct", "seq2seq", "autoregressive"):
        net = ForecastNet(ForecasterConfig(cell=cell, hidden_size=8, horizon=3, mode=mode))
        out = net(torch.randn(10, 2, 1))  # (T, B, C)
        assert out.mean.shape == (3, 2, 1)
        out.mean.square().mean().backward()
        assert grads_finite(net)


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_runs_or_is_refused_at_config_build(cell: str) -> None:
    torch.manual_seed(0)
    sizes = {"src_vocab_size": 13, "tgt_vocab_size": 11, "embedding_dim": 8, "hidden_size": 8}
    if cell != "rglru":  # no (h, c) to hand the decoder: refused before any forward
        state = {"slstm": "SLSTMState", "mlstm": "MLSTMState"}[cell]
        with pytest.raises(ValueError, match=rf"got '{cell}', whose state is a {state}"):
            Seq2SeqConfig(cell=cell, **sizes)
        with pytest.raises(ValueError, match="h or \\(h, c\\) state"):
            Seq2SeqConfig.from_dict({"rnn": {"cell": cell}, **sizes})
        return
    model = Seq2Seq(Seq2SeqConfig(cell=cell, **sizes))
    src, tgt = torch.randint(1, 13, (5, 2)), torch.randint(1, 11, (4, 2))
    logits, _ = model(src, torch.tensor([5, 3]), tgt)
    logits.sum().backward()
    assert grads_finite(model)


@pytest.mark.parametrize("cell", CELLS)
def test_lm_cli_trains_and_generates(cell: str, data_dir: Path, tmp_path: Path, capsys) -> None:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    corpus = tmp_path / "slice.txt"
    corpus.write_text(text[5000:9000], encoding="utf-8")
    run = tmp_path / "run"
    args = ["lm", "train", "--data", str(corpus), "--run-dir", str(run), "--cell", cell]
    args += ["--max-steps", "4", "--hidden-size", "8", "--embedding-dim", "8"]
    args += ["--bptt", "12", "--batch-size", "4", "--num-samples", "1", "--sample-length", "5"]
    assert main(args) == 0
    capsys.readouterr()
    gen = ["lm", "generate", "--run", str(run), "--prompt", "Th", "--max-new-tokens", "6"]
    assert main([*gen, "--num-samples", "2"]) == 0
    assert "Th" in capsys.readouterr().out


def test_cli_layer_flags_set_the_xlstm_fields(data_dir: Path, tmp_path: Path, capsys) -> None:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    corpus = tmp_path / "slice.txt"
    corpus.write_text(text[5000:7000], encoding="utf-8")
    common = ["lm", "train", "--data", str(corpus), "--max-steps", "2", "--hidden-size", "8"]
    common += ["--embedding-dim", "8", "--bptt", "8", "--batch-size", "2", "--num-samples", "1"]
    common += ["--sample-length", "2"]
    run = tmp_path / "run"
    args = [*common, "--run-dir", str(run), "--cell", "mlstm", "--num-heads", "2"]
    assert main([*args, "--chunk-size", "4"]) == 0
    rnn = json.loads((run / "config.json").read_text())["model"]["rnn"]
    assert (rnn["cell"], rnn["num_heads"], rnn["chunk_size"]) == ("mlstm", 2, 4)
    capsys.readouterr()
    bad = [*common, "--run-dir", str(tmp_path / "bad"), "--cell", "lstm", "--forget-gate", "exp"]
    assert main(bad) != 0
    assert "`forget_gate` is only for cells slstm" in capsys.readouterr().err
