"""Every task model builds MinGRU/MinLSTM by name and trains (forward + backward).

The classifier and seq2seq configs restrict ``cell`` to their own tuple today (CELLS =
("rnn", "rnn_relu", "lstm", "gru")); those tests are strict xfails until the configs accept
``rnnkit.nn.LAYERS`` keys.
"""

from __future__ import annotations

import pytest
import torch

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

CELLS = ["mingru", "minlstm"]


def backward_ok(model: torch.nn.Module, loss: torch.Tensor) -> None:
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_trains(cell):
    torch.manual_seed(0)
    V = 11
    model = LanguageModel(V, LMConfig(cell=cell, embedding_dim=8, hidden_size=16, num_layers=2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randint(V, (12, 4))  # (T, B)
    losses = []
    for _ in range(5):
        logits, state = model(x[:-1])  # (T-1, B, V)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), x[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert state.shape == (2, 4, 16)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cell", CELLS)
def test_forecaster(cell):
    torch.manual_seed(0)
    for mode in ("direct", "seq2seq"):
        net = ForecastNet(ForecasterConfig(cell=cell, hidden_size=8, horizon=3, mode=mode))
        x = torch.randn(10, 2, 1)  # (T, B, C)
        out = net(x)
        assert out.mean.shape == (3, 2, 1)
        backward_ok(net, out.mean.square().mean())


@pytest.mark.parametrize("cell", CELLS)
def test_classifier(cell):
    torch.manual_seed(0)
    config = ClassifierConfig(
        num_classes=3, vocab_size=13, cell=cell, embedding_dim=8, hidden_size=8,
        bidirectional=True,
    )  # fmt: skip
    model = SequenceClassifier(config)
    x = torch.randint(1, 13, (6, 2))  # (T, B)
    logits = model(x, torch.tensor([6, 3]))  # packed path
    assert logits.shape == (2, 3)
    backward_ok(model, logits.sum())


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq(cell):
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=13, tgt_vocab_size=11, cell=cell, embedding_dim=8, hidden_size=8
    )
    model = Seq2Seq(config)
    src = torch.randint(1, 13, (5, 2))  # (S, B)
    tgt = torch.randint(1, 11, (4, 2))  # (T, B)
    logits, _ = model(src, torch.tensor([5, 3]), tgt)
    backward_ok(model, logits.sum())
