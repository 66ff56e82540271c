"""Classification task: CLI round trip (train -> eval -> predict) and the Python API."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli.main import main
from rnnkit.data.classification import Examples, read_ts_examples
from rnnkit.tasks.classify import Classifier, load_data

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
    for name in ("config.json", "labels.json", "inputs.json", "test-confusion.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "classify" and config["classify"]["arch"] == "rnn"
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


# ---------------------------------------------------------------- the shared run life cycle

TINY_API = {"hidden_size": 4, "embedding_dim": 4}


def _fit_tiny(run: Path, **train: object) -> Classifier:
    clf = Classifier(TINY_API, {"epochs": 1, "device": "cpu", "progress": False, **train})
    clf.fit(_signs(16, 0), _signs(8, 1), run_dir=run)
    return clf


def test_old_layout_run_still_loads(tmp_path: Path) -> None:
    """A run as the previous code wrote it: format-1 config.json (flat model keys, an
    ``options`` section), classifier.json, labels.json, inputs.json, best/ and last/."""
    run = tmp_path / "old"
    clf = _fit_tiny(run)
    test = _signs(10, 2)
    want = clf.predict_proba(test)
    model = {
        "num_classes": 2,
        "vocab_size": None,
        "input_size": 2,
        "embedding_dim": 4,
        "project_input": True,
        "cell": "lstm",
        "hidden_size": 4,
        "num_layers": 1,
        "bidirectional": False,
        "dropout": 0.0,
        "pooling": "last",
        "padding_idx": 0,
    }
    options = {"batch_size": 32, "bucket": True, "class_weights": "none", "seed": 0}
    encoder = json.loads((run / "config.json").read_text())["encoder"]
    train = json.loads((run / "config.json").read_text())["train"]
    old = {"task": "classify", "model": model, "options": options, "encoder": encoder}
    (run / "config.json").write_text(json.dumps({**old, "train": train}))
    (run / "classifier.json").write_text(json.dumps({"format": "rnnkit.classifier", **old}))
    again = Classifier.load(run)
    assert again.options["arch"] == "rnn" and again.options["znorm"] is False
    assert np.allclose(again.predict_proba(test), want, atol=1e-6)


def test_resume_refused_when_model_flags_differ(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fit_tiny(run)
    clf = Classifier({"hidden_size": 6, "embedding_dim": 4}, {"epochs": 2, "device": "cpu"})
    with pytest.raises(ValueError, match=r"cannot resume .*model\.rnn\.hidden_size") as err:
        clf.fit(_signs(16, 0), _signs(8, 1), run_dir=run, resume=True)
    assert "\n" not in str(err.value)
    # the same settings resume, and train the extra epoch
    ok = Classifier(TINY_API, {"epochs": 2, "device": "cpu", "progress": False})
    assert ok.fit(_signs(16, 0), _signs(8, 1), run_dir=run, resume=True)["epoch"] == 2


def test_fresh_run_into_used_directory_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fit_tiny(run)
    before = (run / "labels.json").read_text()
    with pytest.raises(FileExistsError, match="--resume true"):
        _fit_tiny(run)
    assert (run / "labels.json").read_text() == before


def test_second_writer_refused(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": "", "argv": []}
        (run / "run.lock").write_text(json.dumps(lock))
        with pytest.raises(FileExistsError, match=str(holder.pid)):
            _fit_tiny(run)
        assert not (run / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_device_cuda_without_cuda_leaves_no_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    args = ["classify", "train", "--data", "digits", "--run-dir", str(run), "--device", "cuda"]
    assert main([*args, "--arch", "rnn", "--max-steps", "1"]) == 1
    assert "cuda" in capsys.readouterr().err
    assert not run.exists()


def test_weights_not_matching_config_is_a_clear_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fit_tiny(run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["rnn"]["hidden_size"] = 5
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match the network"):
        Classifier.load(run)


def test_sigterm_mid_train_leaves_a_resumable_checkpoint(
    tmp_path: Path, data_dir: Path, sigterm_then_resume
) -> None:
    run = tmp_path / "run"
    data = _rt_slice(data_dir, tmp_path / "train.csv", 20)
    args = ["classify", "train", "--data", str(data), "--run-dir", str(run)]
    args += ["--hidden-size", "4", "--embedding-dim", "4", "--device", "cpu"]
    sigterm_then_resume(args, run)


# ---------------------------------------------------------------- issue 14: defaults that work


def test_selection_by_validation_accuracy_or_last_checkpoint_when_too_small(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv", 12)
    tiny = ["--hidden-size", "4", "--embedding-dim", "4", "--device", "cpu", "--max-steps", "3"]
    run = tmp_path / "small"
    assert main(["classify", "train", "--data", str(train_csv), "--run-dir", str(run), *tiny]) == 0
    out = capsys.readouterr().out
    assert "no validation set" in out and "kept the last checkpoint" in out
    assert not (run / "best").exists() and (run / "last").is_dir()
    # an official validation file: the checkpoint is chosen by its accuracy
    val_csv = _rt_slice(data_dir, tmp_path / "val.csv", 6)
    run = tmp_path / "val"
    args = ["--val-data", str(val_csv), "--test-data", str(val_csv)]
    assert (
        main(["classify", "train", "--data", str(train_csv), "--run-dir", str(run), *tiny, *args])
        == 0
    )
    out = capsys.readouterr().out
    assert "validation (12 examples; best accuracy at step" in out and "test: 12 examples" in out
    config = json.loads((run / "config.json").read_text())
    assert (config["train"]["monitor"], config["train"]["monitor_mode"]) == ("val_acc", "max")
    assert config["data"]["val_data"] == str(val_csv) and (run / "best").is_dir()


def test_select_macro_f1_records_it_and_keeps_its_best_checkpoint(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv", 30)
    val_csv = _rt_slice(data_dir, tmp_path / "val.csv", 8, extra=[("pos", "a fine film")] * 6)
    run = tmp_path / "f1"
    args = ["--data", str(train_csv), "--val-data", str(val_csv), "--run-dir", str(run)]
    tiny = ["--hidden-size", "8", "--embedding-dim", "8", "--device", "cpu", "--epochs", "6"]
    flags = [*tiny, "--lr", "0.05", "--batch-size", "8", "--patience", "10"]
    flags += ["--select", "macro_f1", "--subwords", "0"]  # a trajectory that peaks early
    assert main(["classify", "train", *args, *flags]) == 0
    out = capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert (config["train"]["monitor"], config["train"]["monitor_mode"]) == ("val_macro_f1", "max")
    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    assert len(rows) == 6
    f1 = [float(r["val_macro_f1"]) for r in rows]
    assert all(0.0 <= v <= 1.0 for v in f1) and len(set(f1)) > 1
    for r in rows:  # the whole-set accuracy agrees with the per-batch average of step()'s
        assert float(r["val_accuracy"]) == pytest.approx(float(r["val_acc"]))
    best = int(rows[f1.index(max(f1))]["step"])  # the first evaluation at the peak
    assert best != int(rows[-1]["step"])  # it peaked before the end: not just the last
    assert f"best macro_f1 at step {best})" in out
    assert float(rows[-1]["best"]) == pytest.approx(max(f1))
    from rnnkit.train import load_checkpoint

    assert load_checkpoint(run, "best")[1]["step"] == best
    # the kept weights score that macro-F1 on the validation file
    assert f"macro-F1 {max(f1):.4f}" in out


def test_split_data_validation_never_empty_and_small_sets_say_so() -> None:
    from rnnkit.data.classify_sources import split_data

    split = split_data("digits", val_fraction=0.01, test_fraction=0.1)
    assert split.val is not None and len(set(split.val.labels or [])) == 10  # a few per class
    small = split_data("digits", val_fraction=0.01, test_fraction=0.1, min_val=100)
    assert small.val is None and "fewer than `min_size` 100" in small.note


def test_znorm_makes_predictions_invariant_to_offset_and_scale(tmp_path: Path) -> None:
    clf = Classifier(TINY_API, {"epochs": 1, "device": "cpu", "progress": False}, znorm=True)
    clf.fit(_signs(16, 0))
    test = _signs(6, 3)
    moved = Examples([3.0 * x + 7.0 for x in test.items], test.labels, "numeric", test.ids)
    assert np.allclose(clf.predict_proba(test), clf.predict_proba(moved), atol=1e-5)


def test_lstm_fcn_learns_saves_and_loads(tmp_path: Path) -> None:
    clf = Classifier(
        {"hidden_size": 4, "filters": [8, 8, 8], "rnn_dropout": 0.0},
        {"epochs": 6, "lr": 0.01, "device": "cpu", "progress": False},
        arch="lstm-fcn",
        batch_size=8,
    )
    result = clf.fit(_signs(32, 0), _signs(16, 1), run_dir=tmp_path / "run")
    assert result["val"]["accuracy"] >= 0.9
    test = _signs(10, 2)
    again = Classifier.load(tmp_path / "run")
    assert again.options["arch"] == "lstm-fcn"
    assert np.allclose(again.predict_proba(test), clf.predict_proba(test), atol=1e-6)
    with pytest.raises(ValueError, match="takes series inputs, got text"):
        Classifier(arch="lstm-fcn").fit(Examples(["a b", "c d"], ["x", "y"], "text", ["0", "1"]))


def test_warning_when_training_accuracy_stays_near_chance(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    items = [rng.normal(size=(5, 2)) for _ in range(40)]
    noise = Examples(items, ["a", "b"] * 20, "numeric", [str(i) for i in range(40)])
    clf = Classifier(TINY_API, {"max_steps": 1, "epochs": None, "device": "cpu", "lr": 1e-6})
    with caplog.at_level("WARNING"):
        result = clf.fit(noise)
    assert result["chance"] == 0.5
    assert "near chance" in caplog.text


def test_series_defaults_fit_minirocket_in_closed_form_on_basic_motions(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The command a new user types (series preset: MiniRocket, a few seconds) gets >= 0.95
    on BasicMotions' test set, writes a loadable best/ checkpoint and says how it fitted."""
    run = tmp_path / "run"
    args = ["classify", "train", "--data", "BasicMotions", "--run-dir", str(run)]
    assert main([*args, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "minirocket" in out and "fitted in" in out and "leave-one-out" in out
    assert json.loads((run / "test.json").read_text())["accuracy"] >= 0.95
    meta = json.loads((run / "best" / "trainer.json").read_text())
    assert meta["step"] == 0 and meta["fit"] == "ridge" and meta["alpha"] > 0
    train_ts = Path(os.environ["RNNKIT_DATA_DIR"]) / "BasicMotions" / "BasicMotions_TRAIN.ts"
    reloaded = Classifier.load(run).evaluate(read_ts_examples(train_ts))["accuracy"]
    assert meta["train_accuracy"] == pytest.approx(reloaded)  # the fit's own, not a re-pass
    assert f"training accuracy {reloaded:.4f}" in out
    assert main(args + ["--device", "cpu"]) == 1  # a used directory is refused
    assert "already holds a run (best/)" in capsys.readouterr().err
    assert main([*args, "--device", "cpu", "--resume", "true"]) == 0  # refits, same result
    assert json.loads((run / "test.json").read_text())["accuracy"] >= 0.95
    test_file = str(Path(os.environ["RNNKIT_DATA_DIR"]) / "BasicMotions" / "BasicMotions_TEST.ts")
    pred = tmp_path / "pred.csv"
    assert main(["classify", "predict", "--run", str(run), "--data", test_file,
                 "--output", str(pred)]) == 0  # fmt: skip
    rows = pred.read_text().splitlines()
    assert len(rows) == 41 and rows[0].startswith("id,label,p_")


def test_minirocket_reports_a_given_validation_set_and_keeps_its_probabilities(
    tmp_path: Path,
) -> None:
    """With --val-data the closed-form fit reports validation figures (it selects nothing);
    a reloaded run predicts the same probabilities; recurrent flags are refused."""
    from rnnkit.tasks.classify import train

    data = Path(os.environ["RNNKIT_DATA_DIR"]) / "BasicMotions"
    run = tmp_path / "run"
    out = train(str(data / "BasicMotions_TRAIN.ts"), str(run), val_data=str(data /
                "BasicMotions_TEST.ts"), num_features=840, device="cpu")  # fmt: skip
    assert "validation (40 examples; reported only)" in out
    clf = Classifier.load(run)
    ex = read_ts_examples(data / "BasicMotions_TEST.ts")
    again = Classifier.load(run)
    np.testing.assert_array_equal(clf.predict_proba(ex), again.predict_proba(ex))
    assert clf.predict_proba(ex).sum(1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="--hidden-size set a recurrent network, but --arch "
                       "minirocket has none.*--preset lstm-fcn"):  # fmt: skip
        train("BasicMotions", str(tmp_path / "r2"), hidden_size=8)
    with pytest.raises(ValueError, match="`--arch minirocket` takes series inputs, got text"):
        Classifier(arch="minirocket").fit(
            Examples(["a b", "c d"] * 2, ["x", "y"] * 2, "text", list("0123"))
        )


def test_minirocket_balanced_class_weights_weigh_each_series_in_the_ridge_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``class_weights: balanced`` reaches the ridge head as one weight per series,
    ``N / (C * count_c)`` of its class, and changes the fitted head."""
    import rnnkit.models.minirocket as mr

    seen: dict[str, torch.Tensor | None] = {}
    real = mr.fit_ridge

    def spy(z, y, c, **kw):  # noqa: ANN001, ANN202 - fit_ridge's own signature
        seen["w"] = kw.get("sample_weight")
        return real(z, y, c, **kw)

    monkeypatch.setattr(mr, "fit_ridge", spy)
    ex = read_ts_examples(
        Path(os.environ["RNNKIT_DATA_DIR"]) / "BasicMotions" / "BasicMotions_TRAIN.ts"
    )
    labels = ex.labels or []
    first = labels[0]
    keep = [i for i, c in enumerate(labels) if c == first]
    keep += [
        i
        for c in sorted(set(labels) - {first})
        for i in [j for j, d in enumerate(labels) if d == c][:3]
    ]
    train = ex.subset(keep)  # one class 10 series, the three others 3 each
    heads = {}
    for weights in ("none", "balanced"):
        clf = Classifier({"num_features": 840}, arch="minirocket", class_weights=weights)
        clf.fit(train)
        heads[weights] = clf.model.head.weight.detach().clone()
        if weights == "none":
            assert seen["w"] is None
    w = seen["w"]
    assert w is not None and w.shape == (len(keep),)
    n, counts = len(keep), {c: (train.labels or []).count(c) for c in set(train.labels or [])}
    expected = [n / (4 * counts[c]) for c in train.labels or []]
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    assert not torch.allclose(heads["none"], heads["balanced"])


@pytest.mark.slow
def test_series_defaults_reach_stated_accuracy_on_acsf1(tmp_path: Path) -> None:
    """ACSF1 (10 appliances, 100 training series of 1,460 steps), the defaults: >= 0.85 on
    the official test set (0.91-0.92 over seeds 0-2; 1-NN DTW 0.64, InceptionTime 0.92).
    About 20 s on one core."""
    run = tmp_path / "run"
    args = ["classify", "train", "--data", "ACSF1", "--run-dir", str(run), "--device", "cpu"]
    assert main(args) == 0
    assert json.loads((run / "test.json").read_text())["accuracy"] >= 0.85


def test_an_arch_trained_by_gradient_on_series_takes_the_lstm_fcn_preset() -> None:
    from rnnkit.tasks.classify import default_preset

    assert default_preset("BasicMotions") == "series"
    assert default_preset("BasicMotions", arch="minirocket") == "series"
    assert default_preset("BasicMotions", arch="lstm-fcn") == "lstm-fcn"
    assert default_preset("BasicMotions", arch="rnn") == "lstm-fcn"
    assert default_preset("trec") == "default"


# ---------------------------------------------------------------- issue #14: changed data


def test_eval_warns_when_a_file_of_the_run_changed(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rnnkit.tasks.classify import evaluate, train

    train_csv = _rt_slice(data_dir, tmp_path / "train.csv", 20)
    test_csv = _rt_slice(data_dir, tmp_path / "test.csv", 6)
    other = _rt_slice(data_dir, tmp_path / "other.csv", 4)
    run = tmp_path / "run"
    train(str(train_csv), str(run), test_data=str(test_csv), hidden_size=8, embedding_dim=8,
          max_steps=1, device="cpu", progress=False)  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert set(config["data"]["digests"]) == {"train", "test"}

    def warnings_of(data: Path) -> str:
        caplog.clear()
        with caplog.at_level("WARNING"):
            evaluate(str(run), str(data))
        return caplog.text

    assert "changed" not in warnings_of(train_csv) + warnings_of(test_csv)  # unchanged
    _rt_slice(data_dir, test_csv, 5)
    text = warnings_of(test_csv)
    assert "test data file" in text and str(test_csv) in text and "has changed" in text
    _rt_slice(data_dir, train_csv, 19)
    text = warnings_of(train_csv)
    assert "train data file" in text and str(train_csv) in text
    assert "changed" not in warnings_of(other)  # not a file of the run
    # the previous layout's single `digest` (the training file's) is still compared
    legacy = dict(config, data={**config["data"], "digest": config["data"]["digests"]["train"]})
    del legacy["data"]["digests"]
    (run / "config.json").write_text(json.dumps(legacy))
    assert "train data file" in warnings_of(train_csv)
    # a run from before checksums: no warning, no error
    del legacy["data"]["digest"]
    (run / "config.json").write_text(json.dumps(legacy))
    assert "changed" not in warnings_of(train_csv) + warnings_of(test_csv)


def test_a_builtin_set_records_its_train_and_official_test_files() -> None:
    from rnnkit.data.classify_sources import run_files

    files = run_files({"source": "BasicMotions", "format": "auto", "test_data": None})
    assert {k: p.name for k, p in files.items()} == {
        "train": "BasicMotions_TRAIN.ts",
        "test": "BasicMotions_TEST.ts",
    }
    assert run_files({"source": "digits", "format": "auto"}) == {}


def test_znorm_auto_moves_univariate_lstm_fcn_normalisation_into_the_network() -> None:
    from rnnkit.tasks.classify import _resolve_znorm

    def series(channels: int) -> Examples:
        items = [np.full((6, channels), float(i)) for i in range(4)]
        return Examples(items, ["a", "b"] * 2, "numeric", [str(i) for i in range(4)])

    model: dict = {}
    assert _resolve_znorm("auto", "lstm-fcn", series(1), model) is False
    assert model == {"normalize": "series+level", "quantiles": 32}  # level, distribution
    model = {}
    assert _resolve_znorm("auto", "rnn", series(1), model) is True and model == {}
    assert _resolve_znorm("auto", "lstm-fcn", series(3), model) is False and model == {}
    assert _resolve_znorm("auto", "minirocket", series(1), model) is False and model == {}
    assert _resolve_znorm(True, "lstm-fcn", series(1), model) is True and model == {}
    text = Examples(["a b", "c"], ["x", "y"], "text", ["0", "1"])
    with pytest.raises(ValueError, match="`znorm` level needs series data"):
        _resolve_znorm("level", "rnn", text, {})
    with pytest.raises(ValueError, match="`znorm` must be true, false, level or auto, got 'yes'"):
        _resolve_znorm("yes", "lstm-fcn", series(1), {})


def test_lstm_fcn_preset_run_records_in_network_normalisation(tmp_path: Path) -> None:
    """A univariate set with the lstm-fcn preset: the run's config says where normalising
    happens."""
    run = tmp_path / "run"
    args = ["classify", "train", "--data", "ACSF1", "--run-dir", str(run), "--max-steps", "2"]
    args += ["--arch", "lstm-fcn"]
    assert main([*args, "--device", "cpu"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["normalize"] == "series+level" and config["model"]["quantiles"] == 32
    assert config["classify"]["znorm"] is False


def test_subwords_run_trains_reloads_explains_and_predicts_alike_on_every_backend(
    data_dir: Path, tmp_path: Path
) -> None:
    from rnnkit.tasks.classify import predict, train

    data = _rt_slice(data_dir, tmp_path / "rt.csv", 40)
    run = tmp_path / "run"
    train(str(data), str(run), subwords=500, hidden_size=8, embedding_dim=8, max_steps=3,
          device="cpu", progress=False)  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["subword_buckets"] == 500 and config["encoder"]["subwords"] == 500
    clf, again = Classifier.load(run), Classifier.load(run)
    ex = Examples(["an unseenword movie", "great"], None, "text", ["0", "1"])
    np.testing.assert_array_equal(clf.predict_proba(ex), again.predict_proba(ex))
    assert main(["explain", "saliency", "--run", str(run), "--text", "a fine film"]) == 0
    lines = tmp_path / "new.txt"
    lines.write_text("an unseenword movie\ngreat acting , dull plot\n", encoding="utf-8")
    probs = {}
    for backend in ("torch", "onnx", "numpy"):  # export: the n-gram table goes along
        out = tmp_path / f"{backend}.csv"
        predict(str(run), str(lines), str(out), backend=backend)
        rows = list(csv.reader(out.open(encoding="utf-8")))[1:]
        probs[backend] = np.array([[float(v) for v in r[2:]] for r in rows])
    for backend in ("onnx", "numpy"):
        np.testing.assert_allclose(probs[backend], probs["torch"], atol=1e-5)


def _long_csv(path: Path, ex: Examples, header: list[str]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for k, (s, lab) in enumerate(zip(ex.items, ex.labels or [], strict=True)):
            w.writerows([f"r{k}", t, *row, lab] for t, row in enumerate(s.tolist()))
    return path


@pytest.mark.parametrize("named", [True, False])
def test_predict_reads_a_labelled_long_csv_without_its_label(
    data_dir: Path, tmp_path: Path, named: bool
) -> None:
    # The docs say predict ignores labels; in a long CSV the label column used to become a
    # 13th feature ("the model expects 12"). By name ('label') and by position (any names).
    ex = read_ts_examples(data_dir / "JapaneseVowels" / "JapaneseVowels_TRAIN.ts")
    ex = ex.subset(list(range(0, 270, 9)))  # 30 series, every class
    feats = [f"c{i}" for i in range(12)]
    header = ["id", "time", *feats, "label"] if named else ["rec", "frame", *feats, "who"]
    data = _long_csv(tmp_path / "v.csv", ex, header)
    run = tmp_path / "run"
    assert main(["classify", "train", "--data", str(data), "--format", "long",
                 "--run-dir", str(run), "--test-fraction", "0"]) == 0  # fmt: skip
    out = tmp_path / "p.csv"
    assert main(["classify", "predict", "--run", str(run), "--data", str(data),
                 "--format", "long", "--output", str(out)]) == 0  # fmt: skip
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["id"] for r in rows] == [f"r{k}" for k in range(30)]
    assert sum(r["label"] == lab for r, lab in zip(rows, ex.labels, strict=True)) >= 25


def test_training_on_a_plain_text_file_says_what_is_missing(tmp_path: Path) -> None:
    from rnnkit.data.classify_sources import split_data

    lines = tmp_path / "u.txt"
    lines.write_text("good film\nbad film\n")
    with pytest.raises(ValueError, match=r"u.txt: a plain text file is read as unlabelled lines"):
        split_data(str(lines))


# ---------------------------------------------------------------- adversarial training


def _text(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    words = {"up": ["good", "great", "fine"], "down": ["bad", "awful", "poor"]}
    items, labels = [], []
    for i in range(n):
        label = "up" if i % 2 else "down"
        k = int(rng.integers(2, 7))
        filler = [str(w) for w in rng.choice(["the", "film", "was", "a", "plot"], k)]
        items.append(" ".join([*filler, str(rng.choice(words[label]))]))
        labels.append(label)
    return Examples(items, labels, "text", [str(i) for i in range(n)])


def _adversarial_batch(clf: Classifier, data: Examples):  # noqa: ANN202
    from rnnkit.data.bucketing import BucketLoader

    x = clf._build(data)
    y, _ = clf.labels.encode(data.labels)
    return next(iter(BucketLoader(x, y, 8, shuffle=False)))


@pytest.mark.parametrize("subwords", [0, 50])
def test_adversarial_step_adds_the_loss_of_the_perturbed_batch(subwords: int) -> None:
    from rnnkit.train import adversarial_perturbation

    model = {"hidden_size": 6, "embedding_dim": 5, "dropout": 0.0, "token_dropout": 0.0}
    clf = Classifier(model, {"device": "cpu"}, adversarial=0.2, subwords=subwords)
    batch = _adversarial_batch(clf, _text(20, 0))
    net = clf.model.train()
    out = clf.step(net, batch, None)
    emb = net.embed(batch.x)
    clean = F.cross_entropy(net.forward_embedded(emb, batch.lengths), batch.y)
    r = adversarial_perturbation(clean, emb, batch.lengths, 0.2)
    perturbed = F.cross_entropy(net.forward_embedded(emb + r, batch.lengths), batch.y)
    torch.testing.assert_close(out.loss, clean + perturbed)
    # logged beside train_loss
    assert out.metrics["clean_loss"] == pytest.approx(float(clean.detach()))
    assert perturbed > clean  # the perturbation raises the loss
    # evaluation runs the clean batch only
    torch.testing.assert_close(clf.step(net.eval(), batch, None).loss, clean)
    # a model wrapped for data parallelism is refused with the flag to change
    with pytest.raises(RuntimeError, match="--adversarial 0"):
        clf.step(torch.nn.DataParallel(net.train()), batch, None)


def test_adversarial_on_raw_series_features_perturbs_the_inputs() -> None:
    model = {"hidden_size": 4, "project_input": False, "dropout": 0.0}
    clf = Classifier(model, {"device": "cpu"}, adversarial=0.1)
    batch = _adversarial_batch(clf, _signs(16, 0))
    out = clf.step(clf.model.train(), batch, None)
    clean = F.cross_entropy(clf.model(batch.x, batch.lengths), batch.y)
    assert out.loss > clean  # clean plus a perturbed loss
    out.loss.backward()
    assert all(p.grad is not None for p in clf.model.parameters())


def test_adversarial_option_checked_recorded_and_absent_in_old_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`adversarial` must be a number >= 0, got -0.1"):
        Classifier(TINY_API, adversarial=-0.1)
    with pytest.raises(ValueError, match="`adversarial` must be a number >= 0, got 'x'"):
        Classifier(TINY_API, adversarial="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`arch: lstm-fcn` has none"):
        Classifier({}, arch="lstm-fcn", adversarial=0.1)
    run = tmp_path / "run"
    clf = Classifier(TINY_API, {"epochs": 1, "device": "cpu", "progress": False}, adversarial=0.1)
    clf.fit(_signs(16, 0), _signs(8, 1), run_dir=run)
    config = json.loads((run / "config.json").read_text())
    assert config["classify"]["adversarial"] == 0.1
    assert Classifier.load(run).options["adversarial"] == 0.1
    del config["classify"]["adversarial"]  # a run from before the option: trained without it
    (run / "config.json").write_text(json.dumps(config))
    assert Classifier.load(run).options["adversarial"] == 0.0


def test_adversarial_flag_reaches_text_runs_and_is_refused_for_lstm_fcn(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv", n=12)
    run = tmp_path / "run"
    args = ["classify", "train", "--data", str(train_csv), "--run-dir", str(run), *TINY]
    assert main([*args, "--adversarial", "0.3", "--max-steps", "2"]) == 0
    assert json.loads((run / "config.json").read_text())["classify"]["adversarial"] == 0.3
    ts = str(data_dir / "BasicMotions" / "BasicMotions_TRAIN.ts")
    bad = ["classify", "train", "--data", ts, "--arch", "lstm-fcn", "--adversarial", "0.1"]
    assert main([*bad, "--run-dir", str(tmp_path / "r2"), "--max-steps", "1"]) == 1
    assert "`adversarial` perturbs the embedded inputs" in capsys.readouterr().err
    assert not (tmp_path / "r2" / "config.json").exists()


@pytest.mark.parametrize("adversarial", [0.0, 0.2])
def test_virtual_adversarial_step_adds_the_divergence_at_the_virtual_perturbation(
    adversarial: float,
) -> None:
    from rnnkit.train import (
        adversarial_perturbation,
        prediction_divergence,
        virtual_adversarial_perturbation,
    )

    model = {"hidden_size": 6, "embedding_dim": 5, "dropout": 0.0, "token_dropout": 0.0}
    clf = Classifier(
        model, {"device": "cpu"}, adversarial=adversarial, virtual_adversarial=0.3, subwords=50
    )
    batch = _adversarial_batch(clf, _text(20, 0))
    net = clf.model.train()
    torch.manual_seed(11)  # the random probe's draw
    out = clf.step(net, batch, None)
    torch.manual_seed(11)
    emb = net.embed(batch.x)

    def forward(e: torch.Tensor) -> torch.Tensor:
        return net.forward_embedded(e, batch.lengths)

    logits = forward(emb)
    clean = F.cross_entropy(logits, batch.y)
    want = clean
    if adversarial:
        r = adversarial_perturbation(clean, emb, batch.lengths, adversarial)
        want = want + F.cross_entropy(forward(emb + r), batch.y)
    r_v = virtual_adversarial_perturbation(forward, emb, logits, batch.lengths, 0.3)
    divergence = prediction_divergence(logits, forward(emb + r_v))
    torch.testing.assert_close(out.loss, want + divergence)
    assert divergence > 0 and out.metrics["clean_loss"] == pytest.approx(float(clean.detach()))
    torch.testing.assert_close(clf.step(net.eval(), batch, None).loss, clean)  # eval: clean
    out.loss.backward()  # the divergence trains the network and the embedding tables
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_virtual_adversarial_option_checked_recorded_and_absent_in_old_runs(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="`virtual_adversarial` must be a number >= 0, got -1"):
        Classifier(TINY_API, virtual_adversarial=-1)
    with pytest.raises(ValueError, match="`virtual_adversarial` perturbs .* `arch: lstm-fcn`"):
        Classifier({}, arch="lstm-fcn", virtual_adversarial=0.1)
    run = tmp_path / "run"
    train = {"epochs": 1, "device": "cpu", "progress": False}
    clf = Classifier(TINY_API, train, virtual_adversarial=0.1)
    clf.fit(_signs(16, 0), _signs(8, 1), run_dir=run)
    config = json.loads((run / "config.json").read_text())
    assert config["classify"]["virtual_adversarial"] == 0.1
    assert Classifier.load(run).options["virtual_adversarial"] == 0.1
    del config["classify"]["virtual_adversarial"]  # a run from before the option
    (run / "config.json").write_text(json.dumps(config))
    assert Classifier.load(run).options["virtual_adversarial"] == 0.0


def test_virtual_adversarial_and_ema_flags_reach_the_run(data_dir: Path, tmp_path: Path) -> None:
    train_csv = _rt_slice(data_dir, tmp_path / "train.csv", n=12)
    run = tmp_path / "run"
    args = ["classify", "train", "--data", str(train_csv), "--run-dir", str(run), *TINY]
    flags = ["--virtual-adversarial", "0.2", "--ema", "0.9", "--max-steps", "2"]
    assert main([*args, *flags]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["classify"]["virtual_adversarial"] == 0.2
    assert config["train"]["ema"] == 0.9
