"""Exported graphs vs the torch networks: onnxruntime and the NumPy runtime, float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from rnnkit.export.adapters import adapter_for
from rnnkit.export.cache import read_manifest
from rnnkit.export.numpy_bundle import export_numpy, layer_spec
from rnnkit.export.onnx_export import export_onnx
from rnnkit.functional import LSTMState
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.seq2seq_decode import decode
from rnnkit.nn import RecurrentSpec
from rnnkit.scratch.runtime import BundleRuntime
from rnnkit.scratch.runtime_cells import run_layer

TOL = 1e-5


def ort_adapter(model: torch.nn.Module, path: Path, task: str, native: bool = True):
    export_onnx(model, path, task, native=native)
    manifest = read_manifest(path)
    sessions = {
        n: ort.InferenceSession(str(path / g["file"])) for n, g in manifest["graphs"].items()
    }

    def run(graph, inputs):
        return sessions[graph].run(
            None, dict(zip(manifest["graphs"][graph]["inputs"], inputs, strict=True))
        )

    return adapter_for(model, run, manifest)


def numpy_adapter(model: torch.nn.Module, path: Path, task: str):
    export_numpy(model, path, task)
    return adapter_for(model, BundleRuntime.load(path).run, read_manifest(path))


def _flat(state):
    return [state] if isinstance(state, torch.Tensor) else [t for s in state for t in _flat(s)]


def _max_err(a, b) -> float:
    pairs = zip(_flat(a), _flat(b), strict=True)
    return max(float((x - y).detach().abs().max()) if x.numel() else 0.0 for x, y in pairs)


LM_CELLS = [
    ("lstm", {}), ("gru", {}), ("rnn", {}), ("rnn_relu", {}), ("lstm", {"proj_size": 5}),
    ("lstm_ln", {}), ("gru_ln", {}), ("lstm", {"zoneout_h": 0.1, "zoneout_c": 0.2}),
]  # fmt: skip


@pytest.mark.parametrize(("cell", "options"), LM_CELLS)
@pytest.mark.parametrize("native", [True, False])
def test_lm_graph_matches_torch(tmp_path: Path, cell: str, options: dict, native: bool) -> None:
    """Stacked LM, random tokens and a random carried state, on onnxruntime (native ops
    where exact, else Scan; and Scan everywhere) and the NumPy runtime."""
    torch.manual_seed(0)
    spec = RecurrentSpec(cell=cell, hidden_size=8, num_layers=2, **options)
    model = LanguageModel(17, LMConfig(embedding_dim=6, rnn=spec)).eval()
    x = torch.randint(0, 17, (9, 4))
    h0 = torch.randn(2, 4, options.get("proj_size") or 8)
    state = LSTMState(h0, torch.randn(2, 4, 8)) if spec.cell_state else h0
    with torch.no_grad():
        ref = model(x, state)
    runtimes = [
        ort_adapter(model, tmp_path / "onnx", "lm", native),
        numpy_adapter(model, tmp_path / "np", "lm"),
    ]
    for rt in runtimes:
        assert _max_err(rt(x, state), ref) < TOL
        assert _max_err(rt(x[:1], None)[0], model(x[:1])[0].detach()) < TOL  # zero state, T = 1


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_ln"])
def test_classifier_ragged_bidirectional(tmp_path: Path, pooling: str, cell: str) -> None:
    """A ragged batch through a stacked bidirectional classifier: lengths handled inside the
    graph (ReverseSequence / sequence_lens), never a PackedSequence."""
    torch.manual_seed(1)
    spec = RecurrentSpec(cell=cell, hidden_size=8, num_layers=2, bidirectional=True)
    cfg = ClassifierConfig(num_classes=3, vocab_size=20, embedding_dim=6, pooling=pooling, rnn=spec)
    model = SequenceClassifier(cfg).eval()
    x, lengths = torch.randint(1, 20, (9, 5)), torch.tensor([9, 3, 1, 6, 2])
    ref = model(x, lengths).detach()
    runtimes = [
        ort_adapter(model, tmp_path / "onnx", "classify"),
        numpy_adapter(model, tmp_path / "np", "classify"),
    ]
    for rt in runtimes:
        assert _max_err(rt(x, lengths), ref) < TOL
        # padding content does not matter, and batch/time are dynamic
        assert _max_err(rt(x[:3, 1:3], lengths[1:3]), model(x[:3, 1:3], lengths[1:3])) < TOL


def test_series_classifier_features(tmp_path: Path) -> None:
    torch.manual_seed(2)
    cfg = ClassifierConfig(num_classes=2, input_size=3, embedding_dim=4, rnn=RecurrentSpec(
        cell="gru", hidden_size=6, bidirectional=True))  # fmt: skip
    model = SequenceClassifier(cfg).eval()
    x, lengths = torch.randn(7, 3, 3), torch.tensor([7, 4, 2])
    for rt in (
        ort_adapter(model, tmp_path / "o", "classify"),
        numpy_adapter(model, tmp_path / "n", "classify"),
    ):
        assert _max_err(rt(x, lengths), model(x, lengths).detach()) < TOL


@pytest.mark.parametrize(
    ("attention", "cell"),
    [
        ("additive", "lstm"),
        ("dot", "gru"),
        ("general", "lstm_ln"),
        ("none", "gru"),
        ("additive", "rnn"),
    ],
)
def test_translator_graphs_and_decoding(tmp_path: Path, attention: str, cell: str) -> None:
    """Encoder + decoder-step graphs: the same step outputs, and greedy and beam search
    (the one sampling loop and beam search of rnnkit.decoding) give identical tokens."""
    torch.manual_seed(3)
    spec = RecurrentSpec(cell=cell, hidden_size=8, num_layers=2, bidirectional=True)
    model = Seq2Seq(Seq2SeqConfig(20, 25, embedding_dim=6, attention=attention, rnn=spec)).eval()
    src, lengths = torch.randint(3, 20, (7, 3)), torch.tensor([7, 2, 5])
    for rt in (ort_adapter(model, tmp_path / "o", "translate"),
               numpy_adapter(model, tmp_path / "n", "translate")):  # fmt: skip
        with torch.no_grad():
            (s1, m1), (s2, m2) = model.encode(src, lengths), rt.encode(src, lengths)
            tokens = torch.tensor([1, 5, 9])
            out1, out2 = model.step(tokens, s1, m1), rt.step(tokens, s2, m2)
        assert _max_err(out1[0], out2[0]) < TOL and _max_err(out1[1], out2[1]) < TOL
        if attention != "none":
            assert _max_err(out1[2], out2[2]) < TOL
        for method in ("greedy", "beam"):
            kw = {"bos_id": 1, "eos_id": 2, "method": method, "beam_size": 3, "n_best": 2}
            if method == "greedy":
                kw = {k: v for k, v in kw.items() if k not in ("beam_size", "n_best")}
            ref = decode(model, src, lengths, **kw)
            got = decode(rt, src, lengths, **kw)
            tokens_of = lambda rows: [[h.tokens for h in row] for row in rows]  # noqa: E731
            assert tokens_of(got) == tokens_of(ref)
            assert np.allclose([h.score for row in got for h in row],
                               [h.score for row in ref for h in row], atol=1e-4)  # fmt: skip


def test_min_cells_are_clear_errors(tmp_path: Path) -> None:
    model = LanguageModel(
        9, LMConfig(embedding_dim=4, rnn=RecurrentSpec(cell="mingru", hidden_size=4))
    )
    with pytest.raises(ValueError, match="cell MinGRU does not export to ONNX"):
        export_onnx(model, tmp_path / "o", "lm")
    with pytest.raises(ValueError, match="cell MinGRU has no NumPy runtime"):
        export_numpy(model, tmp_path / "n", "lm")


@pytest.mark.parametrize("cell", ["lstm_ln", "gru_ln", "lstm", "gru"])
def test_numpy_layer_norm_and_zoneout_cells_step_by_step(cell: str) -> None:
    """The NumPy runtime's layer-norm/zoneout layers (bidirectional, ragged) vs torch."""
    torch.manual_seed(4)
    options = {"zoneout_h": 0.3} | ({"zoneout_c": 0.2} if cell.startswith("lstm") else {})
    spec = RecurrentSpec(cell=cell, hidden_size=5, num_layers=2, bidirectional=True, **options)
    layer = spec.build(3).eval()
    x, lengths = torch.randn(6, 4, 3), torch.tensor([6, 1, 4, 3])
    with torch.no_grad():
        ref_y, ref_state = layer(x, lengths=lengths)
    entry = layer_spec(layer, "rnn")
    weights = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    y, state = run_layer(entry, weights, "", x.numpy(), [], lengths.numpy())
    assert np.abs(y - ref_y.numpy()).max() < TOL
    assert _max_err([torch.from_numpy(s) for s in state], ref_state) < TOL


def test_export_leaves_the_callers_model_as_it_was(tmp_path: Path) -> None:
    """Device, dtype, train flag and the Parameter objects themselves (an optimizer's)."""
    spec = RecurrentSpec(cell="gru", hidden_size=4)
    cfg = ClassifierConfig(num_classes=2, vocab_size=9, embedding_dim=4, pooling="attention",
                           rnn=spec)  # fmt: skip
    model = SequenceClassifier(cfg).double()
    model(torch.randint(1, 9, (3, 2)), torch.tensor([3, 2]))  # attention keeps its weights
    params = list(model.parameters())
    export_onnx(model, tmp_path, "classify")
    assert model.training and all(p.dtype == torch.float64 for p in model.parameters())
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))


@pytest.mark.parametrize(
    "options",
    [{"bridge": "copy"}, {"bridge": "zeros", "input_feeding": False},
     {"decoder_layers": 3, "decoder_hidden_size": 10, "attn_size": 4}],
)  # fmt: skip
def test_translator_bridges_on_numpy_and_onnx(tmp_path: Path, options: dict) -> None:
    """Bridge modes, no input feeding, a deeper and wider decoder: identical beam tokens."""
    torch.manual_seed(7)
    spec = RecurrentSpec(cell="lstm", hidden_size=6, num_layers=2, bidirectional=True)
    cfg = Seq2SeqConfig(20, 25, embedding_dim=5, rnn=spec, **options)
    model = Seq2Seq(cfg).eval()
    src, lengths = torch.randint(3, 20, (6, 4)), torch.tensor([6, 3, 1, 5])
    kw = {"bos_id": 1, "eos_id": 2, "method": "beam", "beam_size": 3, "n_best": 3}
    ref = decode(model, src, lengths, **kw)
    for rt in (ort_adapter(model, tmp_path / "o", "translate"),
               numpy_adapter(model, tmp_path / "n", "translate")):  # fmt: skip
        got = decode(rt, src, lengths, **kw)
        assert [row[0].tokens for row in got] == [row[0].tokens for row in ref]
        # an untrained decoder repeats a token, so lower hypotheses can tie to 1e-6 and
        # swap places: their scores, not their order, are what must agree
        assert np.allclose([h.score for row in got for h in row],
                           [h.score for row in ref for h in row], atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("fmt", ["onnx", "numpy"])
def test_adaptive_softmax_language_model_is_refused(fmt: str, tmp_path) -> None:
    from rnnkit.export.numpy_bundle import export_numpy
    from rnnkit.export.onnx_export import export_onnx
    from rnnkit.models.language_model import LanguageModel, LMConfig
    from rnnkit.nn.spec import RecurrentSpec

    config = LMConfig(embedding_dim=8, rnn=RecurrentSpec(hidden_size=8), output_layer="adaptive")
    model = LanguageModel(50, config).eval()
    export = export_onnx if fmt == "onnx" else export_numpy
    with pytest.raises(ValueError, match="output layer is 'adaptive'.*--backend torch"):
        export(model, tmp_path / fmt, "lm")
    assert not (tmp_path / fmt).exists()  # refused before anything is written
