"""DDP on gloo: 2 ranks with batch 4 each == 1 process with batch 8; run dir written once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.train import load_checkpoint, read_run_config
from rnnkit.train.metrics_log import read_metrics_csv

SCRIPT = Path(__file__).with_name("_ddp_script.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run([sys.executable, str(SCRIPT), str(one)])
    run(
        [
            str(TORCHRUN),
            "--nnodes",
            "1",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            str(SCRIPT),
            str(two),
        ]
    )
    a, meta_a = load_checkpoint(one, "last")
    b, meta_b = load_checkpoint(two, "last")
    assert meta_a["step"] == meta_b["step"] == 8  # 32 samples / global batch 8, 2 epochs
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    rows_a, rows_b = read_metrics_csv(one / "metrics.csv"), read_metrics_csv(two / "metrics.csv")
    assert [(r["step"], r["split"]) for r in rows_a] == [(r["step"], r["split"]) for r in rows_b]
    for ra, rb in zip(rows_a, rows_b, strict=True):  # losses averaged over both ranks
        for key in ("train_loss", "val_loss", "val_acc", "grad_norm"):
            if key in ra:
                assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-6), key
    assert read_run_config(two)["train"]["epochs"] == 2
    assert sorted(p.name for p in two.iterdir()) == [
        "best",
        "config.json",
        "last",
        "loss.png",
        "metrics.csv",
    ]
    meta_two = __import__("json").loads((two / "last" / "trainer.json").read_text())
    assert meta_two["world"] == 2 and len(meta_two["ranks"]) == 2
