"""The run directory: config.json format 2 and the format-1 migration, the writer lock (live,
stale, re-entrant, released at exit), the fresh-run check, orphan clean-up, config_diff."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from rnnkit.train import (
    CheckpointError,
    RunLock,
    RunLockedError,
    check_fresh,
    clean_orphans,
    config_diff,
    read_run_config,
    write_run_config,
)
from rnnkit.train.checkpoint import atomic_write_json


def test_write_and_read_format_2(tmp_path):
    write_run_config(tmp_path / "r", "lm", {"model": {"hidden_size": 8}, "train": {"lr": 1.0}})
    raw = json.loads((tmp_path / "r" / "config.json").read_text())
    assert raw == {"format": 2, "task": "lm", "model": {"hidden_size": 8}, "train": {"lr": 1.0}}
    assert read_run_config(tmp_path / "r") == raw
    with pytest.raises(ValueError, match="reserved keys"):
        write_run_config(tmp_path, "lm", {"task": {}})


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        (  # what tasks/translate.py wrote: the options under "task"
            {"task_name": "translate", "task": {"batch_size": 4}, "model": {}, "train": {}},
            {"format": 1, "task": "translate", "translate": {"batch_size": 4}},
        ),
        (  # tasks/lm.py
            {"task": "lm", "model": {"hidden_size": 8}, "data": {}, "train": {}},
            {"format": 1, "task": "lm", "model": {"hidden_size": 8}},
        ),
        (  # tasks/forecaster.py
            {"task": "forecast", "forecast": {"horizon": 3}, "train": {}},
            {"format": 1, "task": "forecast", "forecast": {"horizon": 3}},
        ),
        ({"task": "classify", "model": {}, "options": {}}, {"format": 1, "task": "classify"}),
    ],
)
def test_format_1_configs_are_migrated(tmp_path, old, expected):
    atomic_write_json(tmp_path / "config.json", old)
    got = read_run_config(tmp_path)
    assert {k: got[k] for k in expected} == expected
    assert all(k in got for k in old if k != "task")  # the other sections are kept


def test_missing_unreadable_or_newer_config_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="config.json: file not found"):
        read_run_config(tmp_path)
    (tmp_path / "config.json").write_text('{"task": "lm", "mod')
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        read_run_config(tmp_path)
    atomic_write_json(tmp_path / "config.json", {"format": 9, "task": "lm"})
    with pytest.raises(CheckpointError, match="unknown run format 9"):
        read_run_config(tmp_path)


def test_config_diff_names_the_fields():
    saved = {"format": 1, "task": "lm", "model": {"hidden_size": 8, "cell": "lstm"}, "train": {}}
    new = {
        "format": 2,
        "task": "lm",
        "model": {"hidden_size": 16, "cell": "lstm", "layers": 2},
        "data": {"path": "x"},
        "train": {"lr": 3.0},
    }
    assert config_diff(saved, new) == ["data", "model.hidden_size", "model.layers"]
    assert config_diff(saved, new, ignore=()) == [
        "data",
        "model.hidden_size",
        "model.layers",
        "train.lr",
    ]
    assert config_diff({"a": {"b": (1, 2)}}, {"a": {"b": [1, 2]}}) == []  # JSON round trip


def test_check_fresh_uses_the_cli_spelling(tmp_path):
    check_fresh(tmp_path)  # empty: fine
    (tmp_path / "best").mkdir()
    with pytest.raises(FileExistsError, match=r"holds a run \(best/\); pass `--resume true`"):
        check_fresh(tmp_path)


def test_clean_orphans_removes_temporaries_only(tmp_path):
    (tmp_path / ".last.tmp-0123abcd").mkdir()
    (tmp_path / ".last.tmp-0123abcd" / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".config.json.tmp-89abcdef").write_text("{")
    (tmp_path / "last").mkdir()
    (tmp_path / ".hidden").write_text("keep")
    removed = clean_orphans(tmp_path)
    assert sorted(p.name for p in removed) == [".config.json.tmp-89abcdef", ".last.tmp-0123abcd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "last"]


def write_lock(run_dir, pid, host=None):
    run_dir.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "host": host or socket.gethostname(), "started": "2026-11-30T06:10:03"}
    (run_dir / "run.lock").write_text(json.dumps(holder))


def test_a_live_holder_is_refused_with_one_line(tmp_path):
    write_lock(tmp_path, os.getppid())  # a live process that is not this one
    with pytest.raises(RunLockedError) as e:
        RunLock(tmp_path).acquire()
    msg = str(e.value)
    assert msg == (
        f"{tmp_path} is in use by process {os.getppid()} on host {socket.gethostname()} "
        "since 2026-11-30 06:10:03 (run.lock); wait for it or choose another --run-dir"
    )
    assert isinstance(e.value, FileExistsError)
    write_lock(tmp_path, 1, host="elsewhere")  # another host: cannot tell, so refused
    with pytest.raises(RunLockedError, match="on host elsewhere"):
        RunLock(tmp_path).acquire()


def test_a_stale_lock_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(tmp_path, dead.pid)
    with RunLock(tmp_path) as lock:
        assert lock.held
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text
    assert not (tmp_path / "run.lock").exists()


def test_reentrant_in_one_process(tmp_path):
    outer, inner = RunLock(tmp_path), RunLock(tmp_path)
    outer.acquire()
    inner.acquire()  # a second object, same process: counted, not refused
    inner.release()
    assert (tmp_path / "run.lock").exists()  # still held by the outer acquisition
    outer.release()
    assert not (tmp_path / "run.lock").exists()


def test_released_at_normal_exit(tmp_path):
    code = f"from rnnkit.train import RunLock; RunLock({str(tmp_path)!r}).acquire(); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
    assert not (tmp_path / "run.lock").exists()
