"""Forecasters on onnxruntime and NumPy: the same forecasts as torch, on tiny airline runs.

Every mode (many_to_one, direct, autoregressive, seq2seq), point and Gaussian outputs (the
sampled intervals of the autoregressive mode included), the instance normalisations and
the cells a forecasting run can have: ForecastNet's own code drives every backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.series_examples import load_example
from rnnkit.tasks.backends import runtime
from rnnkit.tasks.forecast import predict
from rnnkit.tasks.forecaster import Forecaster

TOL = 1e-5
NUMPY_CELLS = {"lstm", "gru", "rnn", "rnn_relu", "lstm_ln", "gru_ln"}

CASES = [  # (mode, gaussian, norm, cell, num_layers)
    ("direct", False, "revin", "lstm", 1),  # the default preset's network
    ("direct", True, "none", "gru", 2),
    ("many_to_one", True, "last", "lstm", 1),
    ("autoregressive", True, "revin", "lstm", 2),  # sampled intervals
    ("autoregressive", False, "mean", "rnn", 1),
    ("seq2seq", True, "revin", "gru", 1),
    ("seq2seq", False, "none", "lstm_ln", 1),
    ("direct", False, "revin", "gru_ln", 1),
]


def _fit(run: Path, mode: str, gaussian: bool, norm: str, cell: str, layers: int) -> Forecaster:
    series = load_example("airline").slice(0, 110)
    fc = Forecaster(
        input_len=12, horizon=3, mode=mode, gaussian=gaussian, norm=norm, cell=cell,
        hidden_size=6, num_layers=layers, samples=20, val=0.0,
        train={"max_steps": 3, "lr": 1e-2, "eval_every": None},
    )  # fmt: skip
    fc.fit(series, run_dir=run, extra={"source": {"dataset": "airline"}})
    return fc


@pytest.mark.parametrize(("mode", "gaussian", "norm", "cell", "layers"), CASES)
def test_forecasts_match_torch(
    tmp_path: Path, mode: str, gaussian: bool, norm: str, cell: str, layers: int
) -> None:
    run = tmp_path / "run"
    _fit(run, mode, gaussian, norm, cell, layers)
    series = load_example("airline").slice(0, 130)
    origins = np.array([12, 60, 97, 127])
    torch_fc = Forecaster.load(run)
    ref = torch_fc.forecast_origins(series, origins)
    x = torch.randn(12, 5, 1)  # scaled rows: the network itself, not only the forecasts
    with torch.no_grad():
        net_ref = torch_fc.model(x)
    backends = ["onnx"] + (["numpy"] if cell in NUMPY_CELLS else [])
    for backend in backends:
        fc = runtime(Forecaster.load(run), backend)
        assert type(fc.model).__name__ == "ForecastAdapter"
        with torch.no_grad():
            out = fc.model(x)
        assert float((out.mean - net_ref.mean).abs().max()) < TOL
        if gaussian:
            assert float((out.scale - net_ref.scale).abs().max()) < TOL
        got = fc.forecast_origins(series, origins)
        for a, b in zip(got, ref, strict=True):
            if b is None:
                assert a is None
                continue
            # data units (hundreds of passengers): float32 rounding scales with them
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)


def test_predict_verb_on_every_backend(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fit(run, "direct", False, "revin", "lstm", 1)
    tables = {
        b: predict(run=str(run), out=str(tmp_path / f"{b}.csv"), backend=b)
        for b in ("torch", "onnx", "numpy")
    }
    assert (run / "export" / "onnx" / "encoder_rnn.onnx").is_file()
    assert (run / "export" / "numpy" / "weights.npz").is_file()
    frames = {b: np.loadtxt(tmp_path / f"{b}.csv", delimiter=",", skiprows=1, usecols=1)
              for b in tables}  # fmt: skip
    np.testing.assert_allclose(frames["onnx"], frames["torch"], rtol=1e-5)
    np.testing.assert_allclose(frames["numpy"], frames["torch"], rtol=1e-5)
    with pytest.raises(ValueError, match="`backend` must be one of"):
        predict(run=str(run), backend="tvm")
    cli = ["forecast", "predict", "--run", str(run), "--out", str(tmp_path / "cli.csv")]
    assert main([*cli, "--backend", "numpy"]) == 0
    cli_rows = np.loadtxt(tmp_path / "cli.csv", delimiter=",", skiprows=1, usecols=1)
    np.testing.assert_allclose(cli_rows, frames["torch"], rtol=1e-5)
