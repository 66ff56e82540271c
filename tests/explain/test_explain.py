"""rnnkit.explain: gradient flow (hand case, scratch parity), gates, units, saliency, report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.explain.gates import gate_stats
from rnnkit.explain.gradients import gradient_flow
from rnnkit.explain.neurons import property_units, text_properties
from rnnkit.explain.probe import probe
from rnnkit.explain.saliency import gradient_x_input
from rnnkit.explain.vanishing import distinct_cells, init_forget_gate, run_vanishing, verdict
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.nn import make_rnn
from rnnkit.nn.registry import cell_names

# cells registered by #19 after the probe was written: it does not know their layers yet
_NOT_PROBED: set[str] = set()
_XFAIL = pytest.mark.xfail(strict=True, reason="rnnkit.explain.probe lacks this cell (#19)")


@pytest.mark.parametrize(
    "cell", [pytest.param(c, marks=_XFAIL) if c in _NOT_PROBED else c for c in cell_names()]
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_probe_reproduces_every_cell_with_lengths(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    layer = make_rnn(cell, 3, 4, 2, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(6, 2, 3), torch.tensor([6, 4])
    ref, _ = layer(x, lengths=lengths)
    with probe(layer) as record:
        out, _ = layer(x, lengths=lengths)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert len(record.calls[0]) == 2 * (2 if bidirectional else 1)
    assert all(tr.gates for tr in record.calls[0])


def test_gradient_norms_of_a_linear_one_unit_rnn_are_powers_of_w() -> None:
    # h_t = relu(w h_{t-1} + x_t) with x_t = 1 > 0 is linear; L = h_T -> dL/dh_t = w^(T-t)
    layer = make_rnn("rnn_relu", 1, 1).double()
    with torch.no_grad():
        layer.weight_hh_l0.fill_(0.5)
        layer.weight_ih_l0.fill_(1.0)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    x = torch.ones(6, 1, 1, dtype=torch.float64)
    flow = gradient_flow(layer, lambda m: m(x)[0][-1].sum())
    np.testing.assert_allclose(flow.table["norm"], 0.5 ** np.arange(5, -1, -1), rtol=1e-12)
    assert flow.ratios()["ratio"].iloc[0] == pytest.approx(0.5**5)
    np.testing.assert_allclose(flow.table["scratch"], flow.table["norm"], rtol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradient_flow_agrees_with_the_scratch_engine(cell: str, bidirectional: bool) -> None:
    torch.manual_seed(1)
    layer = make_rnn(cell, 3, 5, 2, bidirectional=bidirectional).double()
    x, lengths = torch.randn(7, 3, 3, dtype=torch.float64), torch.tensor([7, 5, 2])

    def loss(m: torch.nn.Module) -> torch.Tensor:
        out, _ = m(x, lengths=lengths)
        return (out[1] ** 2).sum() + out[-1].sum()

    table = gradient_flow(layer, loss).table
    assert table["scratch"].notna().all()
    np.testing.assert_allclose(table["scratch"], table["norm"], rtol=1e-9, atol=1e-12)


def test_gate_statistics_of_a_cell_with_known_preactivations() -> None:
    layer = make_rnn("lstm", 2, 3).eval()
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.zero_()
        layer.bias_hh_l0.zero_()
        # pre-activations i = 3, f = -3, g = 0, o = 0 at every step
        layer.bias_ih_l0.copy_(torch.tensor([3.0] * 3 + [-3.0] * 3 + [0.0] * 6))
    stats = gate_stats(layer, lambda m: m(torch.randn(5, 2, 2)))
    t = stats.table.set_index("gate")
    assert t.loc["input", "mean"] == pytest.approx(
        torch.sigmoid(torch.tensor(3.0)).item(), abs=1e-6
    )
    assert t.loc["input", "high"] == 1.0 and t.loc["input", "low"] == 0.0
    assert t.loc["forget", "low"] == 1.0 and t.loc["forget", "saturated"] == 1.0
    assert t.loc["output", "saturated"] == 0.0 and t.loc["cell", "mean"] == pytest.approx(0.0)
    assert t.loc["input", "count"] == 5 * 2 * 3


def test_cells_without_gates_say_what_is_shown_instead() -> None:
    for cell, word in (("rnn", "no gates"), ("mingru", "input alone")):
        stats = gate_stats(make_rnn(cell, 2, 3), lambda m: m(torch.randn(4, 1, 2)))
        assert any(word in n for n in stats.notes)


def test_property_unit_finder_recovers_a_planted_unit() -> None:
    tokens = list('ab "cd ef" (gh) ij\nk "lm" no (p q) r s\n')
    props = text_properties(tokens)
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(len(tokens), 16))
    hidden[:, 11] = props["inside_quotes"] + 0.1 * rng.normal(size=len(tokens))
    hidden[:, 4] = props["inside_brackets"] * 2 - 1
    units = property_units(hidden, props, top=1).set_index("property")
    assert units.loc["inside_quotes", "unit"] == 11 and units.loc["inside_quotes", "r"] > 0.9
    assert units.loc["inside_brackets", "unit"] == 4


def test_saliency_is_zero_on_padding_and_sums_over_the_valid_steps() -> None:
    torch.manual_seed(0)
    config = ClassifierConfig.from_dict(
        {
            "vocab_size": 20,
            "num_classes": 3,
            "padding_idx": 0,
            "embedding_dim": 6,
            "hidden_size": 5,
            "pooling": "attention",
        }
    )
    model = SequenceClassifier(config)
    x = torch.tensor([[3, 4], [5, 6], [7, 8], [9, 0], [2, 0]])  # (T, B), row 1 padded after 3
    scores, logits, weights = gradient_x_input(model, x, torch.tensor([5, 3]))
    assert scores.shape == (5, 2) and np.all(scores[3:, 1] == 0.0)
    assert np.all(scores[:3, 1] != 0.0)
    assert weights is not None and np.allclose(weights.sum(0), 1.0) and weights[3:, 1].max() == 0


def test_forget_gate_inits_set_the_lstm_kinds_biases() -> None:
    gen = torch.Generator().manual_seed(0)
    for cell in ("lstm", "lstm_ln", "minlstm"):
        layer = make_rnn(cell, 2, 4)
        assert init_forget_gate(layer, "chrono", 50, gen)
        b = layer.bias_ih_l0.detach()
        forget = b[4:8] + (layer.bias_hh_l0.detach()[4:8] if cell != "minlstm" else 0)
        assert forget.min() >= 0 and forget.max() <= np.log(49) + 1e-6
        torch.testing.assert_close(b[:4], -b[4:8])
    layer = make_rnn("lstm", 2, 4)
    assert init_forget_gate(layer, "one", 50, gen)
    total = layer.bias_ih_l0.detach() + layer.bias_hh_l0.detach()
    torch.testing.assert_close(total[4:8], torch.ones(4))
    assert not init_forget_gate(make_rnn("gru", 2, 4), "chrono", 50, gen)
    with pytest.raises(ValueError, match="forget_init"):
        init_forget_gate(layer, "two", 50, gen)


def test_vanishing_runs_every_distinct_cell_and_says_its_verdict() -> None:
    names, aliases = distinct_cells()
    assert "rnn_tanh" not in names and any("rnn_tanh" in a for a in aliases)
    result = run_vanishing(cells=["rnn", "lstm", "gru"], lengths=[6], steps=2, hidden_size=4)
    t = result.table
    assert list(t.cell) == ["rnn", "lstm", "gru"] and (t.steps == 2).all()
    assert t.loc[t.cell == "lstm", "init"].item() == "forget chrono"
    assert t.ratio_init.gt(0).all() and t.metric.eq("mse").all()
    assert result.verdict.startswith("adding T=6:")
    rows = [("rnn", False), ("lstm", True), ("gru", True)]
    table = t.assign(solved=[ok for _, ok in rows])
    assert "REPRODUCED" in verdict(table)
    assert "NOT cleanly" in verdict(table.assign(solved=[True, False, True]))
