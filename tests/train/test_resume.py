"""A run killed with SIGKILL and resumed ends bitwise identical to an uninterrupted run."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.train import load_checkpoint
from rnnkit.train.checkpoint import load_full_checkpoint, resolve_checkpoint
from rnnkit.train.metrics_log import read_metrics_csv

SCRIPT = Path(__file__).with_name("_resume_script.py")
VOLATILE = ("time", "items_per_s")  # wall-clock figures differ between runs


def run(run_dir: Path, mode: str, *extra: str) -> int:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(run_dir), mode, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.returncode


def reference(run_dir: Path) -> None:
    """The uninterrupted run, in this process (same code as the subprocesses)."""
    spec = importlib.util.spec_from_file_location("_resume_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(run_dir), "full"])


def assert_same_run(a: Path, b: Path) -> None:
    fa, fb = (load_full_checkpoint(resolve_checkpoint(d, "last")) for d in (a, b))
    assert fa["meta"]["step"] == fb["meta"]["step"] == 12
    for key in fa["model"]:
        assert torch.equal(fa["model"][key], fb["model"][key]), key  # bitwise
    sa, sb = fa["optim"]["optimizer"]["state"], fb["optim"]["optimizer"]["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(sa[i][k], sb[i][k]), (i, k)
    best_a, _ = load_checkpoint(a, "best")
    best_b, _ = load_checkpoint(b, "best")
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    rows_a, rows_b = (
        [
            {k: v for k, v in r.items() if k not in VOLATILE}
            for r in read_metrics_csv(d / "metrics.csv")
        ]
        for d in (a, b)
    )
    assert rows_a == rows_b  # no duplicated or missing rows, same figures


@pytest.mark.slow
def test_sigkill_twice_then_resume_is_bitwise_identical(tmp_path):
    d = tmp_path / "run"
    # 1) killed in the middle of writing a file (the 9th write lands inside a checkpoint)
    assert run(d, "full", "--kill-write", "9") == -signal.SIGKILL
    assert list(d.glob(".*.tmp-*"))  # the half-written checkpoint was left behind ...
    _, meta = load_checkpoint(d, "last")
    first = meta["step"]
    # 2) resumed, then killed between checkpoints (work after the last one is lost)
    assert run(d, "resume", "--kill-step", "4") == -signal.SIGKILL
    _, meta = load_checkpoint(d, "last")
    assert first < meta["step"] < 12
    # 3) resumed to the end
    assert run(d, "resume") == 0
    reference(tmp_path / "full")
    assert_same_run(tmp_path / "full", d)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_step_reached_and_resume_is_bitwise_identical(tmp_path, sig):
    d = tmp_path / "run"
    ready = tmp_path / "run.ready"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(d), "full", "--signal-step", "5"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), proc.communicate()[1]
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 3, err[-3000:]
    assert f"interrupted by {sig.name} at step 5; checkpoint saved in {d / 'last'}" in err
    assert "`--resume true`" in err
    _, meta = load_checkpoint(d, "last")
    assert meta["step"] == 5  # the step reached when the signal came, not an older one
    assert not (d / "run.lock").exists()  # the lock was released on the way out
    assert run(d, "resume") == 0
    reference(tmp_path / "full")
    assert_same_run(tmp_path / "full", d)
