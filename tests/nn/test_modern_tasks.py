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


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_encoder_and_decoder(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    sizes = {"src_vocab_size": 13, "tgt_vocab_size": 11, "embedding_dim": 8, "hidden_size": 8}
    config = Seq2SeqConfig(cell=cell, num_layers=2, bidirectional=bidirectional, **sizes)
    model = Seq2Seq(config)
    src, tgt = torch.randint(1, 13, (5, 2)), torch.randint(1, 11, (4, 2))
    logits, _ = model(src, torch.tensor([5, 3]), tgt)
    assert logits.shape == (4, 2, 11)
    logits.sum().backward()
    assert grads_finite(model)  # the bridge included: the decoder's state depends on it


def test_seq2seq_mlstm_bridges_the_top_layer_at_each_rows_last_step() -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(13, 11, cell="mlstm", hidden_size=8, num_layers=2, bidirectional=True)
    model = Seq2Seq(config).eval()
    assert model.bridge.enc_layers == 1  # MLSTMState has no h: the top layer's output
    src, lengths = torch.randint(1, 13, (5, 2)), torch.tensor([5, 3])
    memory, final = model.encoder(src, lengths)
    assert final.shape == (2, 2, 8)  # (D, B, H)
    torch.testing.assert_close(final[0, 1], memory[2, 1, :8])  # forward: row 1's last step
    torch.testing.assert_close(final[1, 0], memory[0, 0, 8:])  # reverse: step 0
    _, alone = model.encoder(src[:3, 1:], lengths[1:])  # row 1 without its padding
    torch.testing.assert_close(final[:, 1], alone[:, 0])


def test_seq2seq_xlstm_decoder_state_comes_from_the_bridge() -> None:
    from rnnkit.models.seq2seq_bridge import decoder_state

    torch.manual_seed(0)
    h0 = torch.randn(2, 3, 8)  # (L_d, B, H_d)
    slstm = RecurrentSpec(cell="slstm", hidden_size=8, num_layers=2).build(4)
    state = decoder_state(h0, slstm)
    assert state.h is h0 and not state.c.any() and not state.n.any()
    mlstm = RecurrentSpec(cell="mlstm", hidden_size=8, num_layers=2, num_heads=2).build(4)
    C, n, m = decoder_state(h0, mlstm)
    k, v = h0.view(2, 3, 2, 4) / 2.0, h0.view(2, 3, 2, 4)  # d = 4: keys scaled by 1/sqrt(d)
    torch.testing.assert_close(C[1, 2, 0], torch.outer(k[1, 2, 0], v[1, 2, 0]))
    torch.testing.assert_close(n, k)
    assert m.shape == (2, 3, 2) and not m.any()
    x = torch.randn(1, 3, 4)  # the first decoder step sees what the bridge wrote
    assert not torch.allclose(mlstm(x, decoder_state(h0, mlstm))[0], mlstm(x)[0])


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
