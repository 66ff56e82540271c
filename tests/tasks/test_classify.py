"""Classification task: CLI round trip (train -> eval -> predict) and the Python API."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.classification import Examples
from rnnkit.tasks.classify import Classifier, load_data


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine run far faster on one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = ["--hidden_size", "8", "--embedding_dim", "8", "--epochs", "1", "--device", "cpu"]


def _rt_slice(data_dir: Path, path: Path, n: int = 30, extra: list[tuple[str, str]] = ()) -> Path:
    rows = []
    for label in ("pos", "neg"):
        lines = (data_dir / "rt-polarity" / f"rt-polarity.{label}").read_text().splitlines()
        rows += [(label, s) for s in lines[:n]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows([*rows, *extra])
    return path


@pytest.mark.slow
def test_cli_round_trip(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv")
    run = tmp_path / "run"
    assert (
        main(
            [
                "classify",
                "train",
                "--data",
                str(train_csv),
                "--run-dir",
                str(run),
                *TINY,
                "--pooling",
                "mean",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test:" in out and "accuracy" in out and "padded steps" in out
    for name in ("classifier.json", "labels.json", "inputs.json", "test-confusion.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "labels.json").read_text())["names"] == ["neg", "pos"]

    # eval: a label never seen in training is left out and reported, or an error if strict
    eval_csv = _rt_slice(data_dir, tmp_path / "eval.csv", 5, [("meh", "so so film")])
    assert main(["classify", "eval", "--run-dir", str(run), "--data", str(eval_csv)]) == 0
    out = capsys.readouterr().out
    assert "left out: 1 examples whose label was never seen" in out
    assert json.loads((run / "eval.json").read_text())["n"] == 10
    assert (
        main(
            ["classify", "eval", "--run-dir", str(run), "--data", str(eval_csv), "--strict", "true"]
        )
        == 1
    )
    assert "labels never seen in training: ['meh']" in capsys.readouterr().err

    # predict: one text a line; unseen tokens become <unk> and are counted
    new = tmp_path / "new.txt"
    new.write_text("a gorgeous film\nqwertyuiop zxcvbnm\n")
    preds = tmp_path / "preds.csv"
    assert (
        main(
            [
                "classify",
                "predict",
                "--run-dir",
                str(run),
                "--data",
                str(new),
                "--output",
                str(preds),
            ]
        )
        == 0
    )
    assert "wrote 2 predictions" in capsys.readouterr().out
    rows = list(csv.DictReader(open(preds)))
    assert [r["id"] for r in rows] == ["0", "1"] and {r["label"] for r in rows} <= {"neg", "pos"}
    for r in rows:
        assert float(r["p_neg"]) + float(r["p_pos"]) == pytest.approx(1.0, abs=1e-5)

    # a second train into the same run dir is refused and leaves the run intact
    before = (run / "labels.json").read_text()
    assert main(["classify", "train", "--data", str(train_csv), "--run-dir", str(run), *TINY]) == 1
    assert (run / "labels.json").read_text() == before


def _signs(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for i in range(n):
        label = i % 2
        T = int(rng.integers(3, 15))
        items.append(rng.normal(1.0 if label else -1.0, 0.5, size=(T, 2)))
        labels.append("up" if label else "down")
    return Examples(items, labels, "numeric", [str(i) for i in range(n)])


def test_python_api_learns_saves_and_loads(tmp_path: Path) -> None:
    clf = Classifier(
        {"hidden_size": 8, "embedding_dim": 8, "pooling": "max", "bidirectional": True},
        {"epochs": 4, "lr": 0.02, "device": "cpu", "progress": False},
        batch_size=8,
        class_weights="balanced",
    )
    result = clf.fit(_signs(48, 0), _signs(16, 1), run_dir=tmp_path / "run")
    assert result["val"]["accuracy"] >= 0.9
    assert 0 <= result["padded_fraction_bucketed"] < result["padded_fraction_random"]
    test = _signs(20, 2)
    labels, probs = clf.predict(test)
    again = Classifier.load(tmp_path / "run")
    labels2, probs2 = again.predict(test)
    assert labels == labels2 and np.allclose(probs, probs2, atol=1e-6)
    assert again.evaluate(test)["accuracy"] >= 0.9


def test_load_data_splits_and_official_test_file() -> None:
    tr, va, te = load_data("trec", val_fraction=0.1)
    assert te is not None and len(te) == 500  # the official TREC_10 test file
    assert va is not None and len(tr) + len(va) == 5452
    with pytest.raises(ValueError, match="cannot tell the format"):
        load_data("data.parquet")
