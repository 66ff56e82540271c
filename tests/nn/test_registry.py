"""The cell registry: one entry makes a cell usable by every task model, and nothing else
in the package keeps its own list of cell names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnkit
import rnnkit.nn.registry as registry
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
from rnnkit.nn import LAYERS, RecurrentSpec, cell_names, make_rnn, register_cell, unregister_cell

SRC = Path(rnnkit.__file__).parent


class CountingGRU(nn.Module):
    """A layer with the registry's protocol: torch.nn.GRU, counting its calls."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        dropout: float = 0.0,
        bidirectional: bool = False,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        self.inner = nn.GRU(
            input_size, hidden_size, num_layers, dropout=dropout,
            bidirectional=bidirectional, batch_first=batch_first,
        )  # fmt: skip
        self.calls = 0

    def forward(self, x, hx=None):  # x: (T, B, I) or a PackedSequence
        self.calls += 1
        return self.inner(x, hx)


@pytest.fixture
def test_gru():
    register_cell("test_gru", CountingGRU, description="torch GRU, counted (a test)")
    try:
        yield "test_gru"
    finally:
        unregister_cell("test_gru")
    assert "test_gru" not in cell_names() and "test_gru" not in LAYERS


def _backward(model: nn.Module, loss: torch.Tensor) -> None:
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def _layers(model: nn.Module) -> list[CountingGRU]:
    layers = [m for m in model.modules() if isinstance(m, CountingGRU)]
    assert layers, "the registered cell was not used"
    return layers


def test_a_registered_cell_runs_in_all_four_task_models(test_gru):
    torch.manual_seed(0)
    spec = RecurrentSpec(cell=test_gru, hidden_size=6, num_layers=2, dropout=0.1)

    lm = LanguageModel(11, LMConfig(embedding_dim=4, rnn=spec))
    logits, state = lm(torch.randint(11, (5, 3)))  # (T, B)
    assert logits.shape == (5, 3, 11) and state.shape == (2, 3, 6)
    _backward(lm, logits.logsumexp(-1).mean())

    clf = SequenceClassifier(
        ClassifierConfig(num_classes=3, vocab_size=9, embedding_dim=4, rnn=spec, pooling="mean")
    )
    out = clf(torch.randint(1, 9, (5, 2)), torch.tensor([5, 3]))  # packed
    assert out.shape == (2, 3)
    _backward(clf, out.square().mean())

    for mode in ("direct", "autoregressive", "seq2seq", "many_to_one"):
        net = ForecastNet(ForecasterConfig(horizon=2, mode=mode, rnn=spec)).train()
        res = net(torch.randn(7, 2, 1), y=torch.randn(2, 2, 1))  # (T, B, C)
        assert res.mean.shape[1:] == (2, 1)
        _backward(net, res.mean.square().mean())
        assert sum(layer.calls for layer in _layers(net)) >= 1

    s2s_spec = RecurrentSpec(cell=test_gru, hidden_size=6, bidirectional=True)
    s2s = Seq2Seq(Seq2SeqConfig(12, 10, embedding_dim=4, rnn=s2s_spec))
    logits, weights = s2s(
        torch.randint(4, 12, (6, 2)), torch.tensor([6, 4]), torch.ones(3, 2).long()
    )
    assert logits.shape == (3, 2, 10) and weights.shape == (3, 2, 6)
    _backward(s2s, logits.logsumexp(-1).mean())
    for model in (lm, clf, s2s):
        assert all(layer.calls >= 1 for layer in _layers(model))


def test_the_flat_form_takes_a_registered_cell_too(test_gru):
    config = LMConfig.from_dict({"cell": test_gru, "hidden_size": 4, "embedding_dim": 4})
    assert config.rnn.cell == test_gru and config.rnn.num_layers == 2  # the LM's default L
    assert LMConfig.from_dict(config.to_dict()) == config
    assert isinstance(make_rnn(test_gru, 3, 4), CountingGRU)


def test_cell_names_are_the_registry_and_layers_follows_it(test_gru):
    assert cell_names() == sorted(registry.CELLS) and test_gru in cell_names()
    assert LAYERS[test_gru] == (CountingGRU, {}) and len(LAYERS) == len(registry.CELLS)
    assert set(cell_names()) >= {
        "rnn", "rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_ln", "gru_ln", "mingru", "minlstm"
    }  # fmt: skip


def test_register_errors(test_gru):
    with pytest.raises(ValueError, match="'test_gru' is already registered"):
        register_cell(test_gru, CountingGRU, description="again")
    kind = register_cell(test_gru, CountingGRU, description="again", replace=True)
    assert registry.CELLS[test_gru] is kind and kind.description == "again"
    with pytest.raises(ValueError, match=r"`supports` must be some of .*got \['bias'\]"):
        register_cell("other_gru", CountingGRU, description="x", supports={"bias"})
    with pytest.raises(ValueError, match="lower-case identifier"):
        register_cell("Bad Name", CountingGRU, description="x")
    with pytest.raises(TypeError, match="nn.Module class"):
        register_cell("not_a_layer", dict, description="x")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="'nope' is not registered"):
        unregister_cell("nope")
    assert "other_gru" not in cell_names()


def test_options_follow_the_registry(test_gru):
    with pytest.raises(ValueError, match=r"`proj_size` is only for cells lstm, lstm_ln, got"):
        RecurrentSpec(cell=test_gru, hidden_size=8, proj_size=2)
    with pytest.raises(ValueError, match=r"`zoneout_h` is only for cells .*cell='test_gru'"):
        make_rnn(test_gru, 3, 4, zoneout_h=0.1)
    register_cell(test_gru, CountingGRU, description="x", supports={"proj_size"}, replace=True)
    with pytest.raises(TypeError):  # now passed on, and CountingGRU has no such argument
        make_rnn(test_gru, 3, 8, proj_size=2)


_NAME = r"(?:rnn_tanh|rnn_relu|lstm_ln|gru_ln|mingru|minlstm|lstm|gru|rnn)"
# three or more cell names in a row: quoted ("lstm", "gru", "mingru") or a prose list
# (rnn, lstm, gru or mingru); a pair such as ("lstm", "gru") names the cells with a property.
_QUOTED = re.compile(rf"""["']{_NAME}["'](?:\s*[,/|]\s*["']{_NAME}["']){{2,}}""")
_PROSE = re.compile(rf"\b{_NAME}\b(?:(?:\s*[,/]\s*|\s+or\s+|\s+and\s+){_NAME}\b){{2,}}")
# The NumPy engine (scratch/, no torch) keeps its own cells, and functional/ names its
# step functions; everything else (tasks' --help included) reads the registry.
_OWN_TABLES = ("scratch", "functional")


def test_no_module_but_the_registry_lists_cell_names():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in _OWN_TABLES or rel == Path("nn/registry.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for rx in (_QUOTED, _PROSE):
            for m in rx.finditer(text):
                offenders.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
    assert not offenders, "cell names listed outside rnnkit.nn.registry:\n" + "\n".join(offenders)


def test_the_list_check_finds_lists():
    assert _QUOTED.search('CELLS = ("rnn", "lstm", "gru")')
    assert _PROSE.search("cell: rnn, rnn_relu, lstm, gru or mingru.")
    assert not _QUOTED.search('mode in ("lstm", "gru")')
    assert not _PROSE.search("RNN, LSTM, GRU")
