"""rnnkit.explain: gradient flow (hand case, scratch parity), gates, units, saliency, report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.explain.gate_math import GATE_NAMES
from rnnkit.explain.gates import gate_stats
from rnnkit.explain.gradients import gradient_flow
from rnnkit.explain.neurons import property_units, text_properties
from rnnkit.explain.probe import probe
from rnnkit.explain.saliency import gradient_x_input
from rnnkit.explain.vanishing import (
    distinct_cells,
    init_forget_gate,
    run_vanishing,
    textbook_cells,
    verdict,
)
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.nn import make_rnn
from rnnkit.nn.registry import cell_names


@pytest.mark.parametrize("cell", cell_names())
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


def test_rglru_gradient_flow_is_the_product_of_its_decays() -> None:
    # h_t = a_t h_(t-1) + b_t and L = sum(h_T): dL/dh_t = prod_(s>t) a_s, unit by unit
    torch.manual_seed(0)
    layer = make_rnn("rglru", 2, 3).double()
    x = torch.randn(6, 1, 2, dtype=torch.float64)
    with probe(layer) as record:
        out, _ = layer(x)
        out[-1].sum().backward()
    trace = record.calls[0][0]
    a = trace.gates["a"][:, 0]  # (T, H)
    expected = torch.stack([a[t + 1 :].prod(0) for t in range(6)])  # (T, H)
    torch.testing.assert_close(trace.eps.grad[:, 0], expected, rtol=1e-12, atol=0)
    assert set(trace.gates) == {"recurrence", "input", "a"} and trace.carried == "h"


def test_mlstm_flow_is_of_its_memory_and_says_so() -> None:
    # h_t is not fed back: with the loss at T alone, dL/dC_t = f'_(t+1) dL/dC_(t+1) per head
    torch.manual_seed(0)
    layer = make_rnn("mlstm", 3, 4, num_heads=2).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)

    def loss(m: torch.nn.Module) -> torch.Tensor:
        return m(x)[0][-1].sum()

    flow = gradient_flow(layer, loss)
    assert (flow.table["state"] == "C").all() and (flow.table["norm"] > 0).all()
    assert any("dL/dC_t" in n and "does not feed back" in n for n in flow.notes)
    with probe(layer) as record:
        loss(layer).backward()
    trace = record.calls[0][0]
    grad = trace.eps.grad.view(5, 2, 2, 4)  # (T, B, NH, d·d)
    forget = trace.gates["forget"].view(5, 2, 2, 2)[..., 0]  # (T, B, NH): one per head
    torch.testing.assert_close(grad[:-1], forget[1:, ..., None] * grad[1:], rtol=1e-10, atol=0)


def test_slstm_shows_its_stabilised_gates() -> None:
    torch.manual_seed(0)
    layer = make_rnn("slstm", 3, 4)
    x = torch.randn(6, 2, 3) * 5  # large pre-activations: exp(i~) alone would be far above 1
    stats = gate_stats(layer, lambda m: m(x, lengths=torch.tensor([6, 3])))
    i, f = (stats.values[("", 0, 0, g)] for g in ("input", "forget"))
    assert i.max() <= 1.0 and f.min() >= 0.0 and i.size == f.size == (6 + 3) * 4
    np.testing.assert_allclose(np.maximum(i, f), 1.0)  # one of i', f' is 1 at every step
    assert any("stabilised" in n for n in stats.notes)


def test_the_textbook_sides_are_read_from_the_registry() -> None:
    tanh, gated = textbook_cells(cell_names())
    assert tanh == ["rnn", "rnn_tanh"] and gated == ["gru", "lstm"]
    rows = [("rnn", False), ("lstm", True), ("gru", True), ("slstm", False)]
    table = pd.DataFrame(
        [
            {"task": "adding", "length": 9, "cell": c, "solved": ok, "ratio_init": 0.1}
            | {"ratio_trained": 0.2}
            for c, ok in rows
        ]
    )
    text = verdict(table)
    assert "the tanh RNN (rnn) fails where the gated cells (lstm, gru) succeed" in text
    assert "failed slstm" in text and "lstm 1.0e-01 -> 2.0e-01" in text


@pytest.mark.parametrize("cell", ["slstm", "mlstm", "rglru"])
def test_new_cells_in_a_bidirectional_classifier_with_padding(cell: str) -> None:
    torch.manual_seed(0)
    config = ClassifierConfig.from_dict(
        {"vocab_size": 20, "num_classes": 3, "padding_idx": 0, "embedding_dim": 6}
        | {"hidden_size": 4, "cell": cell, "bidirectional": True, "num_layers": 2}
    )
    model = SequenceClassifier(config)
    x = torch.tensor([[3, 4], [5, 6], [7, 8], [9, 0], [2, 0]])  # (T, B), row 1 padded after 3
    lengths = torch.tensor([5, 3])

    def loss(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(m(x, lengths), torch.tensor([0, 2]))

    table = gradient_flow(model, loss).table
    assert len(table) == 2 * 2 * 5 and (table["norm"] > 0).all()
    stats = gate_stats(model, loss)
    assert set(stats.table["gate"]) == set(GATE_NAMES[cell])
    assert (stats.table["count"] == (5 + 3) * 4).all()  # valid steps x units


def test_slstm_flow_is_of_its_cell_state() -> None:
    # R = 0 (the paper's init) and the loss at T alone: dL/dc_t = f'_(t+1) dL/dc_(t+1)
    torch.manual_seed(0)
    layer = make_rnn("slstm", 3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    flow = gradient_flow(layer, lambda m: m(x)[0][-1].sum())
    assert (flow.table["state"] == "c").all() and (flow.table["norm"] > 0).all()
    assert any("dL/dc_t" in n for n in flow.notes)
    with probe(layer) as record:
        layer(x)[0][-1].sum().backward()
    trace = record.calls[0][0]
    grad, forget = trace.eps.grad, trace.gates["forget"]  # (T, B, H) each
    torch.testing.assert_close(grad[:-1], forget[1:] * grad[1:], rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("cell", ["lstm", "slstm", "mlstm", "rglru"])
def test_probe_takes_an_initial_state_and_unbatched_input(cell: str) -> None:
    torch.manual_seed(0)
    layer = make_rnn(cell, 3, 4).eval()
    _, hx = layer(torch.randn(4, 3))  # an unbatched state of the layer's own type
    x = torch.randn(5, 3)
    ref, ref_n = layer(x, hx)
    with probe(layer):
        out, h_n = layer(x, hx)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert type(h_n) is type(ref_n)
    fields = [[s] if isinstance(s, torch.Tensor) else list(s) for s in (h_n, ref_n)]
    for a, b in zip(*fields, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_probe_refuses_a_network_without_recurrent_state_and_names_the_way_out() -> None:
    from rnnkit.models.minirocket import MiniRocket, MiniRocketConfig

    model = MiniRocket(MiniRocketConfig(num_classes=2, input_size=1, input_length=20))
    with pytest.raises(ValueError, match=r"\(MiniRocket\) has no rnnkit recurrent layer.*"
                       r"`rnnkit classify train --preset lstm-fcn`"):  # fmt: skip
        with probe(model):
            pass
