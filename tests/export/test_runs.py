"""``rnnkit export`` and ``--backend`` on a small real run (a few training steps)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.tasks.backends import runtime
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.lm_verbs import generate

TINY_MODEL = {"embedding_dim": 8, "hidden_size": 16, "num_layers": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    corpus = tmp_path_factory.mktemp("corpus") / "slice.txt"
    corpus.write_text(text[5000:15000], encoding="utf-8")
    run = tmp_path_factory.mktemp("lm") / "run"
    lm = TextLM.create("demo", model=TINY_MODEL, data={"data": str(corpus), "bptt": 16})
    lm.fit(run, {"progress": False, "eval_every": None, "lr": 1e-2, "max_steps": 4})
    return run


def test_cli_exports_both_formats(lm_run: Path, tmp_path: Path) -> None:
    assert (
        main(["export", "--run", str(lm_run), "--format", "onnx", "--out", str(tmp_path / "o")])
        == 0
    )
    assert (tmp_path / "o" / "lm.onnx").is_file() and (tmp_path / "o" / "manifest.json").is_file()
    assert main(["export", "--run", str(lm_run), "--format", "numpy"]) == 0
    assert (lm_run / "export" / "numpy" / "weights.npz").is_file()
    assert main(["export", "--run", str(lm_run), "--format", "tflite"]) != 0


def test_greedy_generation_is_identical_on_every_backend(lm_run: Path) -> None:
    texts = {b: generate(str(lm_run), max_new_tokens=25, temperature=0, backend=b)
             for b in ("torch", "onnx", "numpy")}  # fmt: skip
    assert texts["onnx"] == texts["torch"] == texts["numpy"]
    sampled = {b: generate(str(lm_run), max_new_tokens=15, temperature=0.8, seed=3, backend=b)
               for b in ("torch", "onnx")}  # fmt: skip
    assert sampled["onnx"] == sampled["torch"]  # same logits, same generator draws


def test_backend_export_is_cached_and_refreshed(lm_run: Path) -> None:
    runtime(TextLM.load(lm_run), "onnx")
    manifest = lm_run / "export" / "onnx" / "manifest.json"
    first = manifest.stat().st_mtime_ns
    runtime(TextLM.load(lm_run), "onnx")
    assert manifest.stat().st_mtime_ns == first  # reused
    weights = next(lm_run.glob("best*/model.safetensors"))
    later = manifest.stat().st_mtime + 10
    os.utime(weights, (later, later))
    runtime(TextLM.load(lm_run), "onnx")
    assert manifest.stat().st_mtime_ns != first  # weights newer: exported again


def test_unknown_backend_and_missing_onnxruntime(
    lm_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="`backend` must be one of"):
        runtime(TextLM.load(lm_run), "tvm")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install rnnkit\[export\]"):
        runtime(TextLM.load(lm_run), "onnx")


def _translate_run(data_dir: Path, root: Path) -> Path:
    from rnnkit.data.pairs import has_simple_prefix, read_pairs
    from rnnkit.tasks.translate import train

    rows = [p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:8000]
            if has_simple_prefix(p[0])][:60]  # fmt: skip
    tsv = root / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    train("demo", str(root / "run"), data=str(tsv), simple_prefixes=False, max_steps=3,
          hidden_size=8, embedding_dim=8, progress=False,
          data_options={"val_fraction": 0.1, "test_fraction": 0.1})  # fmt: skip
    return root / "run"


def test_translate_greedy_and_beam_on_every_backend(data_dir: Path, tmp_path: Path) -> None:
    from rnnkit.tasks.translate import translate

    run = _translate_run(data_dir, tmp_path)
    sentences = ["i am cold .", "he is tall .", "i am happy ."]
    for method in ("greedy", "beam"):
        out = {b: translate(str(run), sentences, method=method, n_best=2 if method == "beam"
                            else 1, backend=b) for b in ("torch", "onnx", "numpy")}  # fmt: skip
        assert out["onnx"] == out["torch"] == out["numpy"]
    assert (run / "export" / "numpy" / "manifest.json").is_file()


@pytest.mark.parametrize(
    "preset, flags, arch",
    [
        ("lstm-fcn", {"max_steps": 2, "hidden_size": 8}, "lstm-fcn"),  # a 2-step run
        ("series", {}, "minirocket"),  # the default, 10,000 features; `rnnkit export` too
    ],
)
def test_series_run_predicts_alike_on_every_backend(
    data_dir: Path, tmp_path: Path, preset: str, flags: dict, arch: str
) -> None:
    """The series presets (LSTM-FCN, MiniRocket) on BasicMotions."""
    from rnnkit.tasks.classify import predict, train

    run = tmp_path / "run"
    train("BasicMotions", str(run), preset=preset, device="cpu", progress=False, **flags)
    assert json.loads((run / "config.json").read_text())["classify"]["arch"] == arch
    if arch == "minirocket":
        assert main(["export", "--run", str(run)]) == 0
        assert (run / "export" / "onnx" / "classify.onnx").is_file()
    test_file = data_dir / "BasicMotions" / "BasicMotions_TEST.ts"
    rows = {}
    for b in ("torch", "onnx", "numpy"):
        predict(str(run), str(test_file), str(tmp_path / f"{b}.csv"), backend=b)
        rows[b] = (tmp_path / f"{b}.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows["torch"]) == 41
    for b in ("onnx", "numpy"):  # labels equal; probabilities to their printed digits
        for got, ref in zip(rows[b][1:], rows["torch"][1:], strict=True):
            g, r = got.split(","), ref.split(",")
            assert g[:2] == r[:2]
            assert np.allclose([float(v) for v in g[2:]], [float(v) for v in r[2:]], atol=1e-4)
