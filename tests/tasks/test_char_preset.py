"""The ``shakespeare-fast`` char preset, and the GPT of benchmarks/lm_char_transformer.py."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.presets import describe_presets, load_preset

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lm_char_transformer.py"
PRESET = "shakespeare-fast"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_lm_char_transformer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the dataclass in it looks its module up by name
    spec.loader.exec_module(module)
    return module


def test_preset_is_listed_and_reads_tiny_shakespeare_by_characters() -> None:
    assert describe_presets("lm")[PRESET].strip()
    sections = load_preset("lm", PRESET)
    assert sections["data"]["data"] == "tinyshakespeare"
    assert sections["data"]["level"] == "char"


def test_preset_trains_and_its_validation_loss_falls(tmp_path: Path, data_dir: Path) -> None:
    text = (data_dir / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    small = tmp_path / "slice.txt"
    small.write_text(text[:40_000], encoding="utf-8")  # a small slice: 36k chars of training
    lm = TextLM.create(PRESET, data={"data": str(small)}, seed=0)
    before = lm.evaluate("valid")["loss"]
    assert before == pytest.approx(math.log(len(lm.vocab)), abs=0.3)  # about uniform at first
    train = {**load_preset("lm", PRESET)["train"], "max_steps": 25, "max_time": None}
    result = lm.fit(tmp_path / "run", {**train, "eval_every": 25, "progress": False})
    assert result["step"] == 25
    after = lm.evaluate("valid")["loss"]
    assert after < before - 0.7, (before, after)  # measured: 4.13 -> 2.99


def test_gpt_shapes_tied_head_and_parameter_count(bench: ModuleType) -> None:
    cfg = bench.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
    model = bench.GPT(cfg)
    assert model.head.weight is model.tok.weight
    logits = model(torch.randint(0, 11, (3, 8)))
    assert logits.shape == (3, 8, 11)
    per_block = 2 * 16 + 3 * 16 * 16 + 16 * 16 + 2 * 4 * 16 * 16  # 2 LNs, qkv, proj, MLP
    expected = 11 * 16 + 8 * 16 + 2 * per_block + 16  # tokens (tied head), positions, ln_f
    assert sum(p.numel() for p in model.parameters()) == expected
    with pytest.raises(ValueError, match="`idx` has 9 positions, the model takes at most 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_gpt_is_causal_a_later_token_does_not_change_earlier_logits(bench: ModuleType) -> None:
    torch.manual_seed(0)
    model = bench.GPT(bench.GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))
    model.eval()
    x = torch.randint(0, 11, (2, 8))
    changed = x.clone()
    changed[:, 5] = (x[:, 5] + 1) % 11
    with torch.no_grad():
        a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert (a[:, 5:] - b[:, 5:]).abs().amax() > 1e-4  # the change is seen from step 5 on


@torch.no_grad()
def test_block_loss_scores_every_character_once_and_schedule_ends(bench: ModuleType) -> None:
    torch.manual_seed(0)
    model = bench.GPT(bench.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16))
    ids = torch.randint(0, 11, (8 * 5 + 1,))
    by_hand = torch.nn.functional.cross_entropy(
        model(ids[:-1].view(5, 8)).flatten(0, 1), ids[1:], reduction="mean"
    )
    assert bench.block_loss(model, ids) == pytest.approx(float(by_hand), rel=1e-5)
    # stride 4: the first window whole, then the last 4 positions of each later window
    nll = []  # every one of the 40 targets once, each after the first window with >= 4 before
    for start in range(0, 33, 4):
        x, y = ids[start : start + 8], ids[start + 1 : start + 9]
        row = torch.nn.functional.cross_entropy(model(x[None])[0], y, reduction="none")
        nll.append(row if start == 0 else row[4:])
    expected = torch.cat(nll)
    assert expected.numel() == 40
    assert bench.block_loss(model, ids, stride=4) == pytest.approx(float(expected.mean()), rel=1e-5)
    assert bench.lr_at(0) == pytest.approx(1e-3 / 101)
    assert bench.lr_at(100) == pytest.approx(1e-3)
    assert bench.lr_at(2000) == pytest.approx(1e-4)
