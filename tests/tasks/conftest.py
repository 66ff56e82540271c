"""What the task tests share: a real SIGTERM in the middle of `rnnkit <task> train`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.cli.main import main


def _sigterm_then_resume(args: list[str], run: Path) -> int:
    """Run ``rnnkit *args`` in a subprocess, SIGTERM it once training has begun, check that
    it exits 143 with a resume hint and a readable ``last/``, then resume it in-process for
    two more steps. ``args`` must include ``--run-dir run``. Returns the interrupted step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", *args, "--max-steps", "1000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (run / "metrics.csv").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "--resume true" in err
    assert (run / "last" / "model.safetensors").is_file()
    step = json.loads((run / "last" / "trainer.json").read_text())["step"]
    assert step > 0 and not (run / "run.lock").exists()
    assert main([*args, "--max-steps", str(step + 2), "--resume", "true"]) == 0
    assert json.loads((run / "last" / "trainer.json").read_text())["step"] == step + 2
    return step


@pytest.fixture
def sigterm_then_resume() -> Callable[[list[str], Path], int]:
    """See :func:`_sigterm_then_resume`."""
    return _sigterm_then_resume
