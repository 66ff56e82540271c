"""benchmarks/lm_ptb.py on a tiny synthetic token stream: the plain model's tying, the
alternating-rounds throughput per row and thread count, the medium shapes, and the
ptb-medium-fast preset it trains."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.presets import load_preset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lm_ptb.py"
V = 50  # a tiny vocabulary: every model below is cheap to build and step


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_lm_ptb_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stream() -> torch.Tensor:
    """``(N,)`` token ids: enough for a few 35 x 20 windows."""
    return torch.randint(0, V, (4 * 35 * 20 + 1,), generator=torch.Generator().manual_seed(0))


def test_plain_model_ties_decoder_to_encoder_when_asked(bench: ModuleType) -> None:
    tied = bench.PlainWordLM(V, 8, 8, 2, 0.0, tie=True)
    assert tied.decoder.weight is tied.encoder.weight
    n_tied = sum(p.numel() for p in tied.parameters())
    untied = bench.PlainWordLM(V, 8, 8, 2, 0.0)
    assert untied.decoder.weight is not untied.encoder.weight
    assert sum(p.numel() for p in untied.parameters()) == n_tied + V * 8
    logits, _ = tied(torch.zeros(3, 2, dtype=torch.long), None)
    assert logits.shape == (3, 2, V)
    with pytest.raises(ValueError, match="`tie` needs `ninp` == `nhid`, got 8 and 6"):
        bench.PlainWordLM(V, 8, 6, 1, 0.0, tie=True)


def test_throughput_is_positive_for_every_row_and_thread_count(
    bench: ModuleType, stream: torch.Tensor
) -> None:
    rows = bench.throughput_rows("small", list(bench.VARIANTS), "ptb-small-fast")
    assert "rnnkit ptb-small" in rows and "rnnkit ptb-small-fast" in rows
    assert rows["rnnkit ptb-small-fast"][0]["output_layer"] == "adaptive"
    before = torch.get_num_threads()
    try:
        speeds = bench.throughput(stream, V, rows, [1, 2], rounds=1, steps=1)
    finally:
        torch.set_num_threads(before)
    assert sorted(speeds) == [1, 2]
    for per in speeds.values():
        assert set(per) == {bench.PLAIN, *rows}
        assert all(tps > 0 and tps == tps for tps in per.values())  # positive, not NaN
    text = bench.throughput_table(speeds)
    assert "ms/window 2T" in text and text.count("\n") == len(rows) + 2


def test_preset_row_is_not_repeated_when_it_is_the_shapes_own(bench: ModuleType) -> None:
    rows = bench.throughput_rows("small", ["preset", "bf16"], "ptb-small")
    assert list(rows) == ["rnnkit ptb-small", "bf16"]
    assert rows["bf16"][1]["precision"] == "bf16"


def test_medium_shape_builds_650_wide_tied_models(bench: ModuleType) -> None:
    plain = bench.plain_model(V, "medium")
    assert plain.decoder.weight is plain.encoder.weight
    assert plain.rnn.hidden_size == 650 and plain.rnn.num_layers == 2
    assert plain.encoder.weight.shape == (V, 650)
    rows = bench.throughput_rows("medium", list(bench.VARIANTS), "ptb-medium-fast")
    assert "rnnkit ptb-medium" in rows and "rnnkit ptb-medium-fast" in rows
    for label, (fields, _) in rows.items():
        model = LanguageModel(V, LMConfig.from_dict(fields))
        assert model.embedding.weight.shape == (V, 650), label
        assert model.config.rnn.hidden_size == 650 and model.config.rnn.dropout == 0.5, label
        shared = getattr(model.decoder, "shortlist_weight", None)
        if model.config.output_layer != "adaptive":
            shared = model.decoder.weight
        assert shared is model.embedding.weight, label


def test_ptb_medium_fast_loads_through_the_preset_loader() -> None:
    sections = load_preset("lm", "ptb-medium-fast")
    assert sections["model"]["tie_weights"] is True
    model_cfg, data_cfg = TextLM.configs("ptb-medium-fast")
    assert model_cfg.tie_weights and model_cfg.output_layer == "adaptive"
    assert model_cfg.embedding_dim == model_cfg.rnn.hidden_size == 650
    medium = load_preset("lm", "ptb-medium")
    assert {**medium["model"], "output_layer": "adaptive"} == sections["model"]
    assert medium["train"] == sections["train"] and medium["data"] == sections["data"]
    assert data_cfg.data == "ptb" and data_cfg.bptt == 35


def test_arguments_parse_thread_lists_and_reject_unknown_rows(bench: ModuleType) -> None:
    args = bench._parse(["--threads", "1,2", "--shape", "medium", "--variants", "bf16"])
    assert args.thread_counts == [1, 2] and args.full_preset == "ptb-medium"
    assert args.names == ["bf16"]
    assert bench._parse(["--variants", "rnnkit ptb-small"]).names == ["preset"]  # old name
    with pytest.raises(SystemExit):
        bench._parse(["--variants", "nope"])
    with pytest.raises(SystemExit):
        bench._parse(["--threads", "1,x"])
    with pytest.raises(SystemExit):
        bench._parse(["--preset", "no-such-preset"])
