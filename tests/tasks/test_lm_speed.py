"""The language model's speed options end to end: every output layer fits, generates,
evaluates and resumes bitwise exactly; bf16 training tracks float32 and resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models.output_layers import output_layer_names
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.presets import load_preset

TINY_MODEL = {"embedding_dim": 16, "hidden_size": 16, "num_layers": 1, "dropout": 0.1}
TRAIN = {"lr": 1e-2, "progress": False, "eval_every": None, "seed": 3}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("corpus") / "slice.txt"
    path.write_text(text[5000:11000], encoding="utf-8")
    return path


def _lm(text_file: Path, **model: object) -> TextLM:
    data = {"data": str(text_file), "bptt": 16, "batch_size": 4}
    return TextLM.create("demo", model={**TINY_MODEL, **model}, data=data)


def _weights(lm: TextLM) -> dict[str, torch.Tensor]:
    assert lm.model is not None
    return {k: v.detach().clone() for k, v in lm.model.state_dict().items()}


@pytest.mark.parametrize("name", output_layer_names())
def test_each_output_layer_fits_generates_evaluates_and_resumes_exactly(
    name: str, text_file: Path, tmp_path: Path
) -> None:
    lm = _lm(text_file, output_layer=name, tie_weights=True)
    before = lm.evaluate("valid")["loss"]
    first = lm.fit(tmp_path / "run", {**TRAIN, "epochs": 2})
    assert first["val_loss"] < before
    assert len(lm.generate(None, 12, num_samples=2, seed=0)) == 2
    loaded = TextLM.load(tmp_path / "run")
    assert loaded.evaluate("test")["loss"] == pytest.approx(first["test_loss"], rel=1e-6)
    straight = _lm(text_file, output_layer=name, tie_weights=True)
    straight.fit(tmp_path / "straight", {**TRAIN, "epochs": 3})
    resumed = TextLM.load(tmp_path / "run", "last")
    resumed.fit(tmp_path / "run", {**TRAIN, "epochs": 3}, resume=True)
    resumed_last = TextLM.load(tmp_path / "run", "last")
    straight_last = TextLM.load(tmp_path / "straight", "last")
    for key, value in _weights(straight_last).items():
        assert torch.equal(_weights(resumed_last)[key], value), key  # bitwise, float32


def test_adaptive_perplexity_is_the_exact_likelihood(text_file: Path) -> None:
    """The reported loss is the mean of -log p(y) under the layer's normalised distribution."""
    lm = _lm(text_file, output_layer="adaptive")
    assert lm.model is not None
    ids = lm.corpus.splits["valid"][:41]
    x, y = ids[:-1, None], ids[1:, None]  # (T, 1)
    lm.model.eval()
    with torch.no_grad():
        scores, _ = lm.model(x)
        loss, _ = lm.model(x, targets=y)
    assert torch.allclose(scores.exp().sum(-1), torch.ones(40, 1))
    nll = -scores.gather(-1, y[..., None]).mean()
    torch.testing.assert_close(loss, nll)


def test_cli_output_layer_and_precision_flags(
    text_file: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr("rnnkit.train.device.cpu_bf16_supported", lambda: False)
    run = tmp_path / "cli"
    args = ["lm", "train", "--data", str(text_file), "--run-dir", str(run), "--cell", "gru"]
    args += ["--hidden-size", "16", "--embedding-dim", "16", "--num-layers", "1"]
    args += ["--output-layer", "adaptive", "--precision", "bf16", "--max-steps", "3"]
    main([*args, "--num-samples", "1", "--sample-length", "5", "--bptt", "16"])
    config = (run / "config.json").read_text(encoding="utf-8")
    assert '"output_layer": "adaptive"' in config
    assert '"precision": "fp32"' in config  # no bf16 on this (pretended) CPU: it says so
    main(["lm", "eval", "--run", str(run)])
    assert "perplexity" in capsys.readouterr().out
    main(["lm", "generate", "--run", str(run), "--max-new-tokens", "5"])


def _bf16_run(text_file: Path, run: Path, precision: str, epochs: int, resume: bool = False):
    lm = TextLM.load(run, "last") if resume else _lm(text_file, cell="gru", dropout=0.0)
    return lm, lm.fit(run, {**TRAIN, "epochs": epochs, "precision": precision}, resume=resume)


def test_bf16_tracks_float32_and_resumes_exactly(
    text_file: Path, tmp_path: Path, monkeypatch
) -> None:
    """bf16 autocast (forced on, whatever this CPU has): float32 weights, a loss within 2%
    of float32's after 2 epochs, and a resume equal to the straight run to 1e-6 (the
    documented tolerance; on one machine it is in fact bitwise)."""
    monkeypatch.setattr("rnnkit.train.device.cpu_bf16_supported", lambda: True)
    _, fp32 = _bf16_run(text_file, tmp_path / "fp32", "fp32", 2)
    lm, bf16 = _bf16_run(text_file, tmp_path / "bf16", "bf16", 2)
    assert lm.model is not None and all(p.dtype == torch.float32 for p in lm.model.parameters())
    assert bf16["val_loss"] == pytest.approx(fp32["val_loss"], rel=0.02)
    assert bf16["val_loss"] != fp32["val_loss"]  # it did run in bf16
    _, straight = _bf16_run(text_file, tmp_path / "straight", "bf16", 3)
    _, resumed = _bf16_run(text_file, tmp_path / "bf16", "bf16", 3, resume=True)
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], rel=1e-6)


def test_ptb_small_fast_preset_keeps_ptb_small_sizes_and_epochs() -> None:
    small, fast = load_preset("lm", "ptb-small"), load_preset("lm", "ptb-small-fast")
    speed = {"output_layer": "adaptive", "div_value": 2.0, "tie_weights": True}
    assert fast["model"] == {**small["model"], **speed}  # same network size, what won
    assert fast["data"] == small["data"]
    assert fast["train"]["epochs"] == small["train"]["epochs"]
    assert fast["model"]["output_layer"] in output_layer_names()
