"""The forecasting task on the one run life cycle: run directory, resume, lock, budgets,
device, old layouts, predict on new data, defaults from the preset."""

from __future__ import annotations

import dataclasses
import inspect
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.series import from_array
from rnnkit.data.series_examples import load_example
from rnnkit.tasks.flags import LAYER_FLAGS, RUN_FLAGS
from rnnkit.tasks.forecast import predict, train
from rnnkit.tasks.forecast_config import ForecastConfig, preset_sections
from rnnkit.tasks.forecaster import Forecaster

ROOT = Path(__file__).resolve().parents[2]
# a tiny run on the generated sine wave (1,000 rows): seconds on one core
SMALL = {"dataset": "sine", "input_len": 8, "horizon": 2, "hidden_size": 4, "batch_size": 64}


def _train(run: Path, **kw):
    return train(**{**SMALL, "epochs": 1, "run_dir": str(run), **kw})


def test_a_run_is_one_config_and_one_copy_of_the_weights(tmp_path):
    run = tmp_path / "run"
    result = _train(run, max_steps=3)
    config = json.loads((run / "config.json").read_text())
    assert (config["format"], config["task"]) == (2, "forecast")
    assert config["model"]["rnn"]["hidden_size"] == 4 and config["model"]["horizon"] == 2
    assert config["forecast"]["input_len"] == 8 and config["data"]["source"]["dataset"] == "sine"
    assert json.loads((run / "forecast.json").read_text())["format"] == "rnnkit.forecast/2"
    assert (run / "best" / "model.safetensors").is_file()
    assert not (run / "forecaster.safetensors").exists()  # the weights live in best/ only
    assert result["step"] == 3 and result["stopped"] == "max_steps"
    back = Forecaster.load(run)
    assert back.config == Forecaster.load(run).config and back.data["period"] == 50


def test_max_time_stops_training(tmp_path):
    result = _train(tmp_path / "run", epochs=10_000, max_time=0.5)
    assert result["stopped"] == "max_time"


def test_resume_with_changed_flags_is_refused_naming_them(tmp_path):
    run = tmp_path / "run"
    _train(run, max_steps=2)
    with pytest.raises(FileExistsError, match="--resume true"):
        _train(run, max_steps=2)
    with pytest.raises(ValueError, match=r"model\.rnn\.hidden_size") as err:
        _train(run, max_steps=4, resume=True, hidden_size=6)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"data\.source"):
        _train(run, max_steps=4, resume=True, dataset="airline")
    assert _train(run, max_steps=4, resume=True)["step"] == 4  # same flags: it continues


def test_a_second_writer_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": "now", "argv": []}
        (run / "run.lock").write_text(json.dumps(lock))
        with pytest.raises(FileExistsError, match=f"in use by process {holder.pid}"):
            _train(run, max_steps=2)
        assert not (run / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_cuda_without_cuda_leaves_no_run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="cuda"):
        _train(run, device="cuda", max_steps=2)
    assert not run.exists()


def test_weights_that_do_not_fit_config_json_are_a_clear_error(tmp_path):
    run = tmp_path / "run"
    _train(run, max_steps=2)
    config = json.loads((run / "config.json").read_text())
    config["model"]["rnn"]["hidden_size"] = 5
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match the network"):
        Forecaster.load(run)


def test_predict_reads_a_new_csv_for_a_run_trained_on_a_dataset(tmp_path):
    run = tmp_path / "run"
    train(dataset="airline", input_len=12, horizon=3, hidden_size=4, max_steps=2,
          run_dir=str(run))  # fmt: skip
    series = load_example("airline").slice(0, 100)
    csv = tmp_path / "newer.csv"
    frame = pd.DataFrame(
        {"Month": series.index.strftime("%Y-%m"), "Passengers": series.target[:, 0]}
    )
    frame.to_csv(csv, index=False)
    text = predict(run=str(run), csv=str(csv), out=str(tmp_path / "p.csv"))
    assert "1957-05-01" in text  # the 3 months after row 99 (1957-04)
    assert len(pd.read_csv(tmp_path / "p.csv")) == 3


def _write_legacy(fc, directory, extra=None, net_without=()):
    """A directory as the previous layout's ``Forecaster.save`` wrote it (git history:
    src/rnnkit/tasks/forecaster.py before the run life cycle): forecast.json format 1 with
    flat configs, and forecaster.safetensors."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in fc.net.state_dict().items()},
              directory / "forecaster.safetensors")  # fmt: skip
    net = fc.net.config
    flat_net = {f.name: getattr(net, f.name) for f in dataclasses.fields(net) if f.name != "rnn"}
    flat_net.update(
        {k: getattr(net.rnn, k) for k in ("cell", "hidden_size", "num_layers", "dropout")}
    )
    keys = ("horizon", "mode", "cell", "hidden_size", "num_layers", "dropout", "gaussian", "norm")
    task = {**fc.config.task_dict(), **{k: flat_net[k] for k in keys}}
    for key in net_without:
        del flat_net[key], task[key]
    meta = {
        "format": "rnnkit.forecast/1",
        "forecast": task,
        "net": flat_net,
        "train": fc.train_config.to_dict(),
        "columns": {k: list(v) for k, v in fc.scaling.columns.items()},
        "target_scaler": fc.target_scaler.to_dict(),
        "cov_scaler": fc.cov_scaler.to_dict(),
        **(extra or {}),
    }
    (directory / "forecast.json").write_text(json.dumps(meta))
    return meta


def test_runs_saved_before_norm_existed_load_without_it(tmp_path):
    series = from_array(np.sin(np.arange(80) / 3.0))
    fc = Forecaster(input_len=8, horizon=2, norm="none", val=0.0, train={"epochs": 1},
                    hidden_size=8, batch_size=16)  # fmt: skip
    fc.fit(series)
    _write_legacy(fc, tmp_path, net_without=("norm",))  # as written before `norm` existed
    back = Forecaster.load(tmp_path)
    assert back.config.norm == back.net.config.norm == "none"
    np.testing.assert_allclose(back.predict(series).mean, fc.predict(series).mean)


def test_an_old_cli_run_still_loads_and_predicts(tmp_path):
    fc = Forecaster(input_len=8, horizon=2, hidden_size=4, val=0.0, train={"max_steps": 2})
    series = load_example("sine")
    fc.fit(series.slice(0, 900))
    run = tmp_path / "old"
    source = {"csv": None, "dataset": "sine", "file": None, "spec": {"target": None}}
    _write_legacy(fc, run, {"source": source, "period": 50, "test_start": 900})
    old_config = {"task": "forecast", "forecast": {"input_len": 8}, "train": {}}
    (run / "config.json").write_text(json.dumps(old_config))  # format 1: no "format" key
    back = Forecaster.load(run)
    np.testing.assert_allclose(back.predict(series).mean, fc.predict(series).mean)
    assert "wrote" in predict(run=str(run), out=str(tmp_path / "f.csv"))


def test_an_old_cli_run_resumes(tmp_path):
    """A run of the previous layout (config.json format 1 with the flat task config,
    forecast.json format 1 with the network's config) continues with ``--resume true``."""
    run = tmp_path / "run"
    _train(run, max_steps=2)
    fc = Forecaster.load(run)
    meta = _write_legacy(fc, run, {k: fc.data[k] for k in ("source", "period", "test_start")})
    train_section = json.loads((run / "config.json").read_text())["train"]
    old_config = {"task": "forecast", "forecast": meta["forecast"], "train": train_section}
    (run / "config.json").write_text(json.dumps(old_config))  # format 1: no "format" key
    result = _train(run, resume=True, max_steps=3)
    assert result["step"] == 3  # resumed, not refused
    assert json.loads((run / "config.json").read_text())["format"] == 2
    with pytest.raises(ValueError, match=r"model\.rnn\.hidden_size"):  # still checked
        _train(run, resume=True, max_steps=4, hidden_size=6)


def test_defaults_live_in_the_preset():
    preset = preset_sections("default")
    cfg = ForecastConfig.from_dict({})
    assert cfg.horizon == preset["model"]["horizon"] == Forecaster().config.horizon
    assert cfg.input_len == preset["forecast"]["input_len"]
    assert cfg.norm == preset["model"]["norm"] and cfg.model.rnn.cell == preset["model"]["cell"]
    params = inspect.signature(train).parameters
    assert all(params[k].default is None for k in ("horizon", "input_len", "epochs", "norm"))
    assert {k: params[k].default for k in RUN_FLAGS} == {k: v for k, (v, _) in RUN_FLAGS.items()}
    assert all(params[k].default is None for k in LAYER_FLAGS)
    assert f"(default preset: {preset['model']['horizon']})" in train.__doc__  # --help


@pytest.mark.slow
def test_sigterm_mid_training_leaves_a_resumable_checkpoint(tmp_path, sigterm_then_resume):
    run = tmp_path / "run"
    args = ["forecast", "train", "--dataset", "sine", "--input-len", "8", "--horizon", "2",
            "--hidden-size", "4", "--batch-size", "8", "--epochs", "1000",
            "--run-dir", str(run)]  # fmt: skip
    sigterm_then_resume(args, run)


def test_best_weights_are_chosen_by_validation_mae(tmp_path):
    run = tmp_path / "run"
    result = _train(run, max_steps=30)
    best = json.loads((run / "best" / "trainer.json").read_text())
    assert best["monitor"] == "val_mae_scaled" and "val_mae_scaled" in result
    assert best["best_value"] == pytest.approx(min(
        float(r["val_mae_scaled"]) for r in pd.read_csv(run / "metrics.csv").to_dict("records")
        if r.get("val_mae_scaled") == r.get("val_mae_scaled")  # not NaN
    ))  # fmt: skip


def test_fit_without_a_run_dir_keeps_the_best_weights_too(tmp_path):
    """In memory (no run directory, no temporary one) the same weights as on disk."""
    series = load_example("sine").slice(0, 300)
    kw = {"input_len": 8, "horizon": 2, "hidden_size": 4, "batch_size": 16,
          "train": {"max_steps": 40, "lr": 1.0, "eval_every": 2}}  # fmt: skip
    in_memory, on_disk = Forecaster(**kw), Forecaster(**kw)
    result = in_memory.fit(series)
    assert on_disk.fit(series, run_dir=tmp_path / "run")["best_step"] == result["best_step"]
    assert result["best_step"] < result["step"]  # the best is not the last: restored
    assert in_memory.run_dir is None and sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    np.testing.assert_array_equal(in_memory.predict(series).mean, on_disk.predict(series).mean)


def test_a_series_too_short_for_validation_says_so_and_keeps_the_last(caplog):
    series = from_array(np.sin(np.arange(40) / 3.0))  # val 0.1: 4 rows < horizon 6
    fc = Forecaster(input_len=8, horizon=6, hidden_size=4, train={"max_steps": 2})
    with caplog.at_level("WARNING", logger="rnnkit.tasks.forecaster"):
        result = fc.fit(series)
    assert "no validation split, so the last weights are kept" in caplog.text
    assert "val_mae_scaled" not in result and result["step"] == 2


# ---------------------------------------------------------------- issue #14: data files


def _hourly_csv(path: Path, n: int = 120, encoding: str = "utf-8", site: str = "Zürich") -> Path:
    times = pd.date_range("2022-01-01", periods=n, freq="h")
    y = 20 + 5 * np.sin(2 * np.pi * np.arange(n) / 24)
    frame = pd.DataFrame({"date": times.strftime("%Y-%m-%d %H:%M"), "site": site, "OT": y})
    frame.to_csv(path, index=False, encoding=encoding)
    return path


CSV_RUN = {"time_col": "date", "target": "OT", "input_len": 8, "horizon": 2, "hidden_size": 4,
           "epochs": 1, "max_steps": 1, "test": 0.1}  # fmt: skip


def test_predict_and_backtest_warn_when_the_training_csv_changed(tmp_path, caplog):
    from rnnkit.tasks.forecast import backtest

    csv = _hourly_csv(tmp_path / "load.csv")
    run = tmp_path / "run"
    train(csv=str(csv), run_dir=str(run), **CSV_RUN)
    digests = json.loads((run / "config.json").read_text())["data"]["digests"]
    assert set(digests) == {"train"}
    with caplog.at_level("WARNING"):
        predict(run=str(run), out=str(tmp_path / "p.csv"))
    assert "changed" not in caplog.text  # unchanged: nothing to say
    _hourly_csv(csv, n=130)
    caplog.clear()
    with caplog.at_level("WARNING"):
        predict(run=str(run), out=str(tmp_path / "p.csv"))
    assert "train data file" in caplog.text and str(csv) in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        backtest(run=str(run), start="0.9", plot=str(tmp_path / "bt.png"))
    assert "train data file" in caplog.text and "has changed" in caplog.text
    caplog.clear()
    newer = _hourly_csv(tmp_path / "newer.csv", n=100)  # another file: nothing to compare
    with caplog.at_level("WARNING"):
        predict(run=str(run), csv=str(newer), out=str(tmp_path / "p.csv"))
    assert "changed" not in caplog.text
    # a run from before checksums: no warning, no error
    config = json.loads((run / "config.json").read_text())
    del config["data"]["digests"]
    (run / "config.json").write_text(json.dumps(config))
    with caplog.at_level("WARNING"):
        predict(run=str(run), out=str(tmp_path / "p.csv"))
    assert "changed" not in caplog.text


def test_a_generated_series_has_no_file_to_check(tmp_path):
    run = tmp_path / "run"
    _train(run, max_steps=1)
    assert json.loads((run / "config.json").read_text())["data"]["digests"] == {}
    assert "wrote" in predict(run=str(run), out=str(tmp_path / "p.csv"))  # no file, no check


def test_encoding_reads_a_latin1_csv_and_decode_errors_name_the_file(tmp_path):
    csv = _hourly_csv(tmp_path / "latin1.csv", encoding="latin-1")
    with pytest.raises(ValueError, match=r"latin1\.csv.*utf-8"):
        train(csv=str(csv), run_dir=str(tmp_path / "r0"), **CSV_RUN)
    run = tmp_path / "run"
    train(csv=str(csv), run_dir=str(run), encoding="latin-1", **CSV_RUN)
    assert json.loads((run / "config.json").read_text())["data"]["source"]["encoding"] == "latin-1"
    predict(run=str(run), out=str(tmp_path / "p.csv"))  # the run's own encoding
    newer = _hourly_csv(tmp_path / "newer.csv", n=100, encoding="latin-1")
    predict(run=str(run), csv=str(newer), out=str(tmp_path / "p.csv"))  # the run's, again
    with pytest.raises(ValueError, match=r"newer\.csv"):
        predict(run=str(run), csv=str(newer), out=str(tmp_path / "p.csv"), encoding="utf-8")
    other = _hourly_csv(tmp_path / "cp.csv", n=100, encoding="utf-8")
    predict(run=str(run), csv=str(other), out=str(tmp_path / "p.csv"), encoding="utf-8")
