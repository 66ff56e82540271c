"""benchmarks/kim_cnn_rand.py (Kim 2014 CNN-rand in plain PyTorch) on a slice of real TREC."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from rnnkit.data.classification import read_trec

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kim_cnn_rand.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_kim_cnn_rand", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tokenize_splits_clitics_and_punctuation_and_lowercases_on_request(
    bench: ModuleType,
) -> None:
    text = "The director's co-writer DOESN'T care (really) , does he ?"
    assert bench.tokenize(text, lower=True) == [
        "the", "director", "'s", "co", "writer", "does", "n't", "care",
        "(", "really", ")", ",", "does", "he", "?",
    ]  # fmt: skip
    assert bench.tokenize("What is NASA ?", lower=False) == ["What", "is", "NASA", "?"]


def test_encode_pads_for_the_widest_filter_and_maps_unseen_words_to_unk(
    bench: ModuleType,
) -> None:
    vocab = bench.vocabulary([["a", "b"], ["b", "c"]])
    assert sorted(vocab.values()) == [2, 3, 4]  # 0 padding, 1 UNK
    ids = bench.encode([["a"], ["c", "zzz", "b"]], vocab, pad=4)
    assert ids.shape == (2, 4 + 3 + 4)
    assert ids[1, 4:7].tolist() == [vocab["c"], bench.UNK, vocab["b"]]
    assert ids[0, :4].tolist() == [0] * 4 and ids[0, 5:].tolist() == [0] * 6


def test_max_norm_rescales_only_rows_longer_than_s(bench: ModuleType) -> None:
    w = torch.tensor([[6.0, 0.0, 0.0], [0.6, 0.8, 0.0]])  # norms 6 and 1
    bench.max_norm_(w, 3.0)
    assert torch.allclose(w.norm(dim=1), torch.tensor([3.0, 1.0]))
    assert torch.allclose(w[0], torch.tensor([3.0, 0.0, 0.0]))


def test_trains_on_a_trec_slice_above_chance_with_the_constraint_held(
    bench: ModuleType, data_dir: Path
) -> None:
    data = read_trec(data_dir / "trec")
    sentences = [bench.tokenize(t, lower=False) for t in data.items[:300]]
    classes = sorted(set(data.labels or []))
    labels = torch.tensor([classes.index(c) for c in (data.labels or [])[:300]])
    vocab = bench.vocabulary(sentences)
    torch.manual_seed(0)
    model = bench.KimCNN(len(vocab) + 2, len(classes), embed_dim=32, maps=16)
    with torch.no_grad():
        model.out.weight.mul_(50.0)  # rows far above s = 3, so the constraint has work to do
    ids = bench.encode(sentences, vocab, pad=4)
    assert model(ids[:7]).shape == (7, len(classes))
    history = bench.fit(model, (sentences, labels), {"train": (ids, labels)}, vocab=vocab,
                        epochs=6, seed=0)  # fmt: skip
    assert len(history) == 6
    assert float(model.out.weight.detach().norm(dim=1).max()) <= 3.0 + 1e-6
    assert history[-1]["train"] > 0.4, history  # 6 classes: chance is about 0.2
