"""Atomic writes under a simulated crash, crash-between-renames fallback, truncated and
foreign files, tied weights, loading never runs code."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from torch import nn

import rnnkit.train.checkpoint as ck
from rnnkit.train import CheckpointError, StepOutput, TrainConfig, Trainer, load_checkpoint


def files(step: int, value: float) -> dict[str, bytes]:
    meta = {"format": ck.FORMAT, "kind": "last", "step": step}
    return {
        "model.safetensors": ck.tensor_bytes({"w": torch.full((3,), value)}),
        "trainer.json": json.dumps(meta).encode(),
    }


def crash_after(monkeypatch, n: int) -> None:
    """Make the n-th file write die half-way (as a full disk or a kill would)."""
    real, calls = ck._write_file, {"n": 0}

    def dying(path, data):
        calls["n"] += 1
        if calls["n"] == n:
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError("simulated crash mid-write")
        real(path, data)

    monkeypatch.setattr(ck, "_write_file", dying)


@pytest.mark.parametrize("nth", [1, 2])
def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch, nth):
    ck.write_checkpoint_dir(tmp_path / "last", files(1, 1.0))
    crash_after(monkeypatch, nth)
    with pytest.raises(OSError, match="simulated"):
        ck.write_checkpoint_dir(tmp_path / "last", files(2, 2.0))
    sd, meta = load_checkpoint(tmp_path, "last")
    assert meta["step"] == 1 and torch.equal(sd["w"], torch.full((3,), 1.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # temp dir cleaned up


def test_atomic_write_crash_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    ck.atomic_write_json(path, {"a": 1})
    crash_after(monkeypatch, 1)
    with pytest.raises(OSError):
        ck.atomic_write_json(path, {"a": 2})
    assert ck.read_json(path) == {"a": 1} and len(list(tmp_path.iterdir())) == 1


def test_crash_between_the_two_renames_falls_back_to_old(tmp_path):
    ck.write_checkpoint_dir(tmp_path / "last", files(1, 1.0))
    os.replace(tmp_path / "last", tmp_path / "last.old")  # as if killed right after
    _, meta = load_checkpoint(tmp_path, "last")
    assert meta["step"] == 1
    ck.write_checkpoint_dir(tmp_path / "last", files(2, 2.0))  # the next save heals it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    assert load_checkpoint(tmp_path, "last")[1]["step"] == 2


def test_trainer_checkpoint_survives_crash_in_later_save(tmp_path, monkeypatch):
    model = nn.Linear(2, 1)
    data = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(4)]

    def step(m, b, s):
        return StepOutput(nn.functional.mse_loss(m(b[0]), b[1]), 4)

    t = Trainer(
        model, TrainConfig(epochs=1, checkpoint_every=2, progress=False), step, run_dir=tmp_path
    )
    real, calls = ck.write_checkpoint_dir, {"n": 0}

    def second_fails(final, fs):
        calls["n"] += 1
        if calls["n"] == 2:
            crash_after(monkeypatch, 2)
        return real(final, fs)

    monkeypatch.setattr(ck, "write_checkpoint_dir", second_fails)
    with pytest.raises(OSError, match="simulated"):
        t.fit(data)
    sd, meta = load_checkpoint(tmp_path, "last")
    assert meta["step"] == 2
    nn.Linear(2, 1).load_state_dict(sd)


def test_truncated_and_foreign_files_name_the_file(tmp_path):
    ck.write_checkpoint_dir(tmp_path / "last", files(1, 1.0))
    model = tmp_path / "last" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path, "last")
    model.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path, "last")
    meta = tmp_path / "last" / "trainer.json"
    meta.write_text('{"step": 3')
    with pytest.raises(CheckpointError, match="trainer.json.*JSON"):
        load_checkpoint(tmp_path, "last")
    meta.write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not an rnnkit checkpoint"):
        load_checkpoint(tmp_path, "last")
    with pytest.raises(CheckpointError, match="run directory not found"):
        load_checkpoint(tmp_path / "nope", "best")


class _Boom:
    def __reduce__(self):
        return (open, (str(_Boom.target), "w"))  # would create a file if unpickled


def test_loading_never_executes_code(tmp_path):
    _Boom.target = tmp_path / "pwned"
    path = tmp_path / "optimizer.pt"
    path.write_bytes(pickle.dumps({"optimizer": _Boom()}, protocol=2))
    with pytest.raises(CheckpointError, match="optimizer.pt"):
        ck._load_torch(path)
    assert not _Boom.target.exists()


def test_tied_weights_saved_once_and_restored(tmp_path):
    emb = nn.Embedding(5, 3)
    head = nn.Linear(3, 5, bias=False)
    head.weight = emb.weight  # tied
    model = nn.ModuleDict({"emb": emb, "head": head})
    sd = model.state_dict()
    ck.save_tensors(tmp_path / "m.safetensors", {**sd, "slice": sd["emb.weight"][1:3]})
    back, meta = ck.load_tensors(tmp_path / "m.safetensors")
    assert "rnnkit.aliases" in meta
    assert torch.equal(back["head.weight"], sd["emb.weight"])
    assert torch.equal(back["slice"], sd["emb.weight"][1:3])
    fresh = nn.ModuleDict({"emb": nn.Embedding(5, 3), "head": nn.Linear(3, 5, bias=False)})
    fresh.head.weight = fresh.emb.weight
    fresh.load_state_dict({k: v for k, v in back.items() if k != "slice"})
    assert torch.equal(fresh.head.weight, emb.weight)


def test_rng_state_roundtrip():
    import random

    import numpy as np

    js, tens = ck.get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
    ck.set_rng_state(js, tens)
    b = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
